"""Engines, transactions and migrations for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError

from ..config import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, settings
from .forms import PG_SESSION, DriverTarget

if TYPE_CHECKING:  # annotations only: alembic is imported when a migration runs
    from alembic.config import Config
    from sqlalchemy.pool import ConnectionPoolEntry

DEFAULT_URL = DEFAULT_DATABASE_URL
MIGRATIONS = Path(__file__).parent / "migrations"
ACCEPTED_FORMS = "sqlite:///path/to/file.db or postgresql://user@host:5432/dbname"
_DRIVERS = {"sqlite": ("sqlite", "pysqlite"), "postgresql": ("psycopg",)}
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


class NotMigrated(RuntimeError):
    """The database has no schema, or an old one."""


class BadDatabaseUrl(ValueError):
    """The database URL (from --db or ASSENT_DATABASE_URL) is not one Assent can use."""


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ASSENT_DATABASE_URL, else the SQLite file here."""
    url = url or settings().database_url or DEFAULT_URL
    # Accept the plain postgresql:// form and use psycopg 3 for it.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def checked_url(url: str | None = None, setting: str = "--db") -> URL:
    """The database URL, parsed; BadDatabaseUrl names the setting and the accepted forms when it
    is a bare path, an unknown scheme or a driver Assent does not use."""
    if not url:
        url, setting = settings().database_url, DATABASE_URL_ENV
    raw = url or DEFAULT_URL
    problem = None
    try:
        parsed = make_url(database_url(raw))
    except ArgumentError:
        problem = "is not a database URL"
    else:
        # The backend first: naming no driver, an unknown scheme would make SQLAlchemy load a
        # dialect plugin to find its default driver, and fail with a traceback.
        backend = parsed.get_backend_name()
        if backend not in _DRIVERS:
            problem = f"has an unknown scheme {parsed.drivername!r}"
        elif (driver := parsed.get_driver_name()) not in _DRIVERS[backend]:
            problem = f"names the driver {driver!r}, which Assent does not use"
        elif backend == "sqlite" and not parsed.database:
            problem = "names no file"
    if problem:
        raise BadDatabaseUrl(f"{setting} {_without_password(raw)!r} {problem}: use {ACCEPTED_FORMS}")
    return parsed


def _without_password(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return raw


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (None for another backend or an in-memory database)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


PAGE_CACHE_KIB = 131_072  # SQLite's page cache per connection: the pages a server reads again and again
ONE_PASS_CACHE_KIB = 8_192  # for a process that reads each page about once (an export)


def make_engine(
    url: str | None = None, create: bool = True, setting: str = "--db", page_cache_kib: int = PAGE_CACHE_KIB
) -> Engine:
    """An engine for the URL; with create=False a missing SQLite file is an error, not made.
    `page_cache_kib` bounds each SQLite connection's page cache, which a pass over a large
    database fills: it is most of such a process's peak memory."""
    parsed = checked_url(url, setting)
    path = sqlite_file(parsed)
    if path is not None:
        if not create and not path.exists():
            raise NotMigrated(f"the database file {path} does not exist: run `assent db upgrade` first")
        _require_sqlite_file(path, setting if url else DATABASE_URL_ENV)
        path.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _configure_sqlite(engine, page_cache_kib)
        return engine
    try:
        engine = create_engine(parsed)
    except ImportError as e:
        raise BadDatabaseUrl(f"{setting}: the driver for {parsed.drivername} is not installed ({e})") from None
    _configure_postgresql(engine)
    return engine


# A pooled PostgreSQL connection idle for longer than this is pinged before it is used again.
IDLE_PING_SECONDS = 1.0


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a session setting, outside any transaction
        dbapi_connection.execute(PG_SESSION)
        dbapi_connection.autocommit = autocommit

    # A connection that sat in the pool (a server restart, an idle timeout on the way) is pinged
    # before it is handed out, and replaced when the ping fails, as pool_pre_ping does. One back in
    # the pool for less than IDLE_PING_SECONDS was in use a moment ago: pinging it too would cost a
    # round trip on every checkout, two of a bulk job's nine.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return  # new (it has just connected), or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            raise DisconnectionError(f"a pooled connection failed its ping: {e}") from e


def _require_sqlite_file(path: Path, setting: str) -> None:
    """A file already at `path` must be a SQLite database (an empty one is: SQLite starts it), so
    a setting naming some other file is one clear error, not a driver traceback on first use."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as e:
        raise BadDatabaseUrl(f"{setting}: cannot read the database file {path}: {e.strerror}") from None
    if head and head != SQLITE_MAGIC:
        raise BadDatabaseUrl(f"{setting}: the file {path} is not a SQLite database")


def driver_target(engine: Engine) -> DriverTarget:
    """Where a process without SQLAlchemy reaches the engine's database (forms.unchanged_digests)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return DriverTarget("sqlite", url.database or ":memory:")
    return DriverTarget(url.get_backend_name(), url.set(drivername="postgresql").render_as_string(hide_password=False))


def driver_connection(conn: Connection) -> Any:
    """The DB-API connection under `conn` (sqlite3's or psycopg's), for the raw-driver paths."""
    raw = conn.connection.driver_connection
    if raw is None:  # SQLAlchemy has none only for a closed or invalidated connection
        raise RuntimeError("the connection is closed or invalidated: no driver connection")
    return raw


@functools.cache
def _driver_sql(dialect: str, sql: str) -> str:
    return sql if dialect == "sqlite" else sql.replace("?", "%s")


def driver_rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of one small statement (written with `?` marks, no `%`) run on the bare driver in
    `conn`'s transaction: a bulk job's fixed look-ups cost less so than through SQLAlchemy's
    compiling and result processing. Values come back as the driver gives them."""
    with driver_cursor(conn) as cur:
        cur.execute(_driver_sql(conn.dialect.name, sql), params)
        return cur.fetchall() if cur.description is not None else []


def pipelined(conn: Connection) -> bool:
    """Whether statements on `conn` are being queued in a PostgreSQL pipeline (see pipeline())."""
    return conn.dialect.name != "sqlite" and bool(driver_connection(conn).pgconn.pipeline_status)


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the raw-driver statements made in the block are sent together, and their
    results come back together at its end (or when one is first read, or at commit_now()): one
    round trip for many statements. Only the raw-driver paths that say they can be pipelined may
    run in it (later(), send(), the bulk writes); SQLAlchemy's statements and driver_rows read
    results as they go and cannot. SQLite: nothing changes (statements run as they are made)."""
    if conn.dialect.name == "sqlite":
        yield
        return
    dbapi = conn.dialect.loaded_dbapi
    piped = driver_connection(conn).pipeline()
    piped.__enter__()
    try:
        yield
    except BaseException as e:
        # The block's error (one the driver read early, while statements were still being queued)
        # is the one to tell. Ending the pipeline after it only finds the pipeline aborted, which
        # the driver, handed the block's error, would log as a warning of its own.
        with contextlib.suppress(dbapi.Error):
            piped.__exit__(None, None, None)
        if isinstance(e, dbapi.Error):
            raise DBAPIError.instance(None, None, e, dbapi.Error) from e
        raise
    try:
        piped.__exit__(None, None, None)
    except dbapi.Error as e:
        raise DBAPIError.instance(None, None, e, dbapi.Error) from e


def later(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Callable[[], list[tuple[Any, ...]]]:
    """One small statement (as driver_rows takes it) whose rows are wanted later: in a pipeline it is
    sent now and read when the returned function is called (at the latest when the pipeline ends);
    otherwise it runs now. Either way the function returns its rows, as driver_rows would."""
    if not pipelined(conn):
        rows = driver_rows(conn, sql, params)
        return lambda: rows
    cur = driver_connection(conn).cursor()
    cur.execute(_driver_sql(conn.dialect.name, sql), params)
    found: list[list[tuple[Any, ...]]] = []

    def rows_of() -> list[tuple[Any, ...]]:
        if not found:  # read once; the answer is kept
            try:
                found.append(cur.fetchall())
            finally:
                cur.close()
        return found[0]

    return rows_of


def send(conn: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    """One statement that returns nothing (as driver_rows takes it), on the bare driver: in a
    pipeline it is only queued (an error comes out when the pipeline is synced)."""
    with driver_cursor(conn) as cur:
        cur.execute(_driver_sql(conn.dialect.name, sql), params)


def commit_now(conn: Connection) -> None:
    """PostgreSQL, in a pipeline: COMMIT `conn`'s transaction after what is queued, in the same flush,
    which the pipeline's end sends (the transaction's owner then finds nothing left to commit). It
    is queued as a statement: the driver's commit() would sync the pipeline itself, and its end
    would then sync again, a round trip more. Elsewhere nothing: the owner commits as usual."""
    if pipelined(conn):
        send(conn, "COMMIT")


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A DB-API cursor on `conn`'s driver connection, inside its transaction, for the raw-driver
    read paths (the driver's tuples, no statement compiling, no result processing). A driver error
    comes out as SQLAlchemy's, as from any statement SQLAlchemy runs: a DataError stays a DataError
    (which the API answers with a 400)."""
    dbapi = conn.dialect.loaded_dbapi
    cur = driver_connection(conn).cursor()
    try:
        yield cur
    except dbapi.Error as e:
        raise DBAPIError.instance(None, None, e, dbapi.Error) from e
    finally:
        cur.close()


def sqlite_utc(value: str | None) -> datetime | None:
    """A UTCDateTime column's value as sqlite3 returns it (naive ISO text), read as SQLAlchemy
    reads it: an aware UTC time."""
    if value is None:
        return None
    try:  # the stored form, naive: read with the zone in one call (replace() costs several times more)
        found = datetime.fromisoformat(value + "+00:00")
        if found.tzinfo is UTC:
            return found
    except ValueError:  # already with a zone, or a form of its own
        pass
    found = datetime.fromisoformat(value)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def postgres_utc(value: datetime | None) -> datetime | None:
    """A UTCDateTime column's value as psycopg returns it (aware, in the session's zone), in UTC."""
    return None if value is None else value.astimezone(UTC)


def driver_utc(dialect: str) -> Callable[[Any], datetime | None]:
    """How the raw-driver paths read a UTCDateTime column's value on this dialect."""
    return sqlite_utc if dialect == "sqlite" else postgres_utc


def _configure_sqlite(engine: Engine, page_cache_kib: int) -> None:
    database = engine.url.database
    lock_path = f"{database}.writer-lock" if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA cache_size=-{int(page_cache_kib)}")
        # Checkpoints are run after the writer lock is released (below): SQLite's own run inside
        # the COMMIT, which other writers wait for. Its own stays as a backstop for a large load.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        cur.close()

    # BEGIN and COMMIT go straight to the driver: through SQLAlchemy's execution path they cost
    # more than a single-profile read does.
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front, so two writers never deadlock upgrading a read lock.
        if not conn.get_execution_options().get("assent_write"):
            driver_connection(conn).execute("BEGIN DEFERRED")
            return
        # Writers queue on a file lock first: SQLite's own busy handler polls with growing sleeps,
        # which starves unlucky writers (long tails under load); a blocked flock() wakes at once.
        if lock_path is not None:
            conn.info["assent_writer_lock"] = _lock(lock_path)
        try:
            driver_connection(conn).execute("BEGIN IMMEDIATE")
        except BaseException:
            _unlock(conn)
            raise

    written = itertools.count(1)

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Connection) -> None:
        driver = driver_connection(conn)
        driver.execute("COMMIT")  # commit before letting the next writer in
        _unlock(conn)
        if conn.get_execution_options().get("assent_write") and next(written) % CHECKPOINT_EVERY == 0:
            _checkpoint(driver)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        _unlock(conn)


# SQLite: every so many write transactions of a process, its committing connection copies the
# write-ahead log back into the database once it has let the next writer in. A PASSIVE checkpoint
# waits for nobody and blocks nobody; the log's pages are copied as often as SQLite's automatic
# checkpoint (every 1,000 pages) would, but no other writer waits for them. 16 bulk subscribe jobs
# of 100 new profiles fill some 1,600 pages.
CHECKPOINT_EVERY = 16
WAL_BACKSTOP_PAGES = 10_000  # SQLite's own checkpoint, for a write that fills the log between ours


def _checkpoint(driver: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.OperationalError):  # another connection is checkpointing
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _lock(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unlock(conn: Connection) -> None:
    fd = conn.info.pop("assent_writer_lock", None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases its lock


def deadlocked(dialect: Dialect, error: BaseException) -> bool:
    """Whether `error` (the driver's, or SQLAlchemy's wrapping it) is PostgreSQL ending a deadlock
    by rolling back this transaction (SQLite's single writer cannot deadlock)."""
    return dialect.name != "sqlite" and _sqlstate(error) == "40P01"


def serialization_failed(dialect: Dialect, error: BaseException) -> bool:
    """Whether `error` is PostgreSQL's serialization failure (SQLSTATE 40001): at the READ COMMITTED
    level Assent runs at, only ever raised by its own check that what a write read still holds
    (ledger.require_unchanged, or the same check made by ledger.append_in_database)."""
    return dialect.name != "sqlite" and _sqlstate(error) == "40001"


def _sqlstate(error: BaseException) -> str | None:
    error = getattr(error, "orig", None) or error
    return getattr(error, "sqlstate", None)


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work that writes: committed whole or not at all."""
    with engine.connect() as conn:
        conn = conn.execution_options(assent_write=True)
        with conn.begin():
            yield conn


@contextmanager
def bulk_connection(engine: Engine) -> Iterator[Connection]:
    """One connection for a long job that writes in many transactions (`with conn.begin():` each)."""
    with engine.connect() as conn:
        yield conn.execution_options(assent_write=True)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def read_statements(engine: Engine) -> Iterator[Connection]:
    """Reads that need no snapshot in common, only each statement's own: on PostgreSQL each runs
    on its own, in autocommit (READ COMMITTED gives each statement of a transaction its own
    snapshot anyway), which spares the BEGIN and COMMIT round trips; SQLite reads in a transaction,
    as read_transaction (its statements then share one snapshot)."""
    if engine.dialect.name == "sqlite":
        with read_transaction(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}: the installation is incomplete")
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the newest schema; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.connect() as conn:
        command.upgrade(_alembic_config(conn), "head")
        conn.commit()
    return before, head_revision()


# A migration file's own `revision = "…"` and `down_revision = "…"` lines (annotated or not).
_REVISION_LINE = re.compile(r'^(revision|down_revision)\b[^=\n]*=\s*(?:"([^"\n]*)"|None)\s*$', re.MULTILINE)


@functools.cache
def schema_head() -> str | None:
    """The newest revision, read from the migration files' `revision` and `down_revision` lines
    without loading alembic; None when the files don't say it plainly (a merge, an unusual line):
    head_revision() then tells."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = {name: value for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8"))}
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            revised.add(found["down_revision"])
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The revision alembic_version holds, with one SELECT (None: no such table, or not one row)."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except DBAPIError:
            conn.rollback()
            return None
        conn.rollback()
    return rows[0][0] if len(rows) == 1 else None


def require_migrated(engine: Engine) -> None:
    """Refuse a database whose schema is not the newest. When the stored revision is the head the
    migration files name, that one SELECT is all it costs; otherwise alembic says where it stands."""
    head = schema_head()
    if head is not None and stored_revision(engine) == head:
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has no Assent schema" if current is None else f"is at revision {current}, not {head}"
        raise NotMigrated(f"the database {state}: run `assent db upgrade` first")
