"""`assent links`: links to put in messages."""

from __future__ import annotations

from typing import Annotated

import typer

from ..services.shared.database import open_engine
from .common import (
    AccountId,
    BaseUrl,
    ByEmail,
    ById,
    ByPhone,
    Db,
    Json,
    ListOpt,
    command,
    link_base,
    locator,
    show,
    warn_links,
)

app = typer.Typer(help="Links to put in messages.", no_args_is_help=True)


@app.command("unsubscribe")
@command
def links_unsubscribe(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    list_id: ListOpt = None,
    message_id: Annotated[str | None, typer.Option("--message-id", help="The message or campaign id.")] = None,
    base_url: BaseUrl = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """The List-Unsubscribe and List-Unsubscribe-Post headers (RFC 8058) and body links for a message."""
    from ..services.workflows import unsubscribe

    links = unsubscribe.unsubscribe_links(
        open_engine(db), account, locator(id, email, phone), list_id=list_id, message_id=message_id,
        base_url=link_base(base_url),
    )  # fmt: skip
    if base_url:
        for warning in links["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
    else:
        warn_links()
    show(
        json,
        links,
        f"List-Unsubscribe: {links['list_unsubscribe']}",
        f"List-Unsubscribe-Post: {links['list_unsubscribe_post']}",
        f"unsubscribe link: {links['url']}",
        f"preferences link: {links['preferences_url']}",
    )
