"""Target databases for `assent sync`: the tables a brand keeps in its own database, and how rows
get there. One class per kind of database (sync_sqlite, sync_postgres, sync_mysql) over the raw
driver; this module holds what they share. They never call services: the sync use case hands them
rows (assent.domain.mirror) and a seq, and they write both in one transaction.

Tables (created when missing; every key starts with account_id, so one database can mirror many
accounts):

- assent_consent        one row per profile and channel/purpose (see domain/mirror.py for which)
- assent_suppressions   one row per suppression (list_id '' for a global one)
- assent_list_members   one row per list membership
- assent_sync_state     per account: the last ledger seq applied and the tables mirrored
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..domain import DomainError
from ..domain.mirror import ROW_TYPES, MirrorRows, TableSource, TargetUnavailable, empty_rows

TABLE_NAMES = {"consent": "assent_consent", "suppression": "assent_suppressions", "lists": "assent_list_members"}
STATE_TABLE = "assent_sync_state"
PRIMARY_KEYS = {
    "consent": ("account_id", "profile_id", "channel", "purpose"),
    "suppression": ("account_id", "profile_id", "list_id", "reason"),
    "lists": ("account_id", "profile_id", "list_id"),
}
# Column kinds; each target says what type each kind is.
KINDS = {
    "account_id": "id", "profile_id": "id", "list_id": "id", "channel": "short", "purpose": "short",
    "status": "short", "reason": "short", "email": "email", "phone_number": "short",
    "external_id": "text", "method": "name", "method_detail": "text", "custom_method_detail": "text",
    "consent_timestamp": "time", "last_updated": "time", "created_at": "time", "joined_at": "time",
    "double_optin": "bool", "double_optin_pending": "bool", "can_receive": "bool",
}  # fmt: skip
CHUNK = 1000  # profile ids per DELETE … IN (…)
COPY_CHUNK = 50_000  # rows per bulk insert during a full copy


@dataclass(frozen=True, slots=True)
class Position:
    last_seq: int
    tables: frozenset[str]


def columns(table: str) -> tuple[str, ...]:
    return tuple(ROW_TYPES[table]._fields)  # type: ignore[attr-defined]  # NamedTuple classes have _fields


class SqlTarget:
    """A database to mirror into, reached through a DB-API driver. Subclasses give the types, the
    connection, the bulk insert and the errors that mean "unreachable, try again"."""

    placeholder = "%s"
    types: dict[str, str] = {}
    unavailable: tuple[type[BaseException], ...] = (OSError,)
    display = ""

    def __init__(self) -> None:
        self._conn: Any = None

    # --- what a subclass gives --------------------------------------------------------------

    def _connect(self) -> Any:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        """Start a transaction (drivers that start one implicitly need nothing)."""

    def _insert(self, cur: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        names = columns(table)
        marks = ",".join([self.placeholder] * len(names))
        sql = f"INSERT INTO {TABLE_NAMES[table]} ({','.join(names)}) VALUES ({marks})"
        cur.executemany(sql, [self._out(table, r) for r in rows])

    def _out(self, table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row as the driver takes it."""
        return row

    def _time_in(self, value: Any) -> datetime | None:
        """A stored time read back as an aware UTC datetime."""
        return value

    # --- the schema -------------------------------------------------------------------------

    def _column(self, name: str) -> str:
        return f"{name} {self.types[KINDS[name]]}{' NOT NULL' if name in _NOT_NULL else ''}"

    def ddl(self) -> list[str]:
        out = []
        for table, pk in PRIMARY_KEYS.items():
            cols = ", ".join(self._column(c) for c in columns(table))
            out.append(f"CREATE TABLE IF NOT EXISTS {TABLE_NAMES[table]} ({cols}, PRIMARY KEY ({', '.join(pk)}))")
        out.append(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (account_id {self.types['id']} NOT NULL, "
            f"last_seq {self.types['seq']} NOT NULL, tables_mirrored {self.types['short']} NOT NULL, "
            f"updated_at {self.types['time']} NOT NULL, PRIMARY KEY (account_id))"
        )
        return out

    # --- connection and transactions -----------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = self._connect()
            except self.unavailable as e:
                raise TargetUnavailable(f"cannot reach {self.display}: {_first_line(e)}") from None
        return self._conn

    def _run(self, work: Any) -> Any:
        """Run `work(cursor)` in one transaction; an unreachable target drops the connection (the
        next call reconnects) and raises TargetUnavailable. Nothing is half-applied: the
        transaction either commits whole or not at all."""
        conn = self._connection()
        try:
            self._begin(conn)
            cur = conn.cursor()
            try:
                result = work(cur)
            finally:
                cur.close()
            conn.commit()
            return result
        except self.unavailable as e:
            self.close()
            raise TargetUnavailable(f"lost {self.display}: {_first_line(e)}") from None
        except BaseException:
            try:
                conn.rollback()
            except self.unavailable:
                self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a connection already gone cannot be closed twice
                conn.close()

    # --- what the sync use case calls -------------------------------------------------------

    def prepare(self) -> None:
        """Create the tables that are missing (idempotent)."""

        def work(cur: Any) -> None:
            for statement in self.ddl():
                cur.execute(statement)

        self._run(work)

    def position(self, account_id: str) -> Position | None:
        """Where the account's mirror stands, or None before its first full copy."""

        def work(cur: Any) -> Any:
            cur.execute(f"SELECT last_seq, tables_mirrored FROM {STATE_TABLE} WHERE account_id = {self.placeholder}",
                        (account_id,))  # fmt: skip
            return cur.fetchone()

        row = self._run(work)
        if row is None:
            return None
        return Position(int(row[0]), frozenset(t for t in str(row[1]).split(",") if t))

    def replace_account(
        self, account_id: str, sources: Mapping[str, TableSource], seq: int, tables: frozenset[str],
        progress: Any = None,
    ) -> dict[str, int]:  # fmt: skip
        """One transaction: the account's rows replaced by those of `sources` (one per table in
        `tables`), and its position set to `seq`. `progress(1)` is called as each table is done."""

        def work(cur: Any) -> dict[str, int]:
            p = self.placeholder
            for table in PRIMARY_KEYS:
                cur.execute(f"DELETE FROM {TABLE_NAMES[table]} WHERE account_id = {p}", (account_id,))
            counts = {}
            for table in sorted(tables):
                counts[table] = self._copy(cur, table, sources[table])
                if progress:
                    progress(1)
            self._set_position(cur, account_id, seq, tables)
            return counts

        return self._run(work)

    def _copy(self, cur: Any, table: str, source: TableSource) -> int:
        """Insert a whole table's rows, a chunk at a time; returns how many."""
        n = 0
        for chunk in _chunks(source.rows(), COPY_CHUNK):
            self._insert(cur, table, chunk)
            n += len(chunk)
        return n

    def apply(
        self, account_id: str, profile_ids: Sequence[str], rows: MirrorRows, seq: int, tables: frozenset[str]
    ) -> None:
        """One transaction: the named profiles' rows replaced by `rows`, and the position set to `seq`."""

        def work(cur: Any) -> None:
            for table in tables:
                self._delete_profiles(cur, table, account_id, profile_ids)
                if rows[table]:
                    self._insert(cur, table, rows[table])
            self._set_position(cur, account_id, seq, tables)

        self._run(work)

    def _delete_profiles(self, cur: Any, table: str, account_id: str, profile_ids: Sequence[str]) -> None:
        p = self.placeholder
        for start in range(0, len(profile_ids), CHUNK):
            chunk = list(profile_ids[start : start + CHUNK])
            marks = ",".join([p] * len(chunk))
            cur.execute(
                f"DELETE FROM {TABLE_NAMES[table]} WHERE account_id = {p} AND profile_id IN ({marks})",
                (account_id, *chunk),
            )

    def _set_position(self, cur: Any, account_id: str, seq: int, tables: frozenset[str]) -> None:
        p = self.placeholder
        cur.execute(f"DELETE FROM {STATE_TABLE} WHERE account_id = {p}", (account_id,))
        cur.execute(
            f"INSERT INTO {STATE_TABLE} (account_id, last_seq, tables_mirrored, updated_at) VALUES ({p},{p},{p},{p})",
            (account_id, seq, ",".join(sorted(tables)), self._out_time(datetime.now().astimezone())),
        )

    def _out_time(self, value: datetime) -> Any:
        return value

    def rows(self, account_id: str, tables: frozenset[str]) -> MirrorRows:
        """Every mirrored row of the account, read back as the domain's row types."""

        def work(cur: Any) -> MirrorRows:
            out = empty_rows()
            for table in tables:
                names = columns(table)
                cur.execute(
                    f"SELECT {','.join(names)} FROM {TABLE_NAMES[table]} WHERE account_id = {self.placeholder}",
                    (account_id,),
                )
                kinds = [KINDS[n] for n in names]
                row_type = ROW_TYPES[table]
                out[table] = [row_type(*(self._value_in(k, v) for k, v in zip(kinds, r, strict=True)))
                              for r in cur.fetchall()]  # fmt: skip
            return out

        return self._run(work)

    def _value_in(self, kind: str, value: Any) -> Any:
        if value is None:
            return None
        if kind == "time":
            return self._time_in(value)
        if kind == "bool":
            return bool(value)
        return value


_NOT_NULL = {"account_id", "profile_id", "channel", "purpose", "status", "list_id", "reason", "created_at",
             "joined_at", "double_optin_pending", "can_receive"}  # fmt: skip


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := [tuple(r) for r in itertools.islice(it, size)]:
        yield chunk


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


ACCEPTED_URLS = "sqlite:///path/to/file.db, postgresql://user@host:5432/db or mysql://user:password@host:3306/db"


def target_for(url: str) -> SqlTarget:
    """The target a URL names: sqlite:///file.db, postgresql://… or mysql://… (mariadb:// too)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower().split("+")[0]
    if not sep:
        scheme = ""
    if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        from .sync_sqlite import SqliteTarget

        return SqliteTarget(rest[1:])
    if scheme in ("postgresql", "postgres"):
        from .sync_postgres import PostgresTarget

        return PostgresTarget(f"postgresql://{rest}")
    if scheme in ("mysql", "mariadb"):
        from .sync_mysql import MysqlTarget

        return MysqlTarget(f"mysql://{rest}")
    raise DomainError("to", f"is not a target database URL: use {ACCEPTED_URLS}", url)
