"""Assent's `POST /api/message-sends`: the brand reports what it sent, so that frequency caps
(the account setting `frequency_caps`) count it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..domain.instants import in_utc
from ..services.activity.sends import RecordedSend, SendRejected, SendReport, record_sends
from ..services.consent.changes import LOCATORS, Locator
from ..wire.documents import json_response
from ..wire.errors import from_domain, invalid
from ..wire.linkage import ProfileLocator
from .operation import Call, Operation


class MessageSendAttributes(Struct):
    profile: ProfileLocator
    channel: str
    message_id: str
    sent_at: datetime
    purpose: str | None | UnsetType = UNSET


class MessageSendData(Struct):
    type: Literal["message-send"]
    attributes: MessageSendAttributes


class MessageSendCreateQuery(Struct):
    """One send, or up to 1000 in a list."""

    data: MessageSendData | list[MessageSendData]


def _report(base: str, a: MessageSendAttributes) -> SendReport:
    named = [(f, getattr(a.profile, f)) for f in LOCATORS if isinstance(getattr(a.profile, f), str)]
    if len(named) != 1:
        raise invalid(f"name the profile by exactly one of {', '.join(LOCATORS)}", pointer=f"{base}/profile")
    if a.sent_at.tzinfo is None:
        raise invalid("sent_at needs a time zone (Z or +00:00)", pointer=f"{base}/sent_at")
    try:
        channel = parse_channel(a.channel)
        purpose = parse_send_purpose(channel, a.purpose if isinstance(a.purpose, str) else None)
        sent_at = in_utc(a.sent_at, "sent_at")
    except DomainError as e:
        raise from_domain(e, base) from None
    return SendReport(Locator(*named[0]), channel, purpose, a.message_id, sent_at)


def _resource(s: RecordedSend) -> dict[str, Any]:
    r = s.report
    return {
        "type": "message-send",
        "id": f"{s.profile_id}-{r.channel.value}-{r.message_id}",
        "attributes": {
            "profile_id": s.profile_id,
            "channel": r.channel.value,
            "purpose": r.purpose.value,
            "message_id": r.message_id,
            "sent_at": r.sent_at.isoformat(),
            "duplicate": not s.new,
        },
        "relationships": {"profile": {"data": {"type": "profile", "id": s.profile_id}}},
    }


def post_message_sends(call: Call) -> Response:
    body: MessageSendCreateQuery = call.body
    many = isinstance(body.data, list)
    items = body.data if isinstance(body.data, list) else [body.data]
    if not 1 <= len(items) <= 1000:
        raise invalid("report 1 to 1000 sends", pointer="/data")
    bases = [f"/data/{i}/attributes" if many else "/data/attributes" for i in range(len(items))]
    reports = [_report(base, item.attributes) for base, item in zip(bases, items, strict=True)]
    try:
        recorded = record_sends(call.engine, call.account_id, reports)
    except SendRejected as e:
        where = bases[e.index] if e.error.field in ("message_id", "sent_at") else f"{bases[e.index]}/profile"
        raise from_domain(e.error, where) from None
    data = [_resource(s) for s in recorded]
    return json_response({"data": data if many else data[0], "links": {"self": call.self_link()}}, status=201)


OPERATIONS = [
    Operation("POST", "/api/message-sends", "create_message_sends", post_message_sends, ("events:write",), 350, 3500,
              "Report messages sent to profiles, counted by the account's frequency caps",
              body=MessageSendCreateQuery, status=201, tag="Assent"),
]  # fmt: skip
