"""`assent decide`: may this profile be sent this message?"""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain import DomainError, Via
from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..services.profiles import reading as profiles
from ..services.shared.database import open_engine
from .common import (
    AccountId,
    ByEmail,
    ById,
    ByPhone,
    ChannelOpt,
    Db,
    Json,
    ListOpt,
    PurposeOpt,
    command,
    emit_json,
    locator,
    optional_time,
)


@command
def decide(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    via: Annotated[str, typer.Option("--via", help="campaign or flow.")] = "campaign",
    list_id: ListOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Decide as of this time (default now).")] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 0 on ALLOW, 1 on DENY, 3 on DEFER, 4 on an error (for scripts).")
    ] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """May this profile be sent this message? ALLOW, DENY or DEFER, with the reasons."""
    ch = parse_channel(channel)
    p = parse_send_purpose(ch, purpose)
    try:
        via_value = Via(via.strip().lower())
    except ValueError:
        raise DomainError("via", "must be campaign or flow", via) from None
    result = profiles.decide_for(
        open_engine(db),
        account,
        locator(id, email, phone),
        ch,
        p,
        via=via_value,
        list_id=list_id,
        at=optional_time(at, "at"),
    )
    d = result.decision
    if json:
        emit_json(
            {
                "profile_id": result.profile_id,
                "channel": ch.value,
                "purpose": p.value,
                "via": via_value.value,
                "list_id": list_id,
                "at": result.send.now.isoformat(),
                "verdict": d.verdict.value,
                "reasons": list(d.reasons),
                "warnings": list(d.warnings),
                "defer_until": d.defer_until.isoformat() if d.defer_until else None,
                "consent_expired_at": d.consent_expired_at.isoformat() if d.consent_expired_at else None,
            }
        )
    else:
        typer.echo(
            f"{d.verdict.value}  {', '.join(d.reasons)}"
            + (f"  until {d.defer_until.isoformat()}" if d.defer_until else "")
            + (f"  (consent expired {d.consent_expired_at.isoformat()})" if d.consent_expired_at else "")
            + (f"  (warnings: {', '.join(d.warnings)})" if d.warnings else "")
        )
    if exit_code and d.verdict.value != "ALLOW":
        raise typer.Exit(VERDICT_EXIT_CODES[d.verdict.value])


# For shell scripts: `if assent decide ... --exit-code; then send; fi`. 2 is click's usage error.
VERDICT_EXIT_CODES = {"ALLOW": 0, "DENY": 1, "DEFER": 3}
