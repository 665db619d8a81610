"""`assent settings`: an account's workflow settings."""

from __future__ import annotations

import typer

from ..services.accounts import accounts, settings
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, show

app = typer.Typer(help="An account's workflow settings (sender, SMS keywords, webhook keys).", no_args_is_help=True)


@app.command("list")
@command
def settings_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Every setting with its value (secrets masked) and what it does."""
    engine = open_engine(db)
    values = settings.all_values(engine, account)
    public_id = accounts.get_account(engine, account).public_id
    lines = (f"{name} = {value!r}  ({settings.SETTINGS[name].help})" for name, value in values.items())
    show(
        json,
        {"public_id": public_id, **values},
        f"public_id = {public_id!r}  (names the account in signup forms and webhook URLs; read-only)",
        *lines,
    )


@app.command("set")
@command
def settings_set(account: AccountId, name: str, value: str, db: Db = None, json: Json = False) -> None:
    """Set one setting, e.g. `assent settings set --account ID sender_email news@brand.example`."""
    settings.set_value(open_engine(db), account, name, value)
    shown = "(secret)" if settings.SETTINGS[name].secret else repr(value)
    show(json, {"name": name, "set": True}, f"{name} = {shown}")
