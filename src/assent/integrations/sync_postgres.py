"""`assent sync` into PostgreSQL: psycopg 3, rows sent with binary COPY inside the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from ..domain.mirror import TableSource
from .sync_target import KINDS, TABLE_NAMES, SqlTarget, columns

_COPY_TYPES = {"id": "text", "short": "text", "name": "text", "email": "text", "text": "text",
               "time": "timestamptz", "bool": "bool"}  # fmt: skip


class PostgresTarget(SqlTarget):
    types = {"id": "VARCHAR(64)", "short": "VARCHAR(40)", "name": "VARCHAR(255)", "email": "VARCHAR(320)",
             "text": "TEXT", "time": "TIMESTAMPTZ", "bool": "BOOLEAN", "seq": "BIGINT"}  # fmt: skip
    unavailable = (psycopg.OperationalError, psycopg.InterfaceError, OSError)

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.display = "the PostgreSQL target"

    def _connect(self) -> Any:
        return psycopg.connect(self.url, connect_timeout=5)

    def _insert(self, cur: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        names = columns(table)
        with cur.copy(f"COPY {TABLE_NAMES[table]} ({','.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_COPY_TYPES[KINDS[c]] for c in names])
            for row in rows:
                copy.write_row(row)

    def _copy(self, cur: Any, table: str, source: TableSource) -> int:
        """A whole table in one text COPY: a PostgreSQL source's own COPY output passed through
        chunk by chunk, or the source's tuples written row by row (text format, so SQLite's 0/1
        booleans and ISO 8601 times are taken as they come)."""
        names = ",".join(columns(table))
        with cur.copy(f"COPY {TABLE_NAMES[table]} ({names}) FROM STDIN") as copy:
            if source.copy_text is not None:
                source.copy_text(copy.write)
            else:
                write = copy.write_row
                for row in source.rows():
                    write(row)
        return int(cur.rowcount)

    def _delete_profiles(self, cur: Any, table: str, account_id: str, profile_ids: Sequence[str]) -> None:
        cur.execute(
            f"DELETE FROM {TABLE_NAMES[table]} WHERE account_id = %s AND profile_id = ANY(%s)",
            (account_id, list(profile_ids)),
        )

    def _time_in(self, value: Any) -> datetime | None:
        return value.astimezone(UTC)
