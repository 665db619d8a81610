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
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assent.domain import Channel, Purpose, Via
from assent.services.accounts import accounts
from assent.services.audiences import resolution as audiences
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.store import bulk, projection
from assent.store.tables import PROFILE_FIELDS, lists, profiles
from decide_bench import LISTS, make_state
from harness import assent_command
from import_bench import Database

CHUNK = 100_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNT_GOAL = {"sqlite": 2.0, "postgresql": 1.0}
STREAM_GOAL = 200_000
COUNTRIES = ["US", "US", "US", "DE", "FR", "GB", "CA", ""]


def populate(db: Database, n: int) -> str:
    account_id = accounts.create_account(db.engine, "Bench audiences", "US").account.id
    dialect = db.engine.dialect.name
    rng = random.Random(10)
    columns = ("account_id", "id", *PROFILE_FIELDS, "properties", "created_at", "updated_at")
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
            projection.add_state_rows(rows, account_id, pid, state, lambda v: bulk.db_time(dialect, v))
            fields = dict.fromkeys(PROFILE_FIELDS)
            fields.update(email=state.email, phone_number=state.phone_number, first_name="Ada", last_name=f"L{i}",
                          country=rng.choice(COUNTRIES))  # fmt: skip
            if rng.random() < 0.9:
                fields.update(address1=f"{i} Main St", city="Springfield", zip=f"{i % 99999:05d}")
            prows.append((account_id, pid, *fields.values(), "{}", now, now))
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
        raw.close()
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return account_id


def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def export(db: Database, account_id: str, fmt: str, out: Path) -> dict[str, Any]:
    cmd = [assent_command(), "audience", "export", "--account", account_id, "--all", "--format", fmt,
           "--output", str(out), "--db", db.url, "--json"]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        stdout.seek(0), stderr.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"export failed: {stderr.read().decode()[-2000:]}")
        report = json.loads(stdout.read())
    return {"format": fmt, "seconds": round(elapsed, 2), "peak_rss_mb": usage.ru_maxrss // 1024,
            "rows": report.get("written"), "rows_per_s": round((report.get("written") or 0) / elapsed)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--db", help="PostgreSQL server URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-export", action="store_true", help="skip the export subprocesses")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = Database(args.db, work, "audience")
        backend = "sqlite" if db.is_sqlite else "postgresql"
        try:
            started = time.perf_counter()
            account_id = populate(db, args.profiles)
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
            counts = {}
            for name, q in shapes.items():
                seconds, result = best_of(lambda q=q: audiences.count(db.engine, account_id, q), args.repeat)
                counts[name] = {"seconds": round(seconds, 3), "candidates": result.candidates,
                                "allowed": result.allowed, "goal_s": COUNT_GOAL[backend],
                                "denied_by": {r.code: r.count for r in result.denied_by}}  # fmt: skip
            q = AudienceQuery(everyone)
            started = time.perf_counter()
            streamed = sum(1 for _ in audiences.allowed(db.engine, account_id, q))
            stream_s = time.perf_counter() - started
            formats = () if args.no_export else ("ndjson", "meta", "postal")
            exports = [export(db, account_id, f, work / f"out.{f}") for f in formats]
        finally:
            db.drop()
    result = {
        "profiles": args.profiles,
        "backend": backend,
        "build_seconds": round(build, 1),
        "counts": counts,
        "stream": {
            "profiles": streamed,
            "seconds": round(stream_s, 2),
            "profiles_per_s": round(streamed / stream_s),
            "goal_per_s": STREAM_GOAL,
        },  # fmt: skip
        "exports": exports,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.profiles:,} profiles on {backend} (built in {build:.0f} s)")
    for name, c in counts.items():
        print(f"  count by reason, {name}: {c['seconds']:.3f} s (goal <= {c['goal_s']} s); "
              f"{c['allowed']:,} of {c['candidates']:,} allowed")  # fmt: skip
    s = result["stream"]
    print(f"  stream allowed ids and addresses: {s['profiles']:,} in {s['seconds']} s = {s['profiles_per_s']:,}/s "
          f"(goal >= {STREAM_GOAL:,}/s)")  # fmt: skip
    for e in exports:
        print(f"  assent audience export --format {e['format']}: {e['rows']:,} rows in {e['seconds']} s "
              f"({e['rows_per_s']:,}/s), peak RSS {e['peak_rss_mb']} MB")  # fmt: skip


if __name__ == "__main__":
    main()
