"""`assent sync`: mirror an account's consent state into another database and keep it current."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer

from ..domain.mirror import TargetUnavailable, parse_tables
from ..integrations.sync_target import target_for
from ..services.outbound import sync
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, Poll, command, emit_json, show
from .progress import progress_bar

To = Annotated[
    str,
    typer.Option(
        "--to", help="Target database: sqlite:///file.db, postgresql://user@host/db or mysql://user:pw@host/db."
    ),
]
Tables = Annotated[
    str | None, typer.Option("--tables", help="Which tables: consent,suppression,lists (default: all three).")
]


def _report(r: sync.SyncReport) -> dict[str, Any]:
    return {
        "account_id": r.account_id,
        "tables": r.tables,
        "full_copy": r.full_copy,
        "profiles_copied": r.profiles_copied,
        "rows_copied": r.rows_copied,
        "rounds": r.rounds,
        "events_applied": r.events_applied,
        "profiles_updated": r.profiles_updated,
        "last_seq": r.last_seq,
        "seconds": round(r.seconds, 3),
    }


def _lines(r: sync.SyncReport) -> list[str]:
    out = []
    if r.full_copy:
        rows = ", ".join(f"{n} {t}" for t, n in r.rows_copied.items())
        out.append(f"copied {r.profiles_copied} profiles ({rows} rows)")
    out.append(f"applied {r.events_applied} events ({r.profiles_updated} profiles); target at seq {r.last_seq}")
    return out


def stopper() -> Any:
    stopped = []

    def stop(*_: object) -> None:
        stopped.append(True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: bool(stopped)


@command
def sync_command(
    account: AccountId,
    to: To,
    tables: Tables = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep running: apply new changes as they commit (Ctrl-C stops).")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Bring the target up to date, then compare it row by row with Assent.")
    ] = False,
    poll: Poll = 0.2,
    db: Db = None,
    json: Json = False,
) -> None:
    """Mirror the account's consent, suppressions and list memberships into tables of another
    database (created when missing), then keep them current from the ledger. Exits 1 when
    --verify finds differences."""
    names = parse_tables(tables)
    engine = open_engine(db)
    target = target_for(to)
    try:
        if verify:
            _verify(engine, account, target, names, json)
        elif follow:
            _follow(engine, account, target, names, json, poll)
        else:
            with progress_bar(len(names), "copying tables") as progress:
                report = sync.sync(engine, account, target, names, progress)
            show(json, _report(report), *_lines(report))
    except TargetUnavailable as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        target.close()


def _follow(engine: Any, account: str, target: Any, names: frozenset[str], json: bool, poll: float) -> None:
    def on_round(r: sync.SyncReport) -> None:
        if json:
            emit_json({"last_seq": r.last_seq, "events_applied": r.events_applied})
        else:
            typer.echo(f"target at seq {r.last_seq} ({r.events_applied} events applied)", err=True)

    def on_unavailable(problem: str) -> None:
        typer.echo(f"warning: {problem}; trying again", err=True)

    report = sync.follow(engine, account, target, names, poll=poll, stop=stopper(), on_round=on_round,
                         on_unavailable=on_unavailable)  # fmt: skip
    show(json, _report(report), f"stopped; target at seq {report.last_seq}")


def _verify(engine: Any, account: str, target: Any, names: frozenset[str], json: bool) -> None:
    r = sync.verify(engine, account, target, names)
    if json:
        emit_json(
            {
                "ok": r.ok,
                "last_seq": r.last_seq,
                "rows": r.rows,
                "missing": r.missing,
                "extra": r.extra,
                "examples": [{"table": m.table, "side": m.side, "row": [str(v) for v in m.row]} for m in r.examples],
            }
        )
    elif r.ok:
        rows = ", ".join(f"{n} {t}" for t, n in r.rows.items())
        typer.echo(f"target matches Assent at seq {r.last_seq} ({rows} rows)")
    else:
        for t in r.tables:
            if r.missing[t] or r.extra[t]:
                typer.echo(f"{t}: {r.missing[t]} rows missing from the target, {r.extra[t]} extra in it")
        for m in r.examples:
            typer.echo(f"  {m.side} in {m.table}: {tuple(str(v) for v in m.row)}")
    if not r.ok:
        raise typer.Exit(1)
