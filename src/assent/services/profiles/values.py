"""A profile's field values after a row, its stored row and what a row did to consent: what
ProfileBatch and the import's worker processes share, with no SQL (workers never load it)."""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NamedTuple, Protocol

import msgspec

from ...domain import ConsentEvent, ConsentStatus, EventType, ProfileState
from ...domain.profile import PROFILE_FIELDS
from ...domain.summary import NO_SUMMARY
from ...store.forms import DbTime
from ..imports.headers import IDENTIFIERS

BLANK: dict[str, Any] = {f: None for f in PROFILE_FIELDS} | {"properties": {}}
_encode_json = msgspec.json.Encoder().encode
_profile_values = itemgetter(*PROFILE_FIELDS)


class RowConsent(NamedTuple):
    events: list[ConsentEvent]
    state: ProfileState  # the state the events lead to
    subscribed: bool  # consent was granted on some channel
    pending: bool  # a double opt-in request was opened (pending is not consent)
    kept_opt_out: bool = False  # the profile's opt-out kept it from a subscription asked (a file import's)


def row_consent(events: list[ConsentEvent], state: ProfileState, kept_opt_out: bool = False) -> RowConsent:
    subscribed = any(e.type is EventType.CONSENT_CHANGED and e.status is ConsentStatus.SUBSCRIBED for e in events)
    pending = any(e.type is EventType.OPTIN_REQUESTED for e in events)
    return RowConsent(events, state, subscribed, pending, kept_opt_out)


class ProfileRow(Protocol):
    """What a batch needs of a row: where it sits, how it names its profile, the fields it sets."""

    @property
    def line(self) -> int: ...
    @property
    def id(self) -> str | None: ...  # a stored profile's id, when the row names one
    @property
    def email(self) -> str | None: ...
    @property
    def phone_number(self) -> str | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...  # profile fields, normalised
    @property
    def properties(self) -> dict[str, Any]: ...  # merged into the stored ones


def merged_values(values: dict[str, Any], row: ProfileRow) -> dict[str, Any]:
    """The profile's fields after the row: given values replace, absent ones leave fields alone."""
    new = dict(values)
    for f in IDENTIFIERS:
        if (v := getattr(row, f)) is not None:
            new[f] = v
    new.update(row.attributes)
    if row.properties:
        new["properties"] = {**values["properties"], **row.properties}
    return new


def profile_row(
    account_id: str,
    profile_id: str,
    values: dict[str, Any],
    created: DbTime,
    now: DbTime,
    import_digest: str | None = None,
    import_seq: int | str | None = None,
    summary: tuple[Any, ...] = NO_SUMMARY,
) -> tuple[Any, ...]:
    """The profile's row in forms.PROFILE_ROW order; `summary`: its consent summary's values
    (forms.take_summary), when the row is inserted with them; `import_seq`: forms.IMPORT_SEQ in a
    row worked out ahead, which the writer replaces."""
    properties = values["properties"]
    props = _encode_json(properties).decode() if properties else "{}"
    return (account_id, profile_id, *_profile_values(values), props, created, now, import_digest,
            import_seq, *summary)  # fmt: skip
