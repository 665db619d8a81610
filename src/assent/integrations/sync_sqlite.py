"""`assent sync` into a SQLite file: sqlite3 `executemany` in one transaction, times as ISO 8601
text in UTC (`2026-05-01T12:00:00.000000+00:00`), booleans as 0 and 1."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .sync_target import KINDS, SqlTarget, columns


def _time_out(value: datetime | str | None) -> str | None:
    """A time as the target stores it; text from a SQLite source is already in that form."""
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteTarget(SqlTarget):
    placeholder = "?"
    types = {"id": "TEXT", "short": "TEXT", "name": "TEXT", "email": "TEXT", "text": "TEXT", "time": "TEXT",
             "bool": "INTEGER", "seq": "INTEGER"}  # fmt: skip
    unavailable = (sqlite3.OperationalError,)

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.display = f"the SQLite file {path}"

    def _connect(self) -> Any:
        if not self.path.parent.is_dir():
            raise sqlite3.OperationalError(f"no folder {self.path.parent}")
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def _out(self, table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i in _time_positions(table):
            out[i] = _time_out(out[i])
        return tuple(out)

    def _out_time(self, value: datetime) -> Any:
        return _time_out(value)

    def _time_in(self, value: Any) -> datetime | None:
        return datetime.fromisoformat(value)


_TIMES: dict[str, tuple[int, ...]] = {}


def _time_positions(table: str) -> tuple[int, ...]:
    if table not in _TIMES:
        _TIMES[table] = tuple(i for i, c in enumerate(columns(table)) if KINDS[c] == "time")
    return _TIMES[table]
