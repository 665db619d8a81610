"""Sync benchmark: `assent sync` of N profiles into PostgreSQL (the first full copy), then how soon
`assent sync --follow` applies a change after it commits.

Seeds N synthetic profiles (email subscribed) with `assent profiles import` into a fresh SQLite
file (bench/harness.py), or reuses one given with --source; creates a fresh PostgreSQL database
and runs:

  (a) the first full copy, `assent sync --to postgresql://…`, timed end to end (process start,
      rows worked out in SQL in the source, streamed into a text COPY, commit), with the CPU
      seconds of the sync process and the load average (the machine may be shared); its floor is
      a bare psycopg binary COPY of the very rows it wrote (read back from the target) into an
      empty table of the same shape;
  (b) `assent sync --follow --poll 0.2` running, then --changes subscription changes one at a time
      through Assent's services; for each, the time from just before the change's call (its
      commit is inside it) until the target's recorded seq reaches it (p50, p99, max): an upper
      bound of commit to applied. The goal is within 1 s.

Klaviyo's paging reference: 100 profiles a page at about 1,167 profiles/s (the issue's figure).
Prints figures and asserts nothing.

    python bench/sync_bench.py [--profiles 1000000] [--postgres postgresql://127.0.0.1:5432/test] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent import ledger_events
from assent.services.consent.changes import Locator
from assent.store.db import make_engine
from harness import assent_command, fmt, ratio, seed_sqlite

KLAVIYO_PAGING = 1_167  # profiles/s, 100 a page
GOALS = {"copy_seconds_per_million": 60.0, "follow_seconds": 1.0}


def _database(admin: str, name: str) -> str:
    parts = urlsplit(admin)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _target_seq(conn: psycopg.Connection, account_id: str) -> int:
    row = conn.execute("SELECT last_seq FROM assent_sync_state WHERE account_id = %s", (account_id,)).fetchone()
    return -1 if row is None else int(row[0])


def copy_floor(target: str) -> tuple[float, int]:
    """Seconds for a bare binary COPY of the rows the sync wrote into an empty table shaped like them."""
    with psycopg.connect(target) as conn:
        cols = "account_id, profile_id, channel, purpose, email, phone_number, external_id, status, " \
               "consent_timestamp, last_updated, method, method_detail, custom_method_detail, double_optin, " \
               "double_optin_pending, can_receive"  # fmt: skip
        rows = conn.execute(f"SELECT {cols} FROM assent_consent").fetchall()
        conn.execute("CREATE TABLE floor_consent (LIKE assent_consent INCLUDING ALL)")
        conn.commit()
        types = ["text"] * 8 + ["timestamptz", "timestamptz"] + ["text"] * 3 + ["bool"] * 3
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY floor_consent ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started, len(rows)


def follow_latency(source: str, account_id: str, target: str, changes: int) -> tuple[list[float], list[float]]:
    """Per change: seconds from before its call to applied (an upper bound of commit to applied),
    and from the call's return to applied (a lower bound)."""
    engine = make_engine(source)
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    proc = subprocess.Popen([assent_command(), "sync", "--account", account_id, "--to", target, "--db", source,
                             "--follow", "--poll", "0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)  # fmt: skip
    latencies, after_call = [], []
    try:
        with psycopg.connect(target, autocommit=True) as conn:
            while _target_seq(conn, account_id) < ledger_events.head_seq(engine, account_id):
                time.sleep(0.05)
            # One change more than measured: the first waits for the follower's process to start
            # (the target is already at the head when it is launched), so it is not counted.
            ids = [e.profile_id for e in ledger_events.events_after(engine, account_id, 0, changes + 1).events]
            for i, pid in enumerate(ids):
                locator = Locator("id", pid)
                # Timed from before the call: the commit happens inside it, so this bounds the
                # commit-to-applied time from above (the call's own work after its commit counts too).
                started = time.perf_counter()
                if i % 2 == 0:
                    consent.unsubscribe(engine, account_id, locator, Channel.EMAIL)
                else:
                    consent.subscribe(engine, account_id, locator, [(Channel.EMAIL, Purpose.MARKETING)])
                returned = time.perf_counter()
                head = ledger_events.head_seq(engine, account_id)
                while _target_seq(conn, account_id) < head:
                    time.sleep(0.005)
                applied = time.perf_counter()
                latencies.append(applied - started)
                after_call.append(applied - returned)
                time.sleep(0.1)  # changes arrive one by one, not in a burst
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        engine.dispose()
    return latencies[1:], after_call[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("ASSENT_TEST_POSTGRES_URL",
                                                             "postgresql://127.0.0.1:5432/test"))  # fmt: skip
    parser.add_argument("--source", help="reuse this seeded SQLite file (account: the first one in it)")
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="assent-sync-bench-"))
    if args.source:
        source = f"sqlite:///{args.source}"
        out = subprocess.run([assent_command(), "accounts", "list", "--db", source, "--json"], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        account_id, profiles = json.loads(out)[0]["id"], args.profiles
    else:
        seeded = seed_sqlite(work, args.profiles)
        source, account_id, profiles = seeded.db_url, seeded.paged["id"], args.profiles
    name = f"assent_sync_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    target = _database(args.postgres, name)
    try:
        env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run([assent_command(), "sync", "--account", account_id, "--to", target, "--db", source,
                              "--json"], check=True, capture_output=True, text=True, env=env).stdout  # fmt: skip
        copy_seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        copy_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        load = os.getloadavg()[0]
        report = json.loads(out)
        floor_seconds, floor_rows = copy_floor(target)
        latencies, after_call = follow_latency(source, account_id, target, args.changes)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rate = report["profiles_copied"] / copy_seconds
    ordered = sorted(latencies)
    result: dict[str, Any] = {
        "profiles": profiles,
        "copy_seconds": round(copy_seconds, 2),
        "copy_profiles_per_s": round(rate),
        "copy_cpu_seconds": round(copy_cpu, 2),
        "load_average": round(load, 2),
        "rows_copied": report["rows_copied"],
        "floor_copy_seconds": round(floor_seconds, 2),
        "floor_rows": floor_rows,
        "copy_ratio": ratio(copy_seconds, floor_seconds, higher_is_better=False),
        "times_klaviyo_paging": round(rate / KLAVIYO_PAGING, 1),
        "follow_p50_s": round(statistics.median(ordered), 3),
        "follow_p99_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "follow_max_s": round(ordered[-1], 3),
        "follow_after_call_p50_s": round(statistics.median(after_call), 3),
        "follow_after_call_max_s": round(max(after_call), 3),
        "goals": GOALS,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"first full copy of {profiles:,} profiles to PostgreSQL: {copy_seconds:.1f} s "
          f"({fmt(rate)} profiles/s, {result['times_klaviyo_paging']}x Klaviyo's paging; goal <= "
          f"{GOALS['copy_seconds_per_million'] * profiles / 1e6:.1f} s)")  # fmt: skip
    print(f"  the sync process used {copy_cpu:.1f} CPU s (the source's SQL and the rows' way out; the target "
          f"server's COPY is apart); load average {load:.2f}")  # fmt: skip
    print(f"  floor, bare binary COPY of the {floor_rows:,} consent rows: {floor_seconds:.1f} s "
          f"(ratio {result['copy_ratio']}x)")  # fmt: skip
    print(f"--follow, commit to applied in the target ({len(latencies)} changes): p50 {result['follow_p50_s']} s, "
          f"p99 {result['follow_p99_s']} s, max {result['follow_max_s']} s (goal <= 1 s); from the call's return: "
          f"p50 {result['follow_after_call_p50_s']} s, max {result['follow_after_call_max_s']} s")  # fmt: skip


if __name__ == "__main__":
    main()
