"""`assent ledger`: check the hash chain, replay the projection."""

from __future__ import annotations

from typing import Annotated

import typer

from ..services.consent import ledger_checks as ledger
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, emit_json
from .progress import progress_bar

app = typer.Typer(help="The tamper-evident consent ledger.", no_args_is_help=True)


@app.command("verify")
@command
def ledger_verify(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Check the hash chain; exits 1 naming the first bad seq."""
    result = ledger.verify(open_engine(db), account)
    if json:
        emit_json(
            {"ok": result.ok, "events": result.events, "first_bad_seq": result.first_bad_seq, "problem": result.problem}
        )
    elif result.ok:
        typer.echo(f"ledger intact: {result.events} events verified")
    else:
        typer.echo(f"ledger broken at seq {result.first_bad_seq}: {result.problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@app.command("rebuild")
@command
def ledger_rebuild(
    account: AccountId,
    check: Annotated[bool, typer.Option("--check", help="Only compare the replay with the stored projection.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Replay the ledger into a fresh projection; with --check, report differences and change nothing."""
    with progress_bar(None, "replaying") as progress:
        result = ledger.rebuild(open_engine(db), account, check=check, progress=progress)
    if json:
        emit_json(
            {
                "events": result.events,
                "profiles": result.profiles,
                "written": result.written,
                "differences": [
                    {"table": d.table, "side": d.side, "row": [str(v) for v in d.row]} for d in result.differences
                ],
            }
        )
    elif result.differences:
        typer.echo(f"{len(result.differences)} differences between the ledger replay and the stored projection:")
        for d in result.differences[:50]:
            typer.echo(f"  {d.side} in {d.table}: {tuple(str(v) for v in d.row)}")
    elif check:
        typer.echo(f"projection matches the ledger ({result.events} events, {result.profiles} profiles)")
    else:
        typer.echo(f"projection rebuilt from {result.events} events ({result.profiles} profiles)")
    if result.differences:
        raise typer.Exit(1)
