"""The `assent` command. Human output by default, JSON with --json; bad input exits 1 with one line.

One module per command group; `common` holds the options and output helpers they share. Commands
call services, never the store."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from . import (
    accounts,
    audience,
    consent,
    consent_texts,
    db,
    decide,
    keys,
    ledger,
    links,
    lists,
    outbox,
    profiles,
    proof,
    segments,
    sends,
    serve,
    settings,
    stream,
    sync,
    users,
    webhooks,
)
from .decide import VERDICT_EXIT_CODES

__all__ = ["VERDICT_EXIT_CODES", "app", "main"]

app = typer.Typer(help="Assent: consent and subscriptions for email, SMS, push and WhatsApp.", no_args_is_help=True)
# Help lists commands in the order they are added here.
app.command("outbox")(outbox.outbox_command)
app.command("serve")(serve.serve_command)
app.command("decide")(decide.decide)
app.command("demo")(serve.demo_command)
app.add_typer(db.app, name="db")
app.add_typer(accounts.app, name="accounts")
app.add_typer(profiles.app, name="profiles")
app.add_typer(consent.app, name="consent")
app.add_typer(consent_texts.app, name="consent-texts")
app.add_typer(lists.app, name="lists")
app.add_typer(audience.app, name="audience")
app.add_typer(segments.app, name="segments")
app.add_typer(ledger.app, name="ledger")
app.add_typer(proof.app, name="proof")
app.add_typer(keys.app, name="keys")
app.add_typer(settings.app, name="settings")
app.add_typer(links.app, name="links")
app.add_typer(sends.app, name="sends")
app.command("sync")(sync.sync_command)
app.command("stream")(stream.stream_command)
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(users.app, name="users")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assent {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Assent: consent and subscriptions for email, SMS, push and WhatsApp."""


def main() -> None:
    app()
