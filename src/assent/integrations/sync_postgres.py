"""`assent sync` into PostgreSQL: psycopg 3, rows sent with binary COPY inside the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

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

    def _delete_profiles(self, cur: Any, table: str, account_id: str, profile_ids: Sequence[str]) -> None:
        cur.execute(
            f"DELETE FROM {TABLE_NAMES[table]} WHERE account_id = %s AND profile_id = ANY(%s)",
            (account_id, list(profile_ids)),
        )

    def _time_in(self, value: Any) -> datetime | None:
        return value.astimezone(UTC)
