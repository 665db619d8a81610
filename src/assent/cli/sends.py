"""`assent sends`: report messages sent (counted by the account's frequency caps) and list them,
over the same service as `POST /api/message-sends`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..services.activity import sends as service
from ..services.shared.clock import parse_time, utcnow
from ..services.shared.database import open_engine
from .common import (
    AccountId,
    ByEmail,
    ByExternal,
    ById,
    ByPhone,
    ChannelOpt,
    Db,
    Json,
    PurposeOpt,
    command,
    locator,
    show,
)

app = typer.Typer(help="Messages sent, reported so that frequency caps count them.", no_args_is_help=True)

MessageId = Annotated[str, typer.Option("--message-id", help="The message (or campaign) id, 1 to 200 characters.")]
SentAt = Annotated[
    str | None, typer.Option("--sent-at", help="When it was sent, ISO 8601 (default: now; no zone means UTC).")
]


def _record(s: service.RecordedSend) -> dict[str, Any]:
    r = s.report
    return {
        "profile_id": s.profile_id, "channel": r.channel.value, "purpose": r.purpose.value,
        "message_id": r.message_id, "sent_at": r.sent_at.isoformat(), "duplicate": not s.new,
    }  # fmt: skip


@app.command("record")
@command
def sends_record(
    account: AccountId,
    channel: ChannelOpt,
    message_id: MessageId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    purpose: PurposeOpt = None,
    sent_at: SentAt = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Report one message sent to one profile. A message already reported for the profile and
    channel counts once (`duplicate`)."""
    ch = parse_channel(channel)
    report = service.SendReport(
        locator(id, email, phone, external_id), ch, parse_send_purpose(ch, purpose), message_id,
        parse_time(sent_at, "sent_at") if sent_at else utcnow(),
    )  # fmt: skip
    try:
        (recorded,) = service.record_sends(open_engine(db), account, [report])
    except service.SendRejected as e:
        raise e.error from None
    out = _record(recorded)
    what = "already recorded" if recorded.new is False else "recorded"
    show(json, out, f"{what}: {out['channel']} {out['purpose']} message {out['message_id']} to profile "
                    f"{out['profile_id']} at {out['sent_at']}")  # fmt: skip


@app.command("list")
@command
def sends_list(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only sends after this time (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 100,
    db: Db = None,
    json: Json = False,
) -> None:
    """The sends reported for the account (or one profile), newest first."""
    named = any((id, email, phone, external_id))
    found = service.list_sends(
        open_engine(db), account, locator(id, email, phone, external_id) if named else None,
        channel=parse_channel(channel) if channel else None,
        since=parse_time(since, "since") if since else None, limit=limit,
    )  # fmt: skip
    rows = [
        {"profile_id": s.profile_id, "channel": s.channel.value, "purpose": s.purpose.value,
         "message_id": s.message_id, "sent_at": s.sent_at.isoformat(), "recorded_at": s.recorded_at.isoformat()}
        for s in found
    ]  # fmt: skip
    lines = [f"{r['sent_at']}  {r['channel']:<8} {r['purpose']:<13} {r['profile_id']}  {r['message_id']}" for r in rows]
    show(json, rows, *(lines or ["no sends"]))
