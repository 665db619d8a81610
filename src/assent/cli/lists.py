"""`assent lists`: lists and whether the preference centre offers them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..services.lists import lists
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, counted, show

app = typer.Typer(help="Lists.", no_args_is_help=True)


@app.command("create")
@command
def lists_create(
    name: str,
    account: AccountId,
    double_opt_in: Annotated[
        bool, typer.Option("--double-opt-in", help="Subscriptions wait for confirmation.")
    ] = False,
    public: Annotated[bool, typer.Option("--public", help="Offer it in the preference centre.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Create a list (single opt-in unless --double-opt-in)."""
    made = lists.create_list(open_engine(db), account, name, double_opt_in, public)
    show(json, _list_json(made), f"list {made.id} ({made.name}, {made.opt_in_process.value})")


def _list_json(item: lists.MailingList) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "opt_in_process": item.opt_in_process.value,
        "public": item.public,
        "created": item.created.isoformat(),
        "profile_count": item.profile_count,
    }


@app.command("public")
@command
def lists_public(
    list_id: str,
    account: AccountId,
    off: Annotated[bool, typer.Option("--off", help="Stop offering it.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Offer a list in the preference centre (or stop, with --off)."""
    lists.set_public(open_engine(db), account, list_id, not off)
    show(
        json,
        {"id": list_id, "public": not off},
        f"list {list_id} {'hidden from' if off else 'offered in'} the preference centre",
    )


@app.command("list")
@command
def lists_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """List the account's lists with their member counts."""
    found = lists.all_lists(open_engine(db), account)
    human = [f"{i.id}  {i.name}  {i.opt_in_process.value}  {counted(i.profile_count or 0, 'profile')}" for i in found]
    show(json, [_list_json(item) for item in found], *(human or ["no lists"]))
