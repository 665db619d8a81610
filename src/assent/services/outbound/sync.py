"""`assent sync`: the account's consent state mirrored into a brand's own database, kept current
from the ledger's sequence.

The first run copies every profile's rows from one consistent snapshot and records the ledger seq
of that snapshot in the target, in the same transaction. The copy is set-based: the source
database works the rows out (store/mirror.py, decide() as the audiences' SQL) and they stream to
the target's bulk path, PostgreSQL to PostgreSQL as COPY text with no row in Python. Later rounds read
the profiles touched by the events after that seq, replace those profiles' rows with their
current state and move the seq, again in one target transaction. So a crash at any point leaves
the target at a committed seq, the next run picks up from there, and replaying a round only
rewrites rows with the same values: nothing is lost or doubled, and re-running is a no-op.

The target adapter (integrations/sync_*.py) is handed in by the caller; this module never
imports it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from ...domain.mirror import TABLES, MirrorRows, TableSource, TargetUnavailable, add_rows, empty_rows
from ...store import mirror, snapshot
from ...store.ledger import head_seq
from ..shared.errors import NotFound

ROUND_EVENTS = 10_000  # events per catch-up round (one target transaction)


class Position(Protocol):
    @property
    def last_seq(self) -> int: ...
    @property
    def tables(self) -> frozenset[str]: ...


class Target(Protocol):
    """A database rows are mirrored into (integrations/sync_target.py)."""

    def prepare(self) -> None: ...
    def position(self, account_id: str) -> Position | None: ...
    def replace_account(
        self,
        account_id: str,
        sources: Mapping[str, TableSource],
        seq: int,
        tables: frozenset[str],
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, int]: ...
    def apply(
        self, account_id: str, profile_ids: Sequence[str], rows: MirrorRows, seq: int, tables: frozenset[str]
    ) -> None: ...
    def rows(self, account_id: str, tables: frozenset[str]) -> MirrorRows: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class SyncReport:
    account_id: str
    tables: list[str]
    full_copy: bool = False
    profiles_copied: int = 0
    rows_copied: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    events_applied: int = 0
    profiles_updated: int = 0
    last_seq: int = 0
    seconds: float = 0.0


def _rows_of(account_id: str, snaps: Iterable[snapshot.ProfileSnapshot], tables: frozenset[str]) -> MirrorRows:
    out = empty_rows()
    for pid, ids, state in snaps:
        add_rows(out, account_id, pid, ids, state, tables)
    return out


def full_copy(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str], report: SyncReport,
    progress: Callable[[int], None] | None = None,
) -> None:  # fmt: skip
    """Replace the account's rows in the target with a copy of one snapshot, and its seq.
    `progress(1)` is called as each table is copied."""
    with snapshot.snapshot_transaction(engine) as conn:
        seq = head_seq(conn, account_id)
        if seq is None:
            raise NotFound("account", "no such account", account_id)
        report.profiles_copied = snapshot.profile_count(conn, account_id)
        text = mirror.copies_text(conn)
        sources = {
            table: TableSource(
                functools.partial(mirror.table_rows, conn, account_id, table),
                functools.partial(mirror.copy_table, conn, account_id, table) if text else None,
            )
            for table in tables
        }
        report.rows_copied = target.replace_account(account_id, sources, seq, tables, progress)
    report.full_copy, report.last_seq = True, seq


def catch_up_round(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str], after: int
) -> tuple[int, int, int]:
    """One round: the profiles touched by the next events after `after`, rewritten with their
    current state, and the target's seq moved past those events. Returns (new seq, events, profiles)."""
    with snapshot.snapshot_transaction(engine) as conn:
        ids, last = snapshot.changed_profiles(conn, account_id, after, ROUND_EVENTS)
        if not ids:
            return after, 0, 0
        snaps = snapshot.states_of(conn, account_id, ids)
    target.apply(account_id, ids, _rows_of(account_id, snaps, tables), last, tables)
    return last, last - after, len(ids)


def sync(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str] = frozenset(TABLES),
    progress: Callable[[int], None] | None = None,
) -> SyncReport:  # fmt: skip
    """Bring the target up to the ledger's head: a full copy the first time (or when the tables
    asked for changed), then the events since the target's seq."""
    started = time.perf_counter()
    report = SyncReport(account_id, sorted(tables))
    target.prepare()
    position = target.position(account_id)
    if position is None or position.tables != tables:
        full_copy(engine, account_id, target, tables, report, progress)
        after = report.last_seq
    else:
        after = position.last_seq
    report.last_seq = catch_up(engine, account_id, target, tables, after, report)
    report.seconds = time.perf_counter() - started
    return report


def catch_up(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str], after: int, report: SyncReport
) -> int:
    while True:
        seq, events, profiles = catch_up_round(engine, account_id, target, tables, after)
        if not events:
            return after
        report.rounds += 1
        report.events_applied += events
        report.profiles_updated += profiles
        after = seq


def follow(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str] = frozenset(TABLES), *,
    poll: float = 0.2, stop: Callable[[], bool] = lambda: False,
    on_round: Callable[[SyncReport], None] | None = None,
    on_unavailable: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SyncReport:  # fmt: skip
    """Sync, then keep applying new events as they commit (polling every `poll` seconds) until
    `stop()` says so. An unreachable target is retried with a growing pause (up to 5 s)."""
    report = SyncReport(account_id, sorted(tables))
    wait, after = poll, None
    while not stop():
        try:
            if after is None:
                first = sync(engine, account_id, target, tables, progress)
                report.full_copy, report.profiles_copied, report.rows_copied = (
                    first.full_copy, first.profiles_copied, first.rows_copied,
                )  # fmt: skip
                report.rounds, report.events_applied = first.rounds, first.events_applied
                report.profiles_updated, after = first.profiles_updated, first.last_seq
            else:
                seq, events, profiles = catch_up_round(engine, account_id, target, tables, after)
                if events:
                    report.rounds += 1
                    report.events_applied += events
                    report.profiles_updated += profiles
                    after = seq
                    report.last_seq = after
                    if on_round:
                        on_round(report)
                    continue  # more may be waiting: no pause
            report.last_seq = after
            wait = poll
        except TargetUnavailable as e:
            if on_unavailable:
                on_unavailable(str(e))
            wait = min(max(wait * 2, 0.5), 5.0)
            after = None  # start again from the target's own record of where it is
        time.sleep(wait)
    return report


@dataclass(frozen=True, slots=True)
class Mismatch:
    table: str
    side: str  # "missing" from the target, "extra" in it
    row: tuple[object, ...]


@dataclass(slots=True)
class VerifyReport:
    account_id: str
    tables: list[str]
    last_seq: int
    rows: dict[str, int]  # source rows per table
    missing: dict[str, int]
    extra: dict[str, int]
    examples: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not any(self.missing.values()) and not any(self.extra.values())


def verify(
    engine: Engine, account_id: str, target: Target, tables: frozenset[str] = frozenset(TABLES), examples: int = 20
) -> VerifyReport:
    """Sync, then compare every row the source gives with what the target holds, at the same seq.

    Rows that differ in any column count as one missing and one extra."""
    for _ in range(5):
        synced = sync(engine, account_id, target, tables)
        with snapshot.snapshot_transaction(engine) as conn:
            seq = head_seq(conn, account_id)
            if seq != synced.last_seq:
                continue  # new events came in meanwhile: catch up again
            want = _rows_of(account_id, snapshot.profile_states(conn, account_id), tables)
        break
    else:
        raise RuntimeError("the ledger kept moving: could not compare at one seq after 5 tries")
    have = target.rows(account_id, tables)
    report = VerifyReport(account_id, sorted(tables), seq, {}, {}, {}, [])
    for table in sorted(tables):
        w, h = set(want[table]), set(have[table])
        report.rows[table] = len(w)
        missing, extra = sorted(w - h, key=repr), sorted(h - w, key=repr)
        report.missing[table], report.extra[table] = len(missing), len(extra)
        report.examples += [Mismatch(table, "missing", tuple(r)) for r in missing[:examples]]
        report.examples += [Mismatch(table, "extra", tuple(r)) for r in extra[:examples]]
    return report
