"""Import benchmark: `assent profiles import … --subscribe email` against the floor.

Generates N deterministic synthetic profiles (email + phone, about 1% invalid), imports them with
the real `assent` command into a fresh database, then measures the floor: the same final rows
(profiles with their consent summaries, consents, ledger events) written by the plain driver — sqlite3
`executemany`, or COPY on PostgreSQL — into a fresh copy of the same schema with the same indexes,
with no validation. Prints profiles/s and CPU seconds for both and the ratios. It also imports the
unchanged file again into the same database right after the first import (it must change nothing)
and prints that time against the first import's, with each import's peak RSS. Not a test: it
asserts nothing.

    python bench/import_bench.py --profiles 1000000 [--db URL] [--no-reimport] [--json]

With --db a PostgreSQL server URL, the two fresh databases are created on that server and dropped.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from assent.services.accounts import accounts
from assent.services.demo import synthetic
from assent.store.db import database_url, make_engine, upgrade
from harness import assent_command, run_measured

# Every table the import writes rows to for this file (the consent summary is in the profiles' rows).
TABLES = ("profiles", "consents", "consent_events")


class Database:
    """A fresh, migrated database: a SQLite file in a temporary folder, or a new PostgreSQL database."""

    def __init__(self, server: str | None, workdir: Path, name: str) -> None:
        self.server = database_url(server) if server else None
        if self.server and make_url(self.server).get_backend_name() == "postgresql":
            self.name = f"assent_bench_{name}_{secrets.token_hex(3)}"
            with create_engine(self.server, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = make_url(self.server).set(database=self.name).render_as_string(hide_password=False)
        else:
            self.name = None
            self.url = f"sqlite:///{workdir / (name + '.db')}"
        self.engine = make_engine(self.url)
        upgrade(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.name is None

    def settle(self) -> None:
        """PostgreSQL: write out what earlier work left dirty (CHECKPOINT), so that a measured phase
        does not pay for flushing another's writes, nor for a checkpoint their WAL would set off."""
        if self.is_sqlite:
            return
        with create_engine(self.server, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("CHECKPOINT"))

    def drop(self) -> None:
        self.engine.dispose()
        if self.name:
            with create_engine(self.server, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def run_import(db: Database, account_id: str, csv_path: Path, rejects: Path) -> tuple[float, dict, int, float]:
    """Wall seconds, the import's own report, the command's peak RSS in MB and its CPU seconds (with
    its worker processes'; not the PostgreSQL server's)."""
    cmd = [assent_command(), "profiles", "import", str(csv_path), "--account", account_id, "--subscribe", "email",
           "--rejects", str(rejects), "--db", db.url, "--json"]  # fmt: skip
    run = run_measured(cmd)
    if run.exit_code != 0:
        raise RuntimeError(f"import failed ({run.exit_code}): {run.stderr.decode()[-2000:]}")
    return run.seconds, json.loads(run.stdout), run.peak_rss_mb, run.cpu_seconds


def final_rows(db: Database) -> dict[str, tuple[list[str], list[tuple]]]:
    rows = {}
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for table in TABLES:
            cur = raw.cursor()
            cur.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cur.description]
            rows[table] = (columns, cur.fetchall())
            cur.close()
    return rows


def write_floor(db: Database, rows: dict[str, tuple[list[str], list[tuple]]]) -> tuple[float, float]:
    """Wall and CPU seconds (this process's) of writing the rows with the bare driver."""
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        started, cpu = time.perf_counter(), time.process_time()
        if db.is_sqlite:
            raw.execute("BEGIN")
            for table, (columns, data) in rows.items():
                marks = ",".join("?" * len(columns))
                raw.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", data)
            raw.execute("COMMIT")
        else:
            with raw.cursor() as cur:
                for table, (columns, data) in rows.items():
                    with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            raw.commit()
        return time.perf_counter() - started, time.process_time() - cpu


def figures(result: dict) -> list[dict]:
    """The rows run_all.py prints (issue 15's goals)."""
    n, backend = result["profiles"], {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[result["backend"]]
    floor = "bare executemany" if result["backend"] == "sqlite" else "COPY"
    goal = "<= 1.5x floor" if n >= 1_000_000 else "<= 2x floor"
    rows = [{"path": f"import {n:,}, {backend}, profiles/s", "assent": result["assent_profiles_per_s"],
             "floor": result["floor_profiles_per_s"], "floor_kind": floor, "ratio": result["ratio"], "goal": goal,
             "detail": f"{result['assent_seconds']} s vs {result['floor_seconds']} s; CPU "
             f"{result['cpu_seconds']} s vs {result['floor_cpu_seconds']} s"}]  # fmt: skip
    r = result.get("reimport")
    if r:
        rows.append({"path": f"re-import of the unchanged {n:,}, {backend}, s", "assent": r["seconds"],
                     "floor": result["assent_seconds"], "floor_kind": "the first import", "ratio": r["ratio_to_first"],
                     "goal": "<= 0.25x first import, RSS <= 300 MB",
                     "detail": f"CPU {r['cpu_seconds']} s ({r['cpu_ratio_to_first']}x); peak RSS {r['peak_rss_mb']} MB "
                     f"(first {result['peak_rss_mb']} MB)"})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--db", help="PostgreSQL server URL (default: SQLite files in a temporary folder)")
    parser.add_argument("--invalid", type=float, default=0.01, help="share of rows with a bad email or phone")
    parser.add_argument("--no-reimport", action="store_true", help="skip importing the unchanged file again")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.profiles < 1:
        parser.error("--profiles: give at least 1")
    if args.db and make_url(database_url(args.db)).get_backend_name() != "postgresql":
        parser.error("--db: a PostgreSQL server URL (without it, the bench uses SQLite files of its own)")
    if args.db:
        try:
            with create_engine(database_url(args.db)).connect():
                pass
        except OperationalError as e:
            parser.error(f"--db: cannot connect: {str(e.orig).strip().splitlines()[0]}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = synthetic.write_csv(work / "profiles.csv", args.profiles, invalid_ratio=args.invalid)
        assent_db = Database(args.db, work, "assent")
        floor_db = Database(args.db, work, "floor")
        try:
            account = accounts.create_account(assent_db.engine, "Bench", "US").account.id
            assent_db.settle()
            seconds, report, rss, cpu = run_import(assent_db, account, csv_path, work / "rejects.csv")
            again = None
            if not args.no_reimport:
                assent_db.settle()
                again = run_import(assent_db, account, csv_path, work / "rejects-again.csv")
            rows = final_rows(assent_db)
            # The floor database needs the same account row the ledger's head points at.
            with floor_db.engine.begin() as conn, assent_db.engine.connect() as src:
                acc = src.execute(text("SELECT * FROM accounts")).mappings().one()
                conn.execute(text("INSERT INTO accounts VALUES (" + ",".join(f":{k}" for k in acc) + ")"), dict(acc))
            floor_db.settle()
            floor_seconds, floor_cpu = write_floor(floor_db, rows)
        finally:
            assent_db.drop()
            floor_db.drop()
    n = args.profiles
    result = {
        "profiles": n,
        "backend": "sqlite" if assent_db.is_sqlite else "postgresql",
        "report": report,
        "rows_written": {t: len(rows[t][1]) for t in TABLES},
        "assent_seconds": round(seconds, 2),
        "assent_profiles_per_s": round(n / seconds),
        "floor_seconds": round(floor_seconds, 2),
        "floor_profiles_per_s": round(n / floor_seconds),
        "ratio": round(seconds / floor_seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "floor_cpu_seconds": round(floor_cpu, 2),
        "cpu_ratio": round(cpu / floor_cpu, 2),
        "peak_rss_mb": rss,
    }
    if again is not None:
        result["reimport"] = {"seconds": round(again[0], 2), "ratio_to_first": round(again[0] / seconds, 2),
                              "report": again[1], "peak_rss_mb": again[2], "cpu_seconds": round(again[3], 2),
                              "cpu_ratio_to_first": round(again[3] / cpu, 2)}  # fmt: skip
    result["figures"] = figures(result)
    if args.json:
        print(json.dumps(result))
    else:
        counts = ", ".join(f"{v:,} {k}" for k, v in report.items() if k not in ("file", "first_rejected"))
        print(f"{n:,} profiles on {result['backend']}: {counts}")
        print("  rows written: " + ", ".join(f"{v:,} {k}" for k, v in result["rows_written"].items()))
        server = "" if result["backend"] == "sqlite" else ", not the server's"
        print(f"  (CPU: the importing command's and its workers'; the floor's: this process's{server})")
        print(f"  assent import: {seconds:8.2f} s  {result['assent_profiles_per_s']:>9,} profiles/s  CPU {cpu:.2f} s")
        floor_rate = result["floor_profiles_per_s"]
        print(f"  floor (driver): {floor_seconds:7.2f} s  {floor_rate:>9,} profiles/s  CPU {floor_cpu:.2f} s")
        print(f"  ratio: {result['ratio']}x the floor (CPU {result['cpu_ratio']}x); peak RSS {rss} MB")
        if again is not None:
            r = result["reimport"]
            print(
                f"  re-import of the unchanged file: {r['seconds']:6.2f} s, {r['ratio_to_first']}x the first import "
                f"(CPU {r['cpu_seconds']:.2f} s, {r['cpu_ratio_to_first']}x), peak RSS {r['peak_rss_mb']} MB: "
                f"{r['report']['rows']:,} rows, {r['report']['unchanged']:,} unchanged, "
                f"{r['report']['events']:,} events"
            )


if __name__ == "__main__":
    main()
