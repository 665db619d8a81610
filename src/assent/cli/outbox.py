"""`assent outbox`: the messages Assent sent or holds."""

from __future__ import annotations

from typing import Annotated

import typer

from ..services.shared import outbox
from ..services.shared.database import open_engine
from .common import Db, Json, command, show


@command
def outbox_command(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's messages.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.", min=1, max=10_000)] = 20,
    db: Db = None,
    json: Json = False,
) -> None:
    """Messages Assent sent or holds (held: no ASSENT_SMTP_URL configured), newest first."""
    found = outbox.messages(open_engine(db), account, limit)
    lines = [f"{m['created_at']}  {m['status']:<6}  {m['channel']}  {m['recipient']}  {m['subject'] or m['kind']}"
             for m in found]  # fmt: skip
    show(json, found, *(lines or ["no messages"]))
