"""`assent keys`: private API keys and their scopes."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain import DomainError
from ..services.accounts import accounts
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, show

app = typer.Typer(help="Private API keys and their scopes.", no_args_is_help=True)


@app.command("create")
@command
def keys_create(
    account: AccountId,
    scopes: Annotated[
        str, typer.Option("--scopes", help=f"Comma-separated: {', '.join(accounts.SCOPES)}; * for full access.")
    ] = "*",
    label: Annotated[str, typer.Option("--label", help="What the key is for.")] = "",
    db: Db = None,
    json: Json = False,
) -> None:
    """Make a private API key with the given scopes (x:write includes x:read); shown once."""
    try:
        new = accounts.create_key(open_engine(db), account, scopes, label)
    except DomainError as e:
        if e.field != "scopes":
            raise
        message = e.message.replace("or * alone", "or --scopes '*'").replace("give * alone", "give --scopes '*' alone")
        raise DomainError("--scopes", message, e.value) from None
    k = new.key
    show(
        json,
        {"id": k.id, "account_id": k.account_id, "label": k.label, "scopes": sorted(k.scopes), "api_key": new.secret},
        f"key {k.id} for account {k.account_id}, scopes {','.join(sorted(k.scopes))}",
        f"private API key: {new.secret}  (shown once; only its digest is stored)",
    )


@app.command("list")
@command
def keys_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """List an account's keys (ids and scopes; the keys themselves are not stored)."""
    found = accounts.list_keys(open_engine(db), account)
    data = [{"id": k.id, "label": k.label, "scopes": sorted(k.scopes)} for k in found]
    show(json, data, *(f"{k.id}  {','.join(sorted(k.scopes))}  {k.label}" for k in found))


@app.command("revoke")
@command
def keys_revoke(
    account: AccountId,
    key: Annotated[str, typer.Option("--key", help="The key id, as `keys list` shows it.")],
    db: Db = None,
    json: Json = False,
) -> None:
    """Revoke a key: a running server refuses it within a few seconds."""
    accounts.revoke_key(open_engine(db), account, key)
    show(json, {"revoked": key}, f"key {key} revoked")
