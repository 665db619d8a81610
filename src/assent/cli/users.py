"""`assent users`: staff users of the console and their invite links."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import config
from ..services.console import staff
from ..services.shared.database import open_engine
from .common import AccountId, BaseUrl, Db, Json, command, link_base, show

app = typer.Typer(help="Staff users of the console (/console) and their invite links.", no_args_is_help=True)

Email = Annotated[str, typer.Option("--email", help="The user's email, which they sign in with.")]


def _shown(json: bool, invite: staff.Invite, verb: str, base: str, base_given: bool) -> None:
    u, link = invite.user, invite.link(base)
    show(
        json,
        {"id": u.id, "account_id": u.account_id, "email": u.email, "role": u.role, "invite_link": link,
         "invite_days": staff.INVITE_DAYS},  # fmt: skip
        f"{verb} {u.email} ({u.role}) in account {u.account_id}",
        f"invite link (valid {staff.INVITE_DAYS} days, works once): {link}",
    )
    settings = config.settings()
    if not (json or base_given or settings.public_url or settings.served_url):
        typer.echo(
            f"note: the link starts with {settings.link_base} ({settings.link_base_source}); "
            "if the server listens elsewhere, add --base-url (say http://127.0.0.1:8123)",
            err=True,
        )


@app.command("create")
@command
def users_create(
    account: AccountId,
    email: Email,
    role: Annotated[str, typer.Option("--role", help="owner, editor (change consent) or viewer (look only).")],
    base_url: BaseUrl = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Add a staff user and print the invite link that lets them set a password."""
    base = link_base(base_url)  # checked before the user is made
    _shown(json, staff.create_user(open_engine(db), account, email, role), "user", base, base_url is not None)


@app.command("invite")
@command
def users_invite(account: AccountId, email: Email, base_url: BaseUrl = None, db: Db = None, json: Json = False) -> None:
    """A new invite link for a user (a lost link or a forgotten password); older links stop working."""
    base = link_base(base_url)  # checked before older links are revoked
    _shown(json, staff.reinvite(open_engine(db), account, email), "new invite for", base, base_url is not None)


@app.command("list")
@command
def users_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """An account's staff users, their roles, and whether they have set a password."""
    found = staff.list_users(open_engine(db), account)
    data = [{"id": u.id, "email": u.email, "role": u.role, "active": u.active} for u in found]
    show(json, data, *([f"{u.email}  {u.role}  {'active' if u.active else 'invited'}" for u in found] or ["no users"]))
