"""Raw-driver bulk writes: sqlite3 `executemany` and psycopg COPY, inside the caller's transaction.

SQLAlchemy Core builds every other statement; these paths skip it because at a million rows the
per-row cost of Core is several times that of the driver.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Dialect, Table, TextualSelect, text

from ..domain.profile import PROFILE_FIELDS
from ..domain.summary import SUMMARY_COLUMNS
from .db import driver_connection, pipelined, send
from .forms import PROFILE_ROW as PROFILE_ROW
from .forms import SQLITE_FORMAT as SQLITE_FORMAT
from .forms import DbTime as DbTime
from .forms import cached_sqlite_time
from .forms import copy_line as copy_line
from .forms import db_time as db_time
from .forms import pg_wanted as pg_wanted
from .forms import ready_rows as ready_rows
from .tables import UTCDateTime, profiles


@functools.cache
def _datetime_positions(table: Table, columns: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime))


def _sqlite_rows(
    table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[tuple[bool, ...], Sequence[Sequence[Any]]]:
    """The rows as SQLite's executemany takes them fastest: timestamps in SQLite's stored text form
    (rows worked out ahead have them already), and without the positions that hold None in every
    row, which the statement writes as NULL itself (the flags say which). Python's sqlite3 binds a
    None several times slower than a string (it looks for an adapter first), and a profile row is
    mostly None. The work goes column by column, in the interpreter's C loops, not row by row."""
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    for i in _datetime_positions(table, tuple(columns)):
        col = cols[i]
        if any(issubclass(k, datetime) for k in set(map(type, col))):
            # Each distinct time converted once (a batch's rows share a few), then looked up in a C
            # loop: anything else (None, text made ahead) is its own default.
            text = {v: cached_sqlite_time(v) for v in set(col) if isinstance(v, datetime)}
            cols[i] = tuple(map(text.get, col, col))
    # any() stops at a column's first value (most columns have one in their first row); only a
    # column of nothing but falsy values is counted (tuple.count compares each value with None).
    null = tuple(not any(c) and c.count(None) == n for c in cols)
    kept = [c for c, z in zip(cols, null, strict=True) if not z]
    if not kept:
        return null, [()] * n
    return null, list(zip(*kept, strict=True))


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Any]) -> None:
    """Insert `rows` (sequences in `columns` order, Python values; or, for PostgreSQL, lines from
    ready_rows) with the driver's fastest path."""
    if not rows:
        return
    raw = driver_connection(conn)
    if conn.dialect.name == "sqlite":
        null, rows = _sqlite_rows(table, columns, rows)
        marks = ",".join("NULL" if z else "?" for z in null)
        raw.executemany(f"INSERT INTO {table.name} ({','.join(columns)}) VALUES ({marks})", rows)
        return
    if pipelined(conn) and not isinstance(rows[0], str):  # COPY cannot be pipelined
        send(conn, *_insert_from_json(conn.dialect, table, tuple(columns), rows))
        return
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({','.join(columns)}) FROM STDIN") as copy:
        if isinstance(rows[0], str):  # already lines of COPY text (copy_line)
            copy.write("".join(rows))
        else:
            for row in rows:
                copy.write_row(row)


# One table's insert: (table, columns, rows), as insert_rows takes them.
Insert = tuple[Table, Sequence[str], Sequence[Any]]


def insert_all(conn: Connection, inserts: Sequence[Insert]) -> None:
    """insert_rows for each (table, columns, rows), in order. In a PostgreSQL pipeline, several
    tables' rows go as one statement (the first tables' inserts in a WITH, which runs each whole):
    the server parses, plans and runs one statement instead of one per table, and the driver sends
    one. A failed insert fails the statement, naming its table, as it would alone."""
    parts = [(table, tuple(columns), rows) for table, columns, rows in inserts if rows]
    if len(parts) < 2 or not pipelined(conn) or any(isinstance(rows[0], str) for _, _, rows in parts):
        for table, columns, rows in parts:
            insert_rows(conn, table, columns, rows)
        return
    statements, params = [], []
    for table, columns, rows in parts:
        sql, part_params = _insert_from_json(conn.dialect, table, columns, rows)
        statements.append(sql)
        params += part_params
    withs = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(statements[:-1]))
    send(conn, f"WITH {withs} {statements[-1]}", params)


def _insert_from_json(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> tuple[str, list[Any]]:
    """PostgreSQL: an INSERT of `rows` that can be pipelined (json_rows), and its parameters."""
    source, params = json_rows(dialect, table, columns, rows)
    return f"INSERT INTO {table.name} ({','.join(columns)}) SELECT * FROM {source}", params


def update_rows(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    purpose: str = "update",
) -> None:
    """Update `columns` of the rows named by `key`; each tuple is the new values then the key values.

    SQLite runs one prepared UPDATE per row through `executemany`; PostgreSQL copies the rows into
    a temporary staging table and updates them in one set-based statement. The staging table is
    kept per session and named by `purpose`: a caller writing other columns of the same table
    names its own."""
    if not rows:
        return
    raw = driver_connection(conn)
    if conn.dialect.name == "sqlite":
        null, rows = _sqlite_rows(table, (*columns, *key), rows)
        sets = ",".join(f"{c}={'NULL' if z else '?'}" for c, z in zip(columns, null, strict=False))
        where = " AND ".join(f"{k}={'NULL' if z else '?'}" for k, z in zip(key, null[len(columns) :], strict=True))
        raw.executemany(f"UPDATE {table.name} SET {sets} WHERE {where}", rows)
        return
    if pipelined(conn) and not isinstance(rows[0], str):  # no staging table: COPY cannot be pipelined
        sets = ",".join(f"{c}=s.{c}" for c in columns)
        where = " AND ".join(f"t.{k}=s.{k}" for k in key)
        source, params = json_rows(conn.dialect, table, (*columns, *key), rows)
        send(conn, f"UPDATE {table.name} AS t SET {sets} FROM {source} WHERE {where}", params)
        return
    with raw.cursor() as cur:
        stage = _stage(cur, table, purpose, [*columns, *key], rows)
        sets = ",".join(f"{c}=s.{c}" for c in columns)
        where = " AND ".join(f"t.{k}=s.{k}" for k in key)
        cur.execute(f"UPDATE {table.name} AS t SET {sets} FROM {stage} AS s WHERE {where}")


# How json_rows passes one column: in every row's JSON array, once as a parameter of its own (the
# same value in every row), or not at all (NULL in every row).
_EACH, _ONCE, _NULL = 0, 1, 2


def json_rows(
    dialect: Dialect, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> tuple[str, list[Any]]:
    """PostgreSQL: `(SELECT ...) AS s(columns)`, the rows as one statement that can be pipelined
    (COPY cannot), and its parameters. The rows' values travel as one JSON array of arrays, each
    value cast to its column's type: a few hundred rows' JSON text costs the driver a small fraction
    of what an array parameter per column does (it adapts each element). A column with the same
    value in every row (the account, a job's time, the payload its profiles share) is one parameter
    instead, and one that is NULL in every row is no parameter at all: the server parses and
    extracts only what differs from row to row, which is what it spends most of a job's insert on."""
    by_column = list(zip(*rows, strict=True))
    n = len(rows)
    ways = [_NULL if c[0] is None and c.count(None) == n else _ONCE if c.count(c[0]) == n else _EACH for c in by_column]
    if _EACH not in ways:  # the JSON array still says how many rows there are
        ways[0] = _EACH
    sql = _json_source(dialect, table, columns, tuple(ways))
    each = [c for c, way in zip(by_column, ways, strict=True) if way == _EACH]
    once = [c[0] for c, way in zip(by_column, ways, strict=True) if way == _ONCE]
    return sql, [*once, msgspec.json.encode(list(zip(*each, strict=True))).decode()]


@functools.cache
def _json_source(dialect: Dialect, table: Table, columns: tuple[str, ...], ways: tuple[int, ...]) -> str:
    values, at = [], 0
    for name, way in zip(columns, ways, strict=True):
        kind = table.c[name].type.compile(dialect=dialect)
        if way == _EACH:
            values.append(f"CAST(r->>{at} AS {kind}) AS {name}")
            at += 1
        else:
            values.append(f"CAST({'%s' if way == _ONCE else 'NULL'} AS {kind}) AS {name}")
    return f"(SELECT {','.join(values)} FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r) AS s"


def _stage(cur: Any, table: Table, purpose: str, columns: Sequence[str], rows: Sequence[Any]) -> str:
    """COPY `rows` into an emptied temporary staging table shaped like `columns` of `table`."""
    stage = f"stage_{table.name}_{purpose}"
    cols = ",".join(columns)
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols} FROM {table.name} WITH NO DATA")
    cur.execute(f"TRUNCATE {stage}")
    with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
        if rows and isinstance(rows[0], str):
            copy.write("".join(rows))
        else:
            for row in rows:
                copy.write_row(row)
    return stage


def insert_absent(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Any],
    account_id: str,
    ids: Sequence[str],
    *,
    likely_all: bool = False,
) -> set[str]:
    """Insert the rows whose unique keys are all free; returns the ids (fresh, one per row, in
    `ids`) of those inserted. The rest conflict with stored rows and are left to the caller.

    This spares a look-up per identifier before inserting: the unique indexes are probed once, by
    the insert itself. PostgreSQL copies into a staging table and inserts from it with
    ON CONFLICT DO NOTHING; SQLite runs INSERT OR IGNORE and reads back which ids are there.
    With `likely_all` (the caller expects no conflict), PostgreSQL first copies the rows straight
    into the table under a savepoint, which costs half as much when it holds, and falls back to
    the staging table when a key is taken."""
    if not rows:
        return set()
    raw = driver_connection(conn)
    cols = ",".join(columns)
    if likely_all and conn.dialect.name == "postgresql":
        unique_violation = conn.dialect.dbapi.errors.UniqueViolation  # type: ignore[union-attr]
        with raw.cursor() as cur:
            cur.execute("SAVEPOINT insert_absent")
            try:
                with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                    if isinstance(rows[0], str):
                        copy.write("".join(rows))
                    else:
                        for row in rows:
                            copy.write_row(row)
            except unique_violation:
                cur.execute("ROLLBACK TO SAVEPOINT insert_absent")
            else:
                cur.execute("RELEASE SAVEPOINT insert_absent")
                return set(ids)
    if conn.dialect.name == "sqlite":
        null, rows = _sqlite_rows(table, columns, rows)
        marks = ",".join("NULL" if z else "?" for z in null)
        raw.executemany(f"INSERT OR IGNORE INTO {table.name} ({cols}) VALUES ({marks})", rows)
        sql = (
            f"SELECT {table.name}.id FROM json_each(?) AS wanted CROSS JOIN {table.name} "
            f"ON {table.name}.account_id = ? AND {table.name}.id = wanted.value"
        )
        return {r[0] for r in raw.execute(sql, (values_param(ids), account_id))}
    with raw.cursor() as cur:
        stage = _stage(cur, table, "new", columns, rows)
        cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING RETURNING id")
        return {r[0] for r in cur.fetchall()}


def values_param(values: Iterable[str]) -> str:
    """The values as one JSON array's text, each once (they are joined to rows: a repeat would
    repeat its rows)."""
    return msgspec.json.encode(list(dict.fromkeys(values))).decode()


def select_matching(
    conn: Connection,
    table: Table,
    account_id: str,
    column: str,
    values: Sequence[str],
    columns: Sequence[str] | None = None,
) -> TextualSelect:
    """`columns` (default: all) of the account's rows whose `column` is one of `values`, as one
    statement with one bound parameter (no statement grows with the list). On SQLite the values
    are a json_each table joined to the indexed column, so each value is one index probe (as
    `IN (subquery)` or a plain join, SQLite's planner would rather scan the account's rows)."""
    wanted = [table.c[c] for c in columns] if columns else list(table.c)
    names = ",".join(f"{table.name}.{c.name}" for c in wanted)
    sql = f"SELECT {names} {matching_clause(conn.dialect.name, table.name, table.c[column].name)}"
    return text(sql).bindparams(values=values_param(values), account_id=account_id).columns(*wanted)


def matching_clause(dialect: str, table: str, column: str) -> str:
    """FROM … WHERE of select_matching: rows of :account_id whose `column` is in the JSON array :values."""
    if dialect == "sqlite":
        # CROSS JOIN is SQLite's way to fix the join order: the values outside, the index inside.
        return (
            f"FROM json_each(:values) AS wanted CROSS JOIN {table} "
            f"ON {table}.account_id = :account_id AND {table}.{column} = wanted.value"
        )
    return (
        f"FROM {pg_wanted()} JOIN {table} ON {table}.account_id = wanted.account_id AND {table}.{column} = wanted.value"
    )


def delete_for_profiles(conn: Connection, table: Table, account_id: str, profile_ids: Iterable[str]) -> None:
    ids = list(profile_ids)
    if not ids:
        return
    if conn.dialect.name == "sqlite":
        # One prepared DELETE per profile: each picks the index on (account_id, profile_id).
        raw = driver_connection(conn)
        raw.executemany(
            f"DELETE FROM {table.name} WHERE account_id = ? AND profile_id = ?", [(account_id, i) for i in ids]
        )
        return
    sql = (
        f"DELETE FROM {table.name} USING {pg_wanted('?', '?')} "
        f"WHERE {table.name}.account_id = wanted.account_id AND {table.name}.profile_id = wanted.value"
    )
    send(conn, sql, (account_id, values_param(ids)))  # on the bare driver: it may be pipelined


# The statistics target of the ANALYZE after a bulk load: PostgreSQL's default (100) samples 30,000
# rows of each table, and after an import of 100,000 profiles that cost half a second of it; 10
# samples 3,000 (a tenth of the time), enough for the row counts, each column's distinct values and
# a coarse histogram, which is what a plan made after the load needs. Autovacuum's next ANALYZE of
# the table samples at the full target again.
ANALYZE_STATISTICS_TARGET = 10


def analyze_after_load(conn: Connection) -> None:
    """PostgreSQL: refresh the planner's statistics of the tables a bulk load grows, as its manual
    advises after one, in the caller's transaction. Until autovacuum gets to them (or never, where
    it is off) the statistics describe the tables before the load, or part of it (autovacuum's
    ANALYZE during it), and the next statements are planned for tables of that size. SQLite:
    nothing (its plans are fixed by the statements themselves)."""
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql(f"SET LOCAL default_statistics_target = {ANALYZE_STATISTICS_TARGET}")
        conn.exec_driver_sql("ANALYZE profiles, consent_events")


# --- profiles: the bulk writes the services make, by name -----------------------------------------

# The values update_profiles writes, in this order (then the row's account_id and id): a write of the
# fields clears the import digest (None, None) unless an import sets it.
PROFILE_UPDATE = (*PROFILE_FIELDS, "properties", "updated_at", "import_digest", "import_seq", *SUMMARY_COLUMNS)


def insert_profiles(conn: Connection, rows: Sequence[Any]) -> None:
    """Insert new profiles: each row in PROFILE_ROW order (or a line of ready_rows)."""
    insert_rows(conn, profiles, PROFILE_ROW, rows)


def profile_inserts(rows: Sequence[Any]) -> Insert:
    """insert_profiles' rows as insert_all takes them."""
    return profiles, PROFILE_ROW, rows


def update_profiles(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Update stored profiles: each row holds the PROFILE_UPDATE values, then account_id and id."""
    update_rows(conn, profiles, ("account_id", "id"), PROFILE_UPDATE, rows)


def write_profiles(conn: Connection, updates: Sequence[Sequence[Any]], inserts: Sequence[Any]) -> None:
    """update_profiles, then insert_profiles (updates free identifiers before inserts take them). An
    identifier (a unique key) taken by a profile written since the caller looked fails the
    transaction (identifier_taken says so); in a pipeline, when the pipeline is synced."""
    update_profiles(conn, updates)
    insert_profiles(conn, inserts)


def identifier_taken(dialect: Dialect, error: BaseException) -> bool:
    """Whether `error` (the driver's, or SQLAlchemy's wrapping it) is a unique key of the profiles
    table taken: write_profiles' rows met a profile written since the caller looked."""
    error = getattr(error, "orig", None) or error
    if not isinstance(error, dialect.loaded_dbapi.IntegrityError):
        return False
    if dialect.name == "sqlite":  # "UNIQUE constraint failed: profiles.account_id, profiles.email"
        return "profiles." in str(error)
    return getattr(getattr(error, "diag", None), "table_name", None) == profiles.name


def insert_new_profiles(
    conn: Connection, rows: Sequence[Any], account_id: str, ids: Sequence[str], *, likely_all: bool = False
) -> set[str]:
    """Insert the profiles (rows in PROFILE_ROW order, one per id) whose identifiers no stored
    profile has; returns the ids inserted (see insert_absent)."""
    return insert_absent(conn, profiles, PROFILE_ROW, rows, account_id, ids, likely_all=likely_all)
