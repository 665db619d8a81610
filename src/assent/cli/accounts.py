"""`assent accounts`: accounts, one per brand."""

from __future__ import annotations

from typing import Annotated

import typer

from ..services.accounts import accounts
from ..services.shared.database import open_engine
from .common import Db, Json, command, show

app = typer.Typer(help="Accounts (one per brand) and their API keys.", no_args_is_help=True)


@app.command("create")
@command
def accounts_create(
    name: str,
    default_region: Annotated[str, typer.Option(help="Region for phone numbers given without +country code.")] = "US",
    db: Db = None,
    json: Json = False,
) -> None:
    """Create an account; prints its id and a private API key (shown once)."""
    new = accounts.create_account(open_engine(db), name, default_region)
    a = new.account
    show(
        json,
        {
            "id": a.id,
            "name": a.name,
            "default_region": a.default_region,
            "public_id": a.public_id,
            "api_key": new.api_key,
        },
        f"account {a.id} ({a.name}, region {a.default_region}, public id {a.public_id} for website forms)",
        f"private API key: {new.api_key}  (shown once; only its digest is stored)",
    )


@app.command("list")
@command
def accounts_list(db: Db = None, json: Json = False) -> None:
    """List accounts."""
    found = accounts.list_accounts(open_engine(db))
    data = [{"id": a.id, "name": a.name, "default_region": a.default_region, "public_id": a.public_id} for a in found]
    show(json, data, *(f"{a.id}  {a.name}  ({a.default_region}, public id {a.public_id})" for a in found))
