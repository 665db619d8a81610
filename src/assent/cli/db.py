"""`assent db`: the database schema."""

from __future__ import annotations

import typer

from ..services.shared import database
from ..services.shared.database import open_engine
from .common import Db, Json, command, show

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
@command
def db_upgrade(db: Db = None, json: Json = False) -> None:
    """Create or migrate the schema to the newest revision."""
    before, after = database.upgrade(open_engine(db, migrated=False))
    was = "" if before == after else f" (was {before})" if before else " (a new database)"
    show(
        json,
        {"database": database.shown_url(db), "from": before, "to": after},
        f"{database.shown_url(db)}: schema at revision {after}{was}",
    )
