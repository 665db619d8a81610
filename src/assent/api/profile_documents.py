"""The profile resource as msgspec Structs: the very document resources.profile_resource builds as
dicts, key for key and byte for byte once encoded, made for a page of profiles at a fraction of the
cost. Struct fields are encoded in declaration order, which is the dicts' key order; a field left
UNSET is left out, as the dicts leave the key out. Blocks every profile without a consent on a
channel shares (all but the `can_receive_*` flag is fixed) are made once, and a page's profiles
whose states share their parts share one subscriptions block, encoded once (msgspec.Raw). A
property test holds the two builders equal on random profiles and states.

The Structs are not tracked by the garbage collector (gc=False): they never form a cycle, and a
page of 100 profiles makes well over a thousand of them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET, Raw, Struct, UnsetType, field
from msgspec.json import decode as _decode
from msgspec.json import encode as _encode

from ..domain import Channel, ChannelConsent, ProfileState, Purpose
from ..domain.decisions import receive_flags
from ..domain.state import NEVER_SUBSCRIBED
from ..services.profiles.views import ProfileRow, ProfileView

_NEVER = NEVER_SUBSCRIBED.status.value


# A UTC time's text, remembered: a profile's times are often one and the same. (Only UTC ones: an
# equal time in another zone would find the UTC text.)
_isoformat = functools.lru_cache(maxsize=4096)(datetime.isoformat)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return _isoformat(value) if value.tzinfo is UTC else value.isoformat()


def _method_detail(c: ChannelConsent) -> str | None:
    return c.method_detail if c.method is None or c.method_detail is not None else ""


class _Suppression(Struct, gc=False):
    reason: str
    timestamp: str | None


class _ListSuppression(Struct, gc=False):
    list_id: str
    reason: str
    timestamp: str | None


class _EmailMarketing(Struct, gc=False):
    can_receive_email_marketing: bool
    consent: str
    consent_timestamp: str | None
    last_updated: str | None
    method: str | None
    method_detail: str | None
    custom_method_detail: str | None
    double_optin: bool | None
    suppression: list[_Suppression]
    list_suppressions: list[_ListSuppression]


class _SmsMarketing(Struct, gc=False):
    can_receive_sms_marketing: bool
    consent: str
    consent_timestamp: str | None
    last_updated: str | None
    method: str | None
    method_detail: str | None


class _SmsTransactional(Struct, gc=False):
    can_receive_sms_transactional: bool
    consent: str
    consent_timestamp: str | None
    last_updated: str | None
    method: str | None
    method_detail: str | None


class _PushMarketing(Struct, gc=False):
    can_receive_push_marketing: bool
    consent: str
    consent_timestamp: str | None


class _WhatsApp(Struct, gc=False):
    consent: str
    can_receive: bool
    consent_timestamp: str | None
    last_updated: str | None
    created_timestamp: str | None
    metadata: None
    valid_until: None
    phone_number: str | None


class _EmailGroup(Struct, gc=False):
    marketing: _EmailMarketing


class _SmsGroup(Struct, gc=False):
    marketing: _SmsMarketing
    transactional: _SmsTransactional


class _PushGroup(Struct, gc=False):
    marketing: _PushMarketing


class _WhatsAppGroup(Struct, gc=False):
    marketing: _WhatsApp
    transactional: _WhatsApp
    conversational: _WhatsApp


class Subscriptions(Struct, gc=False):
    email: _EmailGroup
    sms: _SmsGroup
    mobile_push: _PushGroup
    whatsapp: _WhatsAppGroup


class _Location(Struct, gc=False):
    """ProfileView.location's dict as a Struct: the same keys in the same order (LOCATION's)."""

    address1: str | None
    address2: str | None
    city: str | None
    country: str | None
    latitude: str | None
    longitude: str | None
    region: str | None
    zip: str | None
    timezone: str | None
    ip: str | None


class _ProfileAttributes(Struct, gc=False):
    email: str | None
    phone_number: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    organization: str | None
    locale: str | None
    title: str | None
    image: str | None
    created: str | None
    updated: str | None
    last_event_date: str | None
    location: dict[str, Any] | _Location  # _Location: made straight from a page's rows
    properties: Any
    subscriptions: Subscriptions | Raw | UnsetType = UNSET  # Raw: a block shared by a page's profiles, encoded


class _RelationshipLinks(Struct, gc=False):
    self_: str = field(name="self")
    related: str


class _Relationship(Struct, gc=False):
    links: _RelationshipLinks


class _ProfileRelationships(Struct, gc=False):
    lists: _Relationship
    segments: _Relationship


class _SelfLink(Struct, gc=False):
    self_: str = field(name="self")


class ProfileResource(Struct, gc=False):
    type: str
    id: str
    attributes: _ProfileAttributes
    relationships: _ProfileRelationships
    links: _SelfLink


_EMAIL = (Channel.EMAIL, Purpose.MARKETING)
_SMS = (Channel.SMS, Purpose.MARKETING)
_SMS_T = (Channel.SMS, Purpose.TRANSACTIONAL)
_PUSH = (Channel.PUSH, Purpose.MARKETING)
_WHATSAPP = tuple((Channel.WHATSAPP, p) for p in (Purpose.MARKETING, Purpose.TRANSACTIONAL, Purpose.CONVERSATIONAL))
_BOTH = (False, True)


def _whatsapp(c: ChannelConsent, can: bool, phone_number: str | None, iso: Callable[..., str | None]) -> _WhatsApp:
    at = iso(c.consent_timestamp)
    subscribed = c.status.value == "SUBSCRIBED"
    return _WhatsApp(c.status.value, can, at, iso(c.last_updated), at, None, None, phone_number if subscribed else None)


# The blocks of a channel the profile has no consent record on: only the flags vary.
_SMS_NEVER = {
    (m, t): _SmsGroup(
        _SmsMarketing(m, _NEVER, None, None, None, None), _SmsTransactional(t, _NEVER, None, None, None, None)
    )
    for m in _BOTH
    for t in _BOTH
}
_PUSH_NEVER = {can: _PushGroup(_PushMarketing(can, _NEVER, None)) for can in _BOTH}
_WHATSAPP_NEVER = {can: _whatsapp(NEVER_SUBSCRIBED, can, None, _iso) for can in _BOTH}


Iso = Callable[[datetime | None], str | None]


def subscriptions(state: ProfileState, iso: Iso = _iso) -> Subscriptions:
    """resources.subscriptions(state) as Structs; `iso` writes a time (as _iso does)."""
    flags = receive_flags(state)
    consents = state.consents
    email = consents.get(_EMAIL, NEVER_SUBSCRIBED)
    email_marketing = _EmailMarketing(
        flags[_EMAIL], email.status.value, iso(email.consent_timestamp), iso(email.last_updated), email.method,
        _method_detail(email), email.custom_method_detail, email.double_optin,
        [_Suppression(r.value, iso(at)) for r, at in sorted(state.suppressions.items())] if state.suppressions else [],
        [_ListSuppression(list_id, ls.reason, iso(ls.timestamp))
         for list_id, ls in sorted(state.list_suppressions.items())] if state.list_suppressions else [],
    )  # fmt: skip
    if _SMS in consents or _SMS_T in consents:
        m, t = consents.get(_SMS, NEVER_SUBSCRIBED), consents.get(_SMS_T, NEVER_SUBSCRIBED)
        sms = _SmsGroup(
            _SmsMarketing(flags[_SMS], m.status.value, iso(m.consent_timestamp), iso(m.last_updated), m.method,
                          _method_detail(m)),
            _SmsTransactional(flags[_SMS_T], t.status.value, iso(t.consent_timestamp), iso(t.last_updated),
                              t.method, _method_detail(t)),
        )  # fmt: skip
    else:
        sms = _SMS_NEVER[(flags[_SMS], flags[_SMS_T])]
    push = consents.get(_PUSH)
    if push is None:
        push_group = _PUSH_NEVER[flags[_PUSH]]
    else:
        push_group = _PushGroup(_PushMarketing(flags[_PUSH], push.status.value, iso(push.consent_timestamp)))
    whatsapp = [
        _WHATSAPP_NEVER[flags[k]] if (c := consents.get(k)) is None else _whatsapp(c, flags[k], state.phone_number, iso)
        for k in _WHATSAPP
    ]
    return Subscriptions(_EmailGroup(email_marketing), sms, push_group, _WhatsAppGroup(*whatsapp))


def profile_resource(
    row: ProfileView, base: str, iso: Iso = _iso, made: Callable[[ProfileState], Subscriptions | Raw] | None = None
) -> ProfileResource:
    """resources.profile_resource(row, base) as Structs; `made` makes the subscriptions block."""
    subscribed: Subscriptions | Raw | UnsetType = UNSET
    if row.state is not None:
        subscribed = subscriptions(row.state, iso) if made is None else made(row.state)
    attributes = _ProfileAttributes(
        row.email, row.phone_number, row.external_id, row.first_name, row.last_name, row.organization, row.locale,
        row.title, row.image, iso(row.created_at), iso(row.updated_at), iso(row.last_event_at), row.location,
        row.properties, subscribed,
    )  # fmt: skip
    me = f"{base}/api/profiles/{row.id}/"
    relationships = _ProfileRelationships(
        _Relationship(_RelationshipLinks(f"{me}relationships/lists/", f"{me}lists/")),
        _Relationship(_RelationshipLinks(f"{me}relationships/segments/", f"{me}segments/")),
    )
    return ProfileResource("profile", row.id, attributes, relationships, _SelfLink(me))


_OWN = object()  # a block that shows the profile's phone number: made for each profile


def _page_makers(
    written: dict[datetime, str] | None = None,
) -> tuple[Iso, Callable[[ProfileState], Subscriptions | Raw]]:
    """A page's time writer and subscriptions-block maker (see profile_resources); `written`, when
    given, is where the writer keeps the texts it wrote (by time)."""

    if written is None:
        written = {}

    def iso(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = written.get(value)
        if text is None:
            text = written[value] = value.isoformat()
        return text

    blocks: dict[tuple[int, int, int, bool, bool, int], Any] = {}

    def made(state: ProfileState) -> Subscriptions | Raw:
        # Keys of ids are sound while the page's states live, which they do for this call.
        key = (
            id(state.consents), id(state.suppressions), id(state.list_suppressions),
            state.email is None, state.phone_number is None, state.push_tokens,
        )  # fmt: skip
        block = blocks.get(key)
        if block is None:
            fresh = subscriptions(state, iso)
            if any(k in state.consents for k in _WHATSAPP):
                blocks[key] = _OWN
                return fresh
            # Encoded once: the profiles sharing it copy its bytes instead of encoding it again.
            block = blocks[key] = Raw(_encode(fresh))
            return block
        return subscriptions(state, iso) if block is _OWN else block

    return iso, made


def profile_resources(rows: list[ProfileView], base: str) -> list[ProfileResource]:
    """A page's resources. Each time is written once per page: a profile's created and updated
    times, and its consents' times, are often one and the same (datetime.isoformat costs several
    times a look-up). The subscriptions block is made once per page for states that share their
    parts (the very consent, suppression and list-suppression mappings, as a page read gives
    profiles with the same projection rows), the same addresses present or not and the same number
    of devices: all the block reads, but for the phone number a WhatsApp consent shows."""
    iso, made = _page_makers()
    return [profile_resource(row, base, iso, made) for row in rows]


class _RowResource(Struct, gc=False):
    type: str
    id: str
    attributes: _ProfileAttributes
    relationships: Raw  # ProfileResource's relationships, written as text: they vary by the id alone
    links: _SelfLink


def _json_text(value: str) -> str:
    """`value` as it stands between the quotes of a JSON string, escaped as the encoder escapes."""
    return _encode(value).decode()[1:-1]


def row_resources(rows: list[ProfileRow], states: dict[str, ProfileState], base: str) -> list[_RowResource]:
    """profile_resources of the views of `rows` (with their states in `states`, none when it has
    no entry), made straight from the stored rows: no view, location dict or relationship Structs
    per profile. The same bytes once encoded (a property test holds it); the subscriptions block
    is made and shared as profile_resources makes it."""
    written: dict[datetime, str] = {}
    iso, made = _page_makers(written)
    known = written.get  # a time written already (the loop looks it up without a call of iso)
    prefix = f"{base}/api/profiles/"
    escaped_prefix = _json_text(prefix)
    out = []
    for (pid, email, phone_number, external_id, first_name, last_name, organization, title, locale, image, address1,
         address2, city, region, zip_, country, timezone, latitude, longitude, ip, properties, created, updated,
         last_event) in rows:  # fmt: skip
        state = states.get(pid)
        attributes = _ProfileAttributes(
            email, phone_number, external_id, first_name, last_name, organization, locale, title, image,
            known(created) or iso(created), known(updated) or iso(updated),
            None if last_event is None else known(last_event) or iso(last_event),
            _Location(address1, address2, city, country, latitude, longitude, region, zip_, timezone, ip),
            _decode(properties or "{}"), UNSET if state is None else made(state),
        )  # fmt: skip
        me = prefix + pid + "/"
        escaped = escaped_prefix + (pid if pid.isascii() and pid.isalnum() else _json_text(pid)) + "/"
        # ProfileResource's relationships for the JSON-escaped self link (…/api/profiles/<id>/), as text
        relationships = Raw(
            f'{{"lists":{{"links":{{"self":"{escaped}relationships/lists/","related":"{escaped}lists/"}}}},'
            f'"segments":{{"links":{{"self":"{escaped}relationships/segments/","related":"{escaped}segments/"}}}}}}'
        )
        out.append(_RowResource("profile", pid, attributes, relationships, _SelfLink(me)))
    return out
