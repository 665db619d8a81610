"""`assent consent`: change one profile's consent or suppression."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain import Channel, DomainError, Proof
from ..domain.channels import parse_channel, parse_purpose, parse_suppression_reason
from ..domain.methods import parse_method
from ..services.consent import changes as consent
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

app = typer.Typer(help="Change one profile's consent or suppression.", no_args_is_help=True)


def _report_change(change: consent.Change, json: bool) -> None:
    if json:
        emit_json(
            {
                "profile_id": change.profile_id,
                "created": change.created,
                "events": [{"type": e.type.value, "metric": e.metric, **e.payload()} for e in change.events],
            }
        )
        return
    if change.created:
        typer.echo(f"created profile {change.profile_id}")
    if not change.events:
        typer.echo(f"profile {change.profile_id}: nothing to change")
    for e in change.events:
        typer.echo(f"profile {change.profile_id}: {e.metric or e.type.value}" + (f" ({e.reason})" if e.reason else ""))


CLI_PROOF = Proof(actor="cli")


@app.command("subscribe")
@command
def consent_subscribe(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    list_id: ListOpt = None,
    method: Annotated[str, typer.Option("--method")] = "MANUAL_ADD",
    method_detail: Annotated[str | None, typer.Option("--method-detail")] = None,
    custom_source: Annotated[str | None, typer.Option("--custom-source")] = None,
    consented_at: Annotated[str | None, typer.Option("--consented-at")] = None,
    historical: Annotated[bool, typer.Option("--historical")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Record an explicit opt-in (pending until confirmed on a double opt-in list)."""
    ch = parse_channel(channel)
    change = consent.subscribe(
        open_engine(db),
        account,
        locator(id, email, phone),
        [(ch, parse_purpose(ch, purpose))],
        list_id=list_id,
        method=parse_method(method, "method"),
        method_detail=method_detail,
        custom_source=custom_source,
        consented_at=optional_time(consented_at, "consented_at"),
        historical_import=historical,
        proof=CLI_PROOF,
    )
    _report_change(change, json)


@app.command("unsubscribe")
@command
def consent_unsubscribe(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    list_id: ListOpt = None,
    method: Annotated[str, typer.Option("--method")] = "MANUAL_REMOVE",
    method_detail: Annotated[str | None, typer.Option("--method-detail")] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, in the person's words; kept with the event.")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Withdraw consent on one channel (SMS: marketing and transactional together)."""
    ch = parse_channel(channel)
    change = consent.unsubscribe(
        open_engine(db),
        account,
        locator(id, email, phone),
        ch,
        parse_purpose(ch, purpose),
        list_id=list_id,
        method=parse_method(method, "method"),
        method_detail=method_detail,
        proof=Proof(actor="cli", note=reason),
    )
    _report_change(change, json)


def _email_only(channel: str) -> None:
    if parse_channel(channel) is not Channel.EMAIL:
        raise DomainError("channel", "suppression exists for email only", channel)


@app.command("suppress")
@command
def consent_suppress(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    channel: Annotated[str, typer.Option("--channel")] = "email",
    list_id: ListOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="HARD_BOUNCE, INVALID_EMAIL, SPAM_COMPLAINT, UNSUBSCRIBE, USER_SUPPRESSED.")
    ] = "USER_SUPPRESSED",
    db: Db = None,
    json: Json = False,
) -> None:
    """Suppress email, globally or from one list; consent is kept."""
    _email_only(channel)
    change = consent.suppress(
        open_engine(db),
        account,
        locator(id, email, phone),
        parse_suppression_reason(reason),
        list_id=list_id,
        proof=CLI_PROOF,
    )
    _report_change(change, json)


@app.command("unsuppress")
@command
def consent_unsuppress(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    channel: Annotated[str, typer.Option("--channel")] = "email",
    list_id: ListOpt = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Lift a manual (USER_SUPPRESSED) suppression; bounces and opt-outs stay."""
    _email_only(channel)
    change = consent.unsuppress(open_engine(db), account, locator(id, email, phone), list_id=list_id, proof=CLI_PROOF)
    _report_change(change, json)
