"""`assent stream`: publish an account's ledger events to NATS JetStream."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..domain.stream import BrokerUnavailable
from ..integrations.nats_stream import JetStreamPublisher
from ..services.outbound import stream
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, Poll, command, emit_json, show
from .sync import stopper


def _report(r: stream.StreamReport) -> dict[str, Any]:
    return {"account_id": r.account_id, "resumed_after": r.resumed_after, "published": r.published,
            "last_seq": r.last_seq, "outages": r.outages}  # fmt: skip


@command
def stream_command(
    account: AccountId,
    to: Annotated[str, typer.Option("--to", help="The NATS server: nats://127.0.0.1:4222.")],
    subject: Annotated[
        str | None, typer.Option("--subject", help="Subject to publish on (default: assent.ACCOUNT_ID.events).")
    ] = None,
    stream_name: Annotated[
        str | None,
        typer.Option(
            "--stream", help="JetStream stream to create when none covers the subject (default: ASSENT_<ACCOUNT_ID>)."
        ),
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep running: publish new events as they commit.")] = False,
    poll: Poll = 0.2,
    db: Db = None,
    json: Json = False,
) -> None:
    """Publish every ledger event of the account to NATS JetStream, in seq order, with the account
    and seq as message id; resumes after the last message the stream holds on the subject."""
    engine = open_engine(db)
    publisher = JetStreamPublisher(to, subject or f"assent.{account}.events", stream_name or f"ASSENT_{account}")

    def on_publish(r: stream.StreamReport) -> None:
        if follow:
            if json:
                emit_json({"last_seq": r.last_seq, "published": r.published})
            else:
                typer.echo(f"published up to seq {r.last_seq} ({r.published} events)", err=True)

    def on_unavailable(problem: str) -> None:
        typer.echo(f"warning: {problem}; trying again", err=True)

    try:
        report = stream.stream(engine, account, publisher, follow=follow, poll=poll, stop=stopper(),
                               on_publish=on_publish, on_unavailable=on_unavailable)  # fmt: skip
    except BrokerUnavailable as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        publisher.close()
    show(json, _report(report),
         f"published {report.published} events (seq {report.resumed_after + 1}..{report.last_seq}); "
         f"the stream holds up to seq {report.last_seq}")  # fmt: skip
