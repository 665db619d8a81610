"""Data privacy: Klaviyo's deletion job (`POST /api/data-privacy-deletion-jobs`), and Assent's
access export (`GET /api/profiles/{id}/data-export`, an extension).

A deletion is carried out before the 202 answers (Klaviyo's runs later): a read right after sees
the profile gone. The person's opt-out is kept as tombstones (services/privacy/tombstones.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..services.privacy import access, erasure
from ..services.profiles.locator import Locator
from ..services.shared.errors import NotFound
from ..wire.documents import json_response, no_content
from ..wire.errors import from_domain, invalid, not_found
from .operation import Call, Operation
from .resources import profile_resource

# --- request body (Klaviyo's DataPrivacyCreateDeletionJobQuery) -----------------------------------


class DeletionProfileAttributes(Struct, frozen=True):
    email: str | None | UnsetType = UNSET
    phone_number: str | None | UnsetType = UNSET


class DeletionProfile(Struct):
    type: Literal["profile"]
    attributes: DeletionProfileAttributes = DeletionProfileAttributes()
    id: str | None | UnsetType = UNSET


class DeletionProfileRelationship(Struct):
    data: DeletionProfile


class DeletionJobAttributes(Struct):
    profile: DeletionProfileRelationship


class DeletionJob(Struct):
    type: Literal["data-privacy-deletion-job"]
    attributes: DeletionJobAttributes


class DataPrivacyCreateDeletionJobQuery(Struct):
    data: DeletionJob


_PROFILE = "/data/attributes/profile/data"


def _locator(profile: DeletionProfile) -> tuple[Locator, str]:
    """The one identifier the body names, and where it sits in the body."""
    given = [
        (Locator(name, value), pointer)
        for name, value, pointer in (
            ("id", profile.id, f"{_PROFILE}/id"),
            ("email", profile.attributes.email, f"{_PROFILE}/attributes/email"),
            ("phone_number", profile.attributes.phone_number, f"{_PROFILE}/attributes/phone_number"),
        )
        if isinstance(value, str) and value.strip()
    ]
    if len(given) != 1:
        raise invalid(
            "name the profile by exactly one of id, email or phone_number"
            + ("" if given else " (none was given)"),
            pointer=_PROFILE,
        )
    return given[0]


def post_deletion_job(call: Call) -> Response:
    body: DataPrivacyCreateDeletionJobQuery = call.body
    locator, pointer = _locator(body.data.attributes.profile.data)
    try:
        erasure.erase(call.engine, call.account_id, locator, actor=f"api key {call.key.id}")
    except DomainError as e:  # NotFound among them
        error = from_domain(e)
        error.pointer = pointer
        raise error from None
    return no_content(202)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def data_export_resource(x: access.DataExport, base: str | None = None) -> dict[str, Any]:
    """The `profile-data-export` resource: everything held about one person (the CLI prints it too)."""
    state = x.profile.state
    assert state is not None  # an export always reads the consent state
    profile = profile_resource(x.profile, base)
    return {
        "type": "profile-data-export",
        "id": x.profile.id,
        "attributes": {
            "exported_at": x.exported_at.isoformat(),
            "profile": profile["attributes"],
            "consents": [
                {"channel": channel.value, "purpose": purpose.value, "status": c.status.value,
                 "consent_timestamp": _time(c.consent_timestamp), "method": c.method,
                 "method_detail": c.method_detail, "custom_method_detail": c.custom_method_detail,
                 "double_optin": c.double_optin, "last_updated": _time(c.last_updated)}
                for (channel, purpose), c in sorted(state.consents.items(), key=lambda kv: (kv[0][0], kv[0][1]))
            ],  # fmt: skip
            "suppressions": [{"reason": str(r), "created": _time(at)} for r, at in sorted(state.suppressions.items())],
            "list_suppressions": [
                {"list_id": list_id, "reason": ls.reason, "created": _time(ls.timestamp)}
                for list_id, ls in sorted(state.list_suppressions.items())
            ],
            "pending_double_opt_ins": [
                {"channel": ch.value, "purpose": pu.value, "list_id": list_id or None,
                 "requested_at": _time(p.requested_at), "method": p.method}
                for (ch, pu, list_id), p in sorted(state.pending.items(), key=lambda kv: repr(kv[0]))
            ],  # fmt: skip
            "lists": [
                {"id": m.id, "name": m.name, "opt_in_process": m.opt_in_process.value,
                 "joined_at": _time(state.lists.get(m.id))}
                for m in x.lists
            ],  # fmt: skip
            "segments": [{"id": seg.id, "name": seg.name} for seg in x.segments],
            "consent_events": x.consent_events,
            "events": x.activity,
            "message_sends": x.sends,
            "push_tokens": [
                {"id": t.id, "token": t.token, "platform": t.platform.value, "vendor": t.vendor.value,
                 "enablement_status": t.enablement_status.value, "background": t.background.value,
                 "metadata": t.metadata, "created": _time(t.created), "recorded": _time(t.recorded)}
                for t in x.push_tokens
            ],  # fmt: skip
        },
    }


def get_data_export(call: Call) -> Response:
    try:
        export = access.export_data(call.engine, call.account_id, Locator("id", call.path["id"]))
    except NotFound as e:
        if e.field != "id":
            raise
        raise not_found("profile", call.path["id"]) from None
    return json_response({"data": data_export_resource(export, call.base_url), "links": {"self": call.self_link()}})


OPERATIONS = [
    Operation("POST", "/api/data-privacy-deletion-jobs", "request_profile_deletion", post_deletion_job,
              ("data-privacy:write",), 3, 60,
              "Erase a profile's personal data, keeping its opt-out as a tombstone (202; done before the answer)",
              body=DataPrivacyCreateDeletionJobQuery, status=202, tag="Data Privacy"),
    Operation("GET", "/api/profiles/{id}/data-export", "get_profile_data_export", get_data_export,
              ("data-privacy:read",), 3, 60,
              "Assent: everything held about a profile (access request): profile, consents, ledger events with "
              "their hashes, lists, segments, events, sends", tag="Data Privacy"),
]  # fmt: skip
