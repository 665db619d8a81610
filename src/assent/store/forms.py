"""Rows in the form the drivers take, made without SQLAlchemy: timestamps as the driver stores them,
PostgreSQL COPY lines, ledger events in canonical form, projection rows; and the one look-up an
import's worker process makes, on the bare driver.

The import's worker processes work rows out into these forms and import only this of the store
(with the domain), so that each starts in a fraction of the time the whole store would take.
`bulk`, `ledger` and `projection` offer the same names."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec

from ..domain import ConsentEvent, ProfileState
from ..domain.chain import content_hash, content_hasher, personal_digest
from ..domain.profile import PROFILE_FIELDS
from ..domain.summary import NO_SUMMARY, SUMMARY_COLUMNS, ConsentSummary, summarize

# --- timestamps and COPY lines -------------------------------------------------------------------

# A time as a bulk path hands it to the driver: a datetime, or SQLite's text form of it.
DbTime = datetime | str | None
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # what SQLAlchemy's SQLite DateTime stores and reads back


def sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(SQLITE_FORMAT)


@functools.lru_cache(maxsize=4096)
def cached_sqlite_time(value: datetime) -> str:
    return sqlite_time(value)


def db_time(dialect: str, value: datetime | None) -> DbTime:
    """A timestamp as the driver will store it: SQLite's text form, or the datetime itself for
    PostgreSQL. Bulk paths convert in worker processes so the writing process need not."""
    if value is None or dialect != "sqlite":
        return value
    return cached_sqlite_time(value)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(row: Sequence[Any]) -> str:
    """One row in PostgreSQL's COPY text format. Bulk paths format rows in worker processes, so
    the writing process only streams text to the server. Plain text is tested by its exact type
    first, and UTC times (a batch's rows share a few) are formatted once: this runs for every row
    of an import."""
    out = []
    for v in row:
        if v is None:
            out.append("\\N")
        elif type(v) is str or isinstance(v, str):
            out.append(v.translate(_COPY_ESCAPES) if ("\\" in v or "\t" in v or "\n" in v or "\r" in v) else v)
        elif v is True or v is False:
            out.append("t" if v else "f")
        elif isinstance(v, datetime):
            out.append(_utc_iso(v) if v.tzinfo is UTC else v.isoformat())
        else:
            out.append(str(v))
    return "\t".join(out) + "\n"


@functools.lru_cache(maxsize=4096)
def _utc_iso(value: datetime) -> str:
    # Keyed by UTC times only: equal times at other offsets would share one text.
    return value.isoformat()


def ready_rows(dialect: str, rows: list[Any]) -> list[Any]:
    """Rows (sequences) as bulk.insert_rows takes them fastest: COPY text lines for PostgreSQL, as
    they are for SQLite."""
    return [copy_line(r) for r in rows] if dialect == "postgresql" else rows


# The values of a profile row, in this order, as bulk.insert_profiles and insert_new_profiles take them.
PROFILE_ROW = ("account_id", "id", *PROFILE_FIELDS, "properties", "created_at", "updated_at", "import_digest",
               "import_seq", *SUMMARY_COLUMNS)  # fmt: skip

# A new profile's import_seq in its row while it is worked out ahead: the ledger seq of its last
# event is known only to the writer, which puts it in its place (with_import_seq) before the insert.
# Written as it is in a COPY line (no character there needs escaping); no stored value holds a NUL.
IMPORT_SEQ = "\x00import_seq\x00"
_IMPORT_SEQ_AT = PROFILE_ROW.index("import_seq")


def with_import_seq(row: Any, seq: int) -> Any:
    """A profile row (PROFILE_ROW order, or its COPY line) with `seq` in place of IMPORT_SEQ; a row
    without it (it keeps no digest) as it is. The placeholder is looked for from the end: it comes
    after every field a file gives."""
    if isinstance(row, str):
        head, found, tail = row.rpartition(IMPORT_SEQ)
        return f"{head}{seq}{tail}" if found else row
    if row[_IMPORT_SEQ_AT] != IMPORT_SEQ:
        return row
    return (*row[:_IMPORT_SEQ_AT], seq, *row[_IMPORT_SEQ_AT + 1 :])


# --- ledger events in canonical form -------------------------------------------------------------

_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class EncodedEvent(NamedTuple):
    """An event in the ledger's canonical form, before it gets its place (seq) in the chain."""

    occurred_at: Any  # a datetime, or already the driver's form of it (db_time)
    type: str
    metric: str | None
    payload: str
    personal: str | None
    personal_digest: str
    content_hash: str


def encode(account_id: str, profile_id: str, e: ConsentEvent) -> EncodedEvent:
    """Canonical text, salted personal digest and content hash: all that
    does not depend on the event's place in the chain, so bulk paths work it out in worker processes."""
    payload = _encode_sorted(e.payload()).decode()
    return _encoded(account_id, profile_id, e.occurred_at, e.type.value, e.metric, payload, e.personal)


def encode_like(account_id: str, profile_id: str, like: EncodedEvent, personal: Mapping[str, str]) -> EncodedEvent:
    """The event `like` (encoded for another profile) as this profile's, with these personal data:
    bulk paths encode an event once for all the profiles it happens to alike."""
    return _encoded(account_id, profile_id, like.occurred_at, like.type, like.metric, like.payload, personal)


def encoder_like(account_id: str, like: EncodedEvent) -> Callable[[str, Mapping[str, str]], EncodedEvent]:
    """`lambda profile_id, personal: encode_like(account_id, profile_id, like, personal)`, with
    what does not depend on the profile worked out once (chain.content_hasher): a bulk job encodes
    one event for each of its alike profiles."""
    occurred_at, type, metric, payload = like.occurred_at, like.type, like.metric, like.payload
    hasher = content_hasher(account_id, occurred_at, type, metric, payload)

    def encode(profile_id: str, personal: Mapping[str, str]) -> EncodedEvent:
        text = _personal_text(personal, _salt()) if personal else None
        digest = personal_digest(text)
        return _new_encoded((occurred_at, type, metric, payload, text, digest, hasher(profile_id, digest)))

    return encode


def _encoded(
    account_id: str,
    profile_id: str,
    occurred_at: Any,
    type: str,
    metric: str | None,
    payload: str,
    personal: Mapping[str, str],
) -> EncodedEvent:
    # The salt keeps the digest from confirming a guessed address once the data is erased.
    text = _personal_text(personal, _salt()) if personal else None
    digest = personal_digest(text)
    content = content_hash(account_id, profile_id, occurred_at, type, metric, payload, digest)
    return _new_encoded((occurred_at, type, metric, payload, text, digest, content))


# EncodedEvent(*values), by tuple.__new__ in C (the namedtuple's __new__ and _make are Python).
_new_encoded = functools.partial(tuple.__new__, EncodedEvent)

# A JSON string's text that msgspec writes as it is, between its quotes: no control character, quote
# or backslash (which it escapes), no lone surrogate (which it refuses). Anything else, UTF-8 as is.
_VERBATIM = re.compile(r'[^\x00-\x1f"\\\ud800-\udfff]*').fullmatch


_ADDRESS_KEYS = frozenset(("email", "phone_number"))  # each sorts before "salt" and is written as it is


def _personal_text(personal: Mapping[str, str], salt: str) -> str:
    """`personal` with the salt, in canonical form (msgspec, keys sorted). One address, the usual
    case, is written straight in when it needs no escaping.
    A property test holds the two equal."""
    if len(personal) == 1:
        for key, value in personal.items():
            if key in _ADDRESS_KEYS and type(value) is str and _VERBATIM(value):
                return f'{{"{key}":"{value}","salt":"{salt}"}}'
    return _encode_sorted({**personal, "salt": salt}).decode()


_SALTS: list[str] = []
os.register_at_fork(after_in_child=_SALTS.clear)  # a forked child draws its own


def _salt() -> str:
    """Eight random bytes in hex, as secrets.token_hex(8) makes them, drawn from the OS a few
    hundred at a time (a bulk job salts an event per profile; one system call each cost more than
    the rest of the salting). list.pop hands each out once, whatever thread asks."""
    while True:
        try:
            return _SALTS.pop()
        except IndexError:
            raw = os.urandom(8 * 256).hex()
            _SALTS.extend(raw[i : i + 16] for i in range(0, len(raw), 16))


# --- projection rows -----------------------------------------------------------------------------

SUMMARY = "summary"

# The projection's tables and their columns, in the order of tables.PROJECTION_TABLES (projection
# checks that they agree), then the consent summary's values.
PROJECTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "consents": (
        "account_id",
        "profile_id",
        "channel",
        "purpose",
        "status",
        "consent_timestamp",
        "method",
        "method_detail",
        "custom_method_detail",
        "double_optin",
        "last_updated",
    ),
    "suppressions": ("account_id", "profile_id", "reason", "created_at"),
    "list_suppressions": ("account_id", "profile_id", "list_id", "reason", "created_at"),
    "list_members": ("account_id", "list_id", "profile_id", "joined_at"),
    "pending_optins": (
        "account_id",
        "profile_id",
        "channel",
        "purpose",
        "list_id",
        "requested_at",
        "method",
        "method_detail",
        "custom_method_detail",
    ),
    # Not a table: the profile's consent summary, written into its own row (profiles' SUMMARY_COLUMNS)
    # by an update keyed on the last two, or in the row itself as a new profile is inserted.
    SUMMARY: (*SUMMARY_COLUMNS, "account_id", "profile_id"),
}

Rows = dict[str, list[tuple[Any, ...]]]


def empty_rows() -> Rows:
    return {name: [] for name in PROJECTION_COLUMNS}


def _same(value: Any) -> Any:
    return value


# The last state's parts and their summary: bulk paths write many profiles whose states share the
# very same parts (one worked-out state per shape of row), and summarize once for them all. One
# tuple, read and replaced whole, so threads never pair one state's parts with another's summary.
_LAST_SUMMARY: tuple[Any, Any, Any, ConsentSummary | None] = (None, None, None, None)


def _summary(state: ProfileState) -> ConsentSummary | None:
    global _LAST_SUMMARY
    consents, suppressions, pending, summary = _LAST_SUMMARY
    if consents is state.consents and suppressions is state.suppressions and pending is state.pending:
        return summary
    summary = summarize(state)
    _LAST_SUMMARY = (state.consents, state.suppressions, state.pending, summary)
    return summary


def summary_values(state: ProfileState, time: Callable[[Any], Any] = _same) -> tuple[Any, ...]:
    """The state's consent summary in SUMMARY_COLUMNS order (NO_SUMMARY: it has none)."""
    summary = _summary(state)
    return NO_SUMMARY if summary is None else summary.values(time)


def add_state_rows(
    out: Rows, account_id: str, profile_id: str, state: ProfileState, time: Callable[[Any], Any] = _same
) -> None:
    """Append the rows that represent `state` to `out`, in PROJECTION_COLUMNS order; `time` converts
    each timestamp (db_time turns them into what the driver stores, ahead of the write)."""
    for (channel, purpose), c in state.consents.items():
        out["consents"].append(
            (
                account_id,
                profile_id,
                channel.value,
                purpose.value,
                c.status.value,
                time(c.consent_timestamp),
                c.method,
                c.method_detail,
                c.custom_method_detail,
                c.double_optin,
                time(c.last_updated),
            )
        )
    for reason, at in state.suppressions.items():
        out["suppressions"].append((account_id, profile_id, reason.value, time(at)))
    for list_id, ls in state.list_suppressions.items():
        out["list_suppressions"].append((account_id, profile_id, list_id, ls.reason, time(ls.timestamp)))
    for list_id, joined in state.lists.items():
        out["list_members"].append((account_id, list_id, profile_id, time(joined)))
    for (channel, purpose, list_id), p in state.pending.items():
        out["pending_optins"].append(
            (
                account_id,
                profile_id,
                channel.value,
                purpose.value,
                list_id,
                time(p.requested_at),
                p.method,
                p.method_detail,
                p.custom_method_detail,
            )
        )
    summary = _summary(state)
    if summary is not None:
        out[SUMMARY].append((*summary.values(time), account_id, profile_id))


def take_summary(rows: Rows) -> tuple[Any, ...]:
    """The values of the one profile's summary in `rows` (NO_SUMMARY if it has none), taken out of
    them: a new profile's row carries them as it is inserted, with no update after."""
    taken, rows[SUMMARY] = rows[SUMMARY], []
    return tuple(taken[0][:-2]) if taken else NO_SUMMARY


# A profile id that is none (no database keeps a NUL in text): rows made for it are any profile's
# once with_profile puts the profile's id in its place.
PLACEHOLDER = "\x00profile\x00"
_PROFILE_AT = {name: columns.index("profile_id") for name, columns in PROJECTION_COLUMNS.items()}


def with_profile(rows: Rows, profile_id: str) -> Rows:
    """Rows made (add_state_rows, then ready_rows) for PLACEHOLDER, as this profile's: bulk paths
    make the rows of a state once for all the profiles that reach the same one."""
    out: Rows = {}
    for table, table_rows in rows.items():
        if not table_rows:
            out[table] = []
        elif isinstance(table_rows[0], str):  # COPY lines
            out[table] = [line.replace(PLACEHOLDER, profile_id) for line in table_rows]
        else:
            i = _PROFILE_AT[table]
            out[table] = [(*r[:i], profile_id, *r[i + 1 :]) for r in table_rows]
    return out


# --- the worker's look-up, on the bare driver ----------------------------------------------------


# Every PostgreSQL session plans each statement for the values it is given and the tables' sizes
# now. The driver prepares a statement it has run five times, and PostgreSQL would then keep one
# generic plan for it for the connection's life: planned while an account (or the database) was
# small, a look-up of 100 emails stayed a scan of the whole table, and the ledger's "anything
# since" probe a scan of the whole ledger, however far they grew since. Planning costs tens of
# microseconds a statement.
PG_SESSION = "SET plan_cache_mode = force_custom_plan"


class DriverTarget(NamedTuple):
    """Where a process without SQLAlchemy connects: the dialect, and SQLite's file or PostgreSQL's
    connection string (db.driver_target makes it from an engine)."""

    dialect: str
    dsn: str


def connect(target: DriverTarget) -> Any:
    """A new bare driver connection (autocommit; on SQLite, the driver's small default page cache:
    a look-up's pages need not stay in this process)."""
    if target.dialect == "sqlite":
        import sqlite3

        return sqlite3.connect(target.dsn, timeout=30, isolation_level=None, check_same_thread=False)
    import psycopg  # only a PostgreSQL import loads it here

    conn = psycopg.connect(target.dsn, autocommit=True)
    conn.execute(PG_SESSION)
    return conn


_connections: dict[DriverTarget, Any] = {}


def process_connection(target: DriverTarget) -> Any:
    """One connection per target for the life of the process (a worker's, which ends with its pool)."""
    conn = _connections.get(target)
    if conn is None:
        conn = _connections[target] = connect(target)
    return conn


def pg_wanted(values: str = ":values", account_id: str = ":account_id") -> str:
    """PostgreSQL: the JSON array `values` (a bind) as rows `wanted(account_id, value)`, to be joined
    on the table's (account_id, column) index: one index probe per value, whatever the planner's
    statistics say. As `account_id = :a AND column = ANY(array)` the plan rested on the account's
    estimated size, and for an account grown since the last ANALYZE (a new one: "1 row") PostgreSQL
    read all its rows through another account-led index instead. OFFSET 0 keeps the subquery whole,
    so the account stays a join key rather than a constant the estimate would apply to again. A JSON
    text parameter costs the driver far less to send than a 10,000-element array parameter."""
    return (
        f"(SELECT CAST({account_id} AS text) AS account_id, value"
        f" FROM jsonb_array_elements_text(CAST({values} AS jsonb)) AS value OFFSET 0) AS wanted"
    )


# A profile took its import row and has had no ledger event since: every other write of its fields
# clears its digest, but not every ledger write touches its row (a list's members change without),
# so its ledger is asked for an event past the seq kept with the digest. On the (account_id,
# profile_id, seq) index that probe finds no entry when the digest holds, and so reads no table
# page: a count of the profile's events (as it was first told) read them all, and on PostgreSQL,
# until VACUUM has set the visibility map after a large import, fetched each one's heap page.
_NO_EVENT_SINCE = (
    "profiles.import_seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM consent_events"
    " WHERE consent_events.account_id = profiles.account_id AND consent_events.profile_id = profiles.id"
    " AND consent_events.seq > profiles.import_seq)"
)


def unchanged_digests(conn: Any, dialect: str, account_id: str, digests: Sequence[str]) -> dict[str, str]:
    """digest -> profile id, for those of these import digests held by a profile of the account that
    has had no ledger event since it took that row, looked up on `conn`, a bare connection (one
    statement: one consistent snapshot; see importer._import_batch for why it needs no second look)."""
    if not digests:
        return {}
    values = msgspec.json.encode(sorted(set(digests))).decode()
    params = (values, account_id) if dialect == "sqlite" else (account_id, values)
    return dict(_rows(conn, unchanged_digests_sql(dialect), params))


def held_digest_count(conn: Any, dialect: str, account_id: str, up_to: int) -> int:
    """How many profiles of the account hold an import digest, counted on `conn` (a bare connection)
    no further than `up_to` + 1: a walk of their index that stops there."""
    mark = "?" if dialect == "sqlite" else "%s"
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM profiles WHERE account_id = {mark}"
        f" AND import_digest IS NOT NULL LIMIT {mark}) AS held"
    )
    [(count,)] = _rows(conn, sql, (account_id, up_to + 1))
    return int(count)


def held_digests(conn: Any, dialect: str, account_id: str) -> dict[str, str]:
    """digest -> profile id, for every import digest held by a profile of the account that has had no
    ledger event since it took that row, read on `conn`, a bare connection, in one statement (one
    snapshot). PostgreSQL reads the account's profiles and ledger once each and joins them by hash:
    a fifth of the cost of probing for each digest when a file names most of the account's profiles."""
    mark = "?" if dialect == "sqlite" else "%s"
    sql = (
        f"SELECT profiles.import_digest, profiles.id FROM profiles WHERE profiles.account_id = {mark}"
        f" AND profiles.import_digest IS NOT NULL AND {_NO_EVENT_SINCE}"
    )
    return dict(_rows(conn, sql, (account_id,)))


def _rows(conn: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows of one statement on a bare connection (its cursor closed after)."""
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def unchanged_digests_sql(dialect: str) -> str:
    """unchanged_digests' statement; its parameters are the JSON array of digests, then the account
    (SQLite), or the account, then the array (PostgreSQL)."""
    if dialect == "sqlite":
        # The values outside, the index inside (as bulk.matching_clause); the index named: with the
        # correlated probe beside it, SQLite's planner would scan the account's profiles.
        return (
            "SELECT profiles.import_digest, profiles.id FROM json_each(?) AS wanted CROSS JOIN profiles"
            " INDEXED BY ix_profiles_import_digest ON profiles.account_id = ?"
            f" AND profiles.import_digest = wanted.value WHERE {_NO_EVENT_SINCE}"
        )
    return (
        f"SELECT profiles.import_digest, profiles.id FROM {pg_wanted('%s', '%s')} JOIN profiles"
        " ON profiles.account_id = wanted.account_id AND profiles.import_digest = wanted.value"
        f" WHERE {_NO_EVENT_SINCE}"
    )
