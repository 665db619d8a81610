"""The top-level `assent` group: every command by name, each command group's module imported only
when that group runs (the package, assent.cli, imports this module only when the command runs)."""

from __future__ import annotations

import importlib
from typing import Annotated, Any, NamedTuple

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from .. import __version__

__all__ = ["COMMANDS", "app", "load_command"]


class Lazy(NamedTuple):
    """A command loaded when it runs: its module under assent.cli, the attribute there (a Typer
    app for a group, a function for a command) and its help, which `assent --help` lists without
    importing the module (a test holds each equal to the loaded command's)."""

    module: str
    attribute: str
    help: str


# Help lists commands in this order (commands first, then groups, as Typer lists them).
COMMANDS: dict[str, Lazy] = {
    "outbox": Lazy(
        "outbox", "outbox_command", "Messages Assent sent or holds (held: no ASSENT_SMTP_URL configured), newest first."
    ),
    "serve": Lazy("serve", "serve_command", "Run the Klaviyo-compatible HTTP API (migrating the database first)."),
    "decide": Lazy(
        "decide", "decide", "May this profile be sent this message? ALLOW, DENY or DEFER, with the reasons."
    ),
    "demo": Lazy(
        "serve",
        "demo_command",
        "Set up a demo account with synthetic profiles (migrating the database first) and show what to try.",
    ),
    "sync": Lazy(
        "sync",
        "sync_command",
        (
            "Mirror the account's consent, suppressions and list memberships into tables of another\n"
            "database (created when missing), then keep them current from the ledger. Exits 1 when\n"
            "--verify finds differences."
        ),
    ),
    "stream": Lazy(
        "stream",
        "stream_command",
        (
            "Publish every ledger event of the account to NATS JetStream, in seq order, with the account\n"
            "and seq as message id; resumes after the last message the stream holds on the subject."
        ),
    ),
    "db": Lazy("db", "app", "The database schema."),
    "accounts": Lazy("accounts", "app", "Accounts (one per brand) and their API keys."),
    "profiles": Lazy("profiles", "app", "Profiles: import, read, timeline."),
    "consent": Lazy("consent", "app", "Change one profile's consent or suppression."),
    "consent-texts": Lazy("consent_texts", "app", "Consent text versions: the exact words people consent to."),
    "lists": Lazy("lists", "app", "Lists."),
    "audience": Lazy("audience", "app", "Audiences: who may be sent a message, who may not and why; exports."),
    "segments": Lazy("segments", "app", "Segments: rule-based groups of profiles, computed when asked."),
    "ledger": Lazy("ledger", "app", "The tamper-evident consent ledger."),
    "proof": Lazy(
        "proof", "app", "Consent proofs: a bundle that proves a profile's consent offline, and its verification."
    ),
    "keys": Lazy("keys", "app", "Private API keys and their scopes."),
    "settings": Lazy("settings", "app", "An account's workflow settings (sender, SMS keywords, webhook keys)."),
    "links": Lazy("links", "app", "Links to put in messages."),
    "sends": Lazy("sends", "app", "Messages sent, reported so that frequency caps count them."),
    "webhooks": Lazy(
        "webhooks", "app", "Webhooks: consent changes sent to your endpoints, signed (Standard Webhooks)."
    ),
    "users": Lazy("users", "app", "Staff users of the console (/console) and their invite links."),
}


def load_command(name: str) -> Any:
    """The command `name` as Typer builds it, its module imported now."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f".{entry.module}", __package__), entry.attribute)
    holder = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
        holder.callback()(_nothing)  # a group of one, so Typer keeps the command's own name
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    command = group.commands[name]
    _listed_on_one_paragraph(command)
    return command


def _one_paragraph(help: str) -> str:
    """A command's help as a group lists it: its first paragraph, its line breaks as spaces (Typer's
    rich help keeps a docstring's line breaks there, so a listing broke off mid-sentence)."""
    return " ".join(help.split("\n\n")[0].split())


def _listed_on_one_paragraph(command: Any) -> None:
    for sub in getattr(command, "commands", {}).values():
        if sub.short_help is None and sub.help:
            sub.short_help = _one_paragraph(sub.help)
        _listed_on_one_paragraph(sub)


def _nothing() -> None:
    pass


class LazyGroup(TyperGroup):
    """The top-level group: a command group's module is imported only when that group runs, so
    `assent profiles import` loads the import code and not every other command's. Help lists
    every command from COMMANDS without loading any."""

    listing = False

    # (Typer's click types are its own: the signatures say Any.)
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS:
            return command
        if self.listing:  # only the name and help are shown
            help = COMMANDS[cmd_name].help
            return TyperCommand(cmd_name, help=help, short_help=_one_paragraph(help))
        command = self.commands[cmd_name] = load_command(cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    cls=LazyGroup, help="Assent: consent and subscriptions for email, SMS, push and WhatsApp.", no_args_is_help=True
)


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
