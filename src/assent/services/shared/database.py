"""The database as the commands see it: opened from its URL (and checked to be migrated when a
command needs the schema), migrated, and named without its password."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from ...store import db as store
from ...store.profiles import EmailCollisions

# What the person running Assent must fix first: a URL Assent cannot use, a schema to migrate, or
# emails that differ only in case (the migration that canonicalises them will not merge profiles).
SETUP_ERRORS: tuple[type[Exception], ...] = (store.NotMigrated, store.BadDatabaseUrl, EmailCollisions)


def open_engine(url: str | None, migrated: bool = True, create: bool | None = None, one_pass: bool = False) -> Engine:
    """The database engine; a command that needs the schema (or only reads) never creates a
    missing SQLite file. A `one_pass` command reads each row about once (an export): SQLite's
    page cache is kept small for it, where a large one would only add pages never read again to
    its peak memory (128 MB of its 190 MB exporting a million profiles)."""
    cache = store.ONE_PASS_CACHE_KIB if one_pass else store.PAGE_CACHE_KIB
    engine = store.make_engine(url, create=not migrated if create is None else create, page_cache_kib=cache)
    if migrated:
        store.require_migrated(engine)
    return engine


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the newest schema; returns (revision before, revision after)."""
    return store.upgrade(engine)


def url(given: str | None) -> str:
    """The URL in use: the one given, else ASSENT_DATABASE_URL, else the SQLite file here."""
    return store.database_url(given)


def shown_url(given: str | None) -> str:
    """The URL in use with its password hidden, to print: as a user writes it, without the name
    of the driver Assent connects through (postgresql://, not postgresql+psycopg://)."""
    url = make_url(store.database_url(given))
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def reads_in_microseconds(engine: Engine) -> bool:
    """Whether a single-row read is cheaper than handing it to a thread: SQLite's, in process
    (in WAL mode its readers never wait on a writer); not a network round trip to PostgreSQL."""
    return store.is_sqlite(engine)
