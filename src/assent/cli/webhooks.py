"""`assent webhooks`: an account's webhooks, and delivering what is queued for them."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from ..integrations import webhook_sender
from ..services.shared.database import open_engine
from ..services.webhooks import delivery, endpoints
from .common import MAX_POLL_SECONDS, AccountId, Db, Json, command, show

app = typer.Typer(
    help="Webhooks: consent changes sent to your endpoints, signed (Standard Webhooks).", no_args_is_help=True
)


def _as_json(w: endpoints.Webhook) -> dict[str, Any]:
    return {
        "id": w.id, "name": w.name, "description": w.description, "endpoint_url": w.endpoint_url,
        "topics": list(w.topics), "enabled": w.enabled, "disabled_reason": w.disabled_reason,
        "created_at": w.created_at.isoformat(), "updated_at": w.updated_at.isoformat(), "queued": w.queued,
        "next_attempt_at": w.next_attempt_at.isoformat() if w.next_attempt_at else None, "last_error": w.last_error,
    }  # fmt: skip


def _line(w: endpoints.Webhook) -> str:
    state = "enabled" if w.enabled else "DISABLED"
    line = f"{w.id}  {state:<8}  {w.endpoint_url}  {w.name}  topics: {len(w.topics)}  queued: {w.queued or 0}"
    if w.disabled_reason:
        line += f"\n    {w.disabled_reason}"
    elif w.last_error:
        line += f"\n    retrying (next {w.next_attempt_at:%Y-%m-%d %H:%M:%S}): {w.last_error}"
    return line


@app.command("list")
@command
def webhooks_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """The account's webhooks: state, why one was disabled, what is queued and the last error."""
    found = endpoints.listing(open_engine(db), account, with_queue=True)
    show(json, [_as_json(w) for w in found], *([_line(w) for w in found] or ["no webhooks"]))


@app.command("create")
@command
def webhooks_create(
    account: AccountId,
    url: Annotated[str, typer.Option("--url", help="The endpoint: https (http only to an allowed host).")],
    topics: Annotated[
        list[str], typer.Option("--topic", help="A topic to send (repeat it); GET /api/webhook-topics lists them.")
    ],
    name: Annotated[str, typer.Option("--name", help="A name for it.")] = "Webhook",
    secret: Annotated[
        str | None, typer.Option("--secret", help="A whsec_ secret to sign with (default: a new one, printed once).")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", help="What it is for.")] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Create a webhook; prints its id and the secret receivers verify signatures with."""
    made, used = endpoints.create(
        open_engine(db), account, name=name, endpoint_url=url, topics=topics, secret=secret, description=description
    )
    show(json, {**_as_json(made), "secret": used}, f"webhook {made.id} created", f"secret: {used}")


@app.command("delete")
@command
def webhooks_delete(
    account: AccountId,
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    db: Db = None,
    json: Json = False,
) -> None:
    """Delete a webhook and what was still queued for it."""
    endpoints.delete(open_engine(db), account, webhook_id)
    show(json, {"deleted": webhook_id}, f"webhook {webhook_id} deleted")


def _interval_seconds(value: float) -> float:
    # A float option's range lets inf through, and sleep() overflows on it after the first round.
    if not 0.1 <= value <= MAX_POLL_SECONDS:
        raise typer.BadParameter(f"must be a number of seconds from 0.1 to {MAX_POLL_SECONDS:g}")
    return value


@app.command("deliver")
@command
def webhooks_deliver(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", help="Seconds between rounds (without --once).", callback=_interval_seconds),
    ] = 2.0,
    db: Db = None,
    json: Json = False,
) -> None:
    """Deliver queued webhook messages (assent serve does this too); without --once it runs until stopped."""
    engine = open_engine(db)
    total = delivery.Round()
    try:
        while True:
            done = delivery.deliver_all(engine, sender=webhook_sender.send_configured)
            total.sent += done.sent
            total.failed += done.failed
            total.disabled += done.disabled
            if once:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    counts = {"sent": total.sent, "failed": total.failed, "disabled": total.disabled}
    show(json, counts, f"sent {total.sent}, failed {total.failed} (retried later), endpoints disabled {total.disabled}")
