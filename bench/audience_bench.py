"""Audience benchmark: counts by reason and streaming the allowed addresses over N profiles.

Builds a fresh database of N profiles whose consent states follow decide_bench.py's realistic mix
(email subscribed, never subscribed or unsubscribed; some SMS, push and WhatsApp consent; a few
suppressed; list memberships, list suppressions, pending double opt-ins), written as the
projection holds them with the bare driver (sqlite3 executemany, COPY on PostgreSQL): importing a
million profiles through `assent profiles import` is import_bench.py's subject, not this one's.
Then it times, through the service the API and the CLI call:

- counts by reason (`assent audience count`) for several sends, over every profile and over a list;
- streaming the allowed profiles' ids and addresses, in profiles/s;
- `assent audience export` to a file (NDJSON, and Meta's hashed format), as a subprocess, with
  its wall time and peak RSS.

Prints the figures against the goals (counts <= 1 s on PostgreSQL, <= 2 s on SQLite; streaming
>= 200,000 profiles/s). Not a test: it asserts nothing.

    python bench/audience_bench.py [--profiles 1000000] [--db postgresql://127.0.0.1:5432/test] [--json]

Seeding a million profiles takes minutes; `--reuse URL` keeps the seeded database for the next
run instead: a SQLite URL (the file is made if missing) or the URL of an existing, empty or
earlier seeded, PostgreSQL database. It is migrated, seeded only when it holds no bench account
(with --profiles; a database seeded with another number is used as it is), and not dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from assent.domain import Channel, Purpose, Via
from assent.domain.summary import SUMMARY_COLUMNS
from assent.services.accounts import accounts
from assent.services.audiences import resolution as audiences
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.store import bulk, forms, projection
from assent.store.audiences import roomy, streamed_rows
from assent.store.db import make_engine, read_transaction, upgrade
from assent.store.tables import PROFILE_FIELDS, lists, profiles
from assent.store.tables import accounts as account_table
from decide_bench import LISTS, make_state
from harness import assent_command, run_measured
from import_bench import Database

CHUNK = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNT_GOAL = {"sqlite": 2.0, "postgresql": 1.0}
STREAM_GOAL = 200_000
COUNTRIES = ["US", "US", "US", "DE", "FR", "GB", "CA", ""]
ACCOUNT_NAME = "Bench audiences"


class Reused(Database):
    """An existing database given by URL (--reuse), migrated, kept after the run."""

    def __init__(self, url: str) -> None:  # Database's fresh database is not made
        self.server, self.url = url, url
        self.name = None if make_url(url).get_backend_name() == "sqlite" else make_url(url).database
        self.engine = make_engine(url)
        upgrade(self.engine)

    def drop(self) -> None:
        self.engine.dispose()

    def seeded(self) -> str | None:
        """The bench account's id, if an earlier run seeded this database."""
        with self.engine.connect() as conn:
            return conn.execute(select(account_table.c.id).where(account_table.c.name == ACCOUNT_NAME)).scalar()


def populate(db: Database, n: int) -> str:
    account_id = accounts.create_account(db.engine, ACCOUNT_NAME, "US").account.id
    dialect = db.engine.dialect.name
    rng = random.Random(10)
    columns = ("account_id", "id", *PROFILE_FIELDS, "properties", "created_at", "updated_at", *SUMMARY_COLUMNS)
    with db.engine.begin() as conn:
        now = bulk.db_time(dialect, T0)
        lrows = [(account_id, name, name, "single_opt_in", now, now) for name in LISTS]
        bulk.insert_rows(conn, lists, ("account_id", "id", "name", "opt_in_process", "created_at", "updated_at"),
                         bulk.ready_rows(dialect, lrows))  # fmt: skip
    for start in range(0, n, CHUNK):
        rows = projection.empty_rows()
        prows = []
        for i in range(start, min(n, start + CHUNK)):
            state = make_state(rng, i)
            pid = f"P{i:025d}"
            own = projection.empty_rows()
            projection.add_state_rows(own, account_id, pid, state, lambda v: bulk.db_time(dialect, v))
            summary = forms.take_summary(own)  # written in the profile's row, as the import writes it
            for table, table_rows in own.items():
                rows[table] += table_rows
            fields = dict.fromkeys(PROFILE_FIELDS)
            fields.update(email=state.email, phone_number=state.phone_number, first_name="Ada", last_name=f"L{i}",
                          country=rng.choice(COUNTRIES))  # fmt: skip
            if rng.random() < 0.9:
                fields.update(address1=f"{i} Main St", city="Springfield", zip=f"{i % 99999:05d}")
            prows.append((account_id, pid, *fields.values(), "{}", now, now, *summary))
        with db.engine.begin() as conn:
            bulk.insert_rows(conn, profiles, columns, bulk.ready_rows(dialect, prows))
            for table in projection.PROJECTION_TABLES:
                data = rows[table.name]
                if data:
                    bulk.insert_rows(conn, table, projection.COLUMNS[table.name], bulk.ready_rows(dialect, data))
    if dialect == "postgresql":
        raw = db.engine.raw_connection()
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute("VACUUM ANALYZE")
        raw.driver_connection.autocommit = False  # back to the pool as the services expect it
        raw.close()
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return account_id


def _pid_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall time and CPU time of a phase: this process's, plus, on PostgreSQL (on this machine),
    the backend's that serves the engine's one pooled connection (the services reuse it). The
    machine is shared, so CPU seconds are the figure other work does not inflate; parallel query
    workers are not counted."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> Clock:
        self.pid = None
        if not self.db.is_sqlite:
            with self.db.engine.connect() as conn:
                self.pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        self.wall, self.cpu = time.perf_counter(), time.process_time() + _pid_cpu(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() + _pid_cpu(self.pid) - self.cpu


def best_of(db: Database, fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Best wall and best CPU seconds of `repeat` runs, and the last result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        with Clock(db) as clock:
            result = fn()
        wall, cpu = min(wall, clock.wall), min(cpu, clock.cpu)
    return wall, cpu, result


def floors(db: Database, account_id: str, repeat: int) -> dict[str, dict[str, float]]:
    """The same machine's floor, in the same run: one pass over every profile's row that decides
    nothing (the least a count can read), and every profile's id and addresses read through the
    raw driver as the stream reads them (the least a stream can cost)."""
    scan = select(func.count(profiles.c.email)).where(profiles.c.account_id == account_id, profiles.c.id >= "")
    ids = select(profiles.c.id, profiles.c.email, profiles.c.phone_number).where(profiles.c.account_id == account_id)

    def count() -> int:
        with read_transaction(db.engine) as conn:
            return int(conn.execute(scan).scalar_one())

    def read() -> int:
        with read_transaction(db.engine) as conn:
            roomy(conn)
            return sum(1 for _ in streamed_rows(conn, ids.order_by(profiles.c.id)))

    out = {}
    for name, fn in (("scan", count), ("read", read)):
        wall, cpu, n = best_of(db, fn, repeat)
        out[name] = {"seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "profiles": n}
    return out


def export(db: Database, account_id: str, fmt: str, out: Path) -> dict[str, Any]:
    """`assent audience export` as a subprocess (`count`: `assent audience count`, the baseline
    of the same process without the file): wall and CPU seconds, peak RSS."""
    what = ["count"] if fmt == "count" else ["export", "--format", fmt, "--output", str(out)]
    cmd = [assent_command(), "audience", *what, "--account", account_id, "--all", "--db", db.url, "--json"]
    run = run_measured(cmd)
    if run.exit_code != 0:
        raise RuntimeError(f"export failed: {run.stderr.decode()[-2000:]}")
    rows, cpu, elapsed = json.loads(run.stdout).get("written") or 0, run.cpu_seconds, run.seconds
    return {"format": fmt, "seconds": round(elapsed, 2), "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": run.peak_rss_mb, "rows": rows, "rows_per_s": round(rows / elapsed),
            "rows_per_cpu_s": round(rows / cpu) if cpu else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--db", help="PostgreSQL server URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-export", action="store_true", help="skip the export subprocesses")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reuse", metavar="URL", help="seed this database once and keep it (see above)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = Reused(args.reuse) if args.reuse else Database(args.db, work, "audience")
        backend = "sqlite" if db.is_sqlite else "postgresql"
        try:
            started = time.perf_counter()
            found = db.seeded() if isinstance(db, Reused) else None
            account_id = found or populate(db, args.profiles)
            build = time.perf_counter() - started
            everyone, in_list = (Source("all"),), (Source("list", LISTS[0]),)
            shapes = {
                "email campaign, all profiles": AudienceQuery(everyone),
                "email campaign, all profiles less a list": AudienceQuery(everyone, (Source("list", LISTS[1]),)),
                "email campaign to a list": AudienceQuery(in_list, list_id=LISTS[0]),
                "sms marketing, all profiles": AudienceQuery(everyone, channel=Channel.SMS),
                "sms transactional flow, two lists": AudienceQuery((*in_list, Source("list", LISTS[2])),
                                                                   channel=Channel.SMS, purpose=Purpose.TRANSACTIONAL,
                                                                   via=Via.FLOW),
            }  # fmt: skip
            floor = floors(db, account_id, args.repeat)
            counts = {}
            for name, q in shapes.items():
                seconds, cpu, result = best_of(db, lambda q=q: audiences.count(db.engine, account_id, q), args.repeat)
                counts[name] = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                                "candidates": result.candidates,
                                "allowed": result.allowed, "goal_s": COUNT_GOAL[backend],
                                "denied_by": {r.code: r.count for r in result.denied_by}}  # fmt: skip
            q = AudienceQuery(everyone)
            with Clock(db) as clock:
                streamed = sum(1 for _ in audiences.allowed(db.engine, account_id, q))
            stream_s, stream_cpu = clock.wall, clock.cpu
            formats = () if args.no_export else ("count", "ndjson", "meta", "postal")
            exports = [export(db, account_id, f, work / f"out.{f}") for f in formats]
        finally:
            db.drop()
    result = {
        "profiles": args.profiles,
        "backend": backend,
        "build_seconds": round(build, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "floor": floor,
        "counts": counts,
        "stream": {
            "profiles": streamed,
            "seconds": round(stream_s, 2),
            "profiles_per_s": round(streamed / stream_s),
            "cpu_seconds": round(stream_cpu, 2),
            "profiles_per_cpu_s": round(streamed / stream_cpu) if stream_cpu else None,
            "goal_per_s": STREAM_GOAL,
        },  # fmt: skip
        "exports": exports,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.profiles:,} profiles on {backend} (built in {build:.0f} s)")
    print(
        "  wall seconds on a shared machine; CPU seconds (this process and the PostgreSQL backend) beside them; "
        f"load average {' '.join(str(x) for x in result['load_average'])} at the end"
    )
    scan, read = floor["scan"], floor["read"]
    print(
        f"  floor: one pass over every profile {scan['seconds']:.3f} s (CPU {scan['cpu_seconds']:.3f} s); "
        f"reading every id and address {read['seconds']:.3f} s = {read['profiles'] / read['seconds']:,.0f}/s "
        f"(CPU {read['cpu_seconds']:.3f} s)"
    )
    for name, c in counts.items():
        print(f"  count by reason, {name}: {c['seconds']:.3f} s, CPU {c['cpu_seconds']:.3f} s "
              f"(goal <= {c['goal_s']} s), {c['seconds'] / scan['seconds']:.1f}x the floor's pass; "
              f"{c['allowed']:,} of {c['candidates']:,} allowed")  # fmt: skip
    s = result["stream"]
    print(f"  stream allowed ids and addresses: {s['profiles']:,} in {s['seconds']} s = {s['profiles_per_s']:,}/s, "
          f"per CPU second {s['profiles_per_cpu_s']:,}/s (goal >= {STREAM_GOAL:,}/s), "
          f"{s['seconds'] / read['seconds']:.1f}x the floor's read")  # fmt: skip
    for e in exports:
        what = "audience count" if e["format"] == "count" else f"audience export --format {e['format']}"
        print(f"  assent {what}: {e['rows']:,} rows in {e['seconds']} s (CPU {e['cpu_seconds']} s, "
              f"{e['rows_per_cpu_s'] or 0:,} rows per CPU second), peak RSS {e['peak_rss_mb']} MB")  # fmt: skip


if __name__ == "__main__":
    main()
