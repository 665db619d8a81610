"""`assent sync` into MySQL or MariaDB: PyMySQL, big batches sent with LOAD DATA LOCAL INFILE (a
file of tab-separated lines, in the transaction), small ones and servers that refuse local files
with a batched `executemany`. Times are DATETIME(6) in UTC, booleans BOOLEAN."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql

from ..domain import DomainError
from ..domain.mirror import TableSource
from .sync_target import KINDS, TABLE_NAMES, SqlTarget, columns

LOAD_DATA_FROM = 2000  # rows; fewer go through executemany
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
_REFUSED = {1148, 3948, 2068}  # the server or client does not allow LOAD DATA LOCAL


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return _utc(value).isoformat(" ", "microseconds")
    return str(value).translate(_ESCAPES)


class MysqlTarget(SqlTarget):
    types = {"id": "VARCHAR(64)", "short": "VARCHAR(40)", "name": "VARCHAR(255)", "email": "VARCHAR(320)",
             "text": "TEXT", "time": "DATETIME(6)", "bool": "BOOLEAN", "seq": "BIGINT"}  # fmt: skip
    unavailable = (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError)

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if not database:
            raise DomainError("to", "a MySQL URL names its database: mysql://user:password@host:3306/dbname", url)
        self.host, self.port, self.database = parts.hostname or "127.0.0.1", parts.port or 3306, database
        self.user, self.password = unquote(parts.username or "root"), unquote(parts.password or "")
        self.display = f"the MySQL target {self.host}:{self.port}/{database}"
        self.load_data = True

    def _connect(self) -> Any:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, database=self.database,
            charset="utf8mb4", local_infile=True, autocommit=False, connect_timeout=5,
        )  # fmt: skip

    def _begin(self, conn: Any) -> None:
        conn.begin()

    def ddl(self) -> list[str]:
        return [s + " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" for s in super().ddl()]

    def _out(self, table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_utc(v) if isinstance(v, datetime) else v for v in row)

    def _out_time(self, value: datetime) -> Any:
        return _utc(value)

    def _time_in(self, value: Any) -> datetime | None:
        return value.replace(tzinfo=UTC)

    def _copy(self, cur: Any, table: str, source: TableSource) -> int:
        times = [i for i, c in enumerate(columns(table)) if KINDS[c] == "time"]

        def rows() -> Any:  # a SQLite source's ISO 8601 text times become datetimes
            for row in source.rows():
                out = list(row)
                for i in times:
                    if isinstance(out[i], str):
                        out[i] = datetime.fromisoformat(out[i])
                yield tuple(out)

        return super()._copy(cur, table, TableSource(rows))

    def _insert(self, cur: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.load_data and len(rows) >= LOAD_DATA_FROM:
            try:
                self._load(cur, table, rows)
                return
            except pymysql.err.MySQLError as e:
                if not (e.args and e.args[0] in _REFUSED):
                    raise
                self.load_data = False
        super()._insert(cur, table, rows)

    def _load(self, cur: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        fd, path = tempfile.mkstemp(prefix="assent-sync-", suffix=".tsv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.writelines("\t".join(map(_field, row)) + "\n" for row in rows)
            names = ",".join(columns(table))
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {TABLE_NAMES[table]} CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({names})",
                (path,),
            )
        finally:
            os.unlink(path)
