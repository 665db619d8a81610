"""Import benchmark: `assent profiles import … --subscribe email` against the floor.

Generates N deterministic synthetic profiles (email + phone, about 1% invalid), imports them with
the real `assent` command into a fresh database, then measures the floor: the same final rows
(profiles, consents, ledger events) written by the plain driver — sqlite3 `executemany`, or COPY
on PostgreSQL — into a fresh copy of the same schema with the same indexes, with no validation.
Prints profiles/s for both and the ratio. Not a test: it asserts nothing.

    python bench/import_bench.py --profiles 1000000 [--db URL] [--json]

With --db a PostgreSQL server URL, the two fresh databases are created on that server and dropped.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from assent.services import accounts, synthetic
from assent.store.db import database_url, make_engine, upgrade

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

    def drop(self) -> None:
        self.engine.dispose()
        if self.name:
            with create_engine(self.server, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def run_import(db: Database, account_id: str, csv_path: Path, rejects: Path) -> float:
    assent = shutil.which("assent", path=str(Path(sys.executable).parent)) or "assent"
    cmd = [assent, "profiles", "import", str(csv_path), "--account", account_id, "--subscribe", "email",
           "--rejects", str(rejects), "--db", db.url, "--json"]
    started = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    db.report = json.loads(out.stdout)
    return elapsed


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


def write_floor(db: Database, rows: dict[str, tuple[list[str], list[tuple]]]) -> float:
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        started = time.perf_counter()
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
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--db", help="PostgreSQL server URL (default: SQLite files in a temporary folder)")
    parser.add_argument("--invalid", type=float, default=0.01, help="share of rows with a bad email or phone")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = synthetic.write_csv(work / "profiles.csv", args.profiles, invalid_ratio=args.invalid)
        assent_db = Database(args.db, work, "assent")
        floor_db = Database(args.db, work, "floor")
        try:
            account = accounts.create_account(assent_db.engine, "Bench", "US").account.id
            seconds = run_import(assent_db, account, csv_path, work / "rejects.csv")
            rows = final_rows(assent_db)
            # The floor database needs the same account row the ledger's head points at.
            with floor_db.engine.begin() as conn, assent_db.engine.connect() as src:
                acc = src.execute(text("SELECT * FROM accounts")).mappings().one()
                conn.execute(text("INSERT INTO accounts VALUES (" + ",".join(f":{k}" for k in acc) + ")"), dict(acc))
            floor_seconds = write_floor(floor_db, rows)
        finally:
            assent_db.drop()
            floor_db.drop()
    n = args.profiles
    result = {
        "profiles": n,
        "backend": "sqlite" if assent_db.is_sqlite else "postgresql",
        "report": assent_db.report,
        "rows_written": {t: len(rows[t][1]) for t in TABLES},
        "assent_seconds": round(seconds, 2),
        "assent_profiles_per_s": round(n / seconds),
        "floor_seconds": round(floor_seconds, 2),
        "floor_profiles_per_s": round(n / floor_seconds),
        "ratio": round(seconds / floor_seconds, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{n} profiles on {result['backend']}: {result['report']}")
        print(f"  rows written: {result['rows_written']}")
        print(f"  assent import: {seconds:8.2f} s  {result['assent_profiles_per_s']:>9,} profiles/s")
        print(f"  floor (driver): {floor_seconds:7.2f} s  {result['floor_profiles_per_s']:>9,} profiles/s")
        print(f"  ratio: {result['ratio']}x the floor")


if __name__ == "__main__":
    main()
