"""The consent ledger: an append-only, per-account, hash-chained sequence of consent events.

Each row's `hash` is SHA-256 over its seq, the SHA-256 of a canonical encoding of its content
(account, profile, time, type, metric, payload text, digest of the personal data) and the
previous row's hash. The
account row keeps the head (last seq and hash), which anchors the tail: deleting the newest
events is caught too. Personal data sits in `personal`, covered only by `personal_digest`
(salted), so erasing it leaves every hash valid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeAlias

import msgspec
from sqlalchemy import ColumnElement, Connection, select
from sqlalchemy.exc import NoResultFound

from ..domain import ConsentEvent, EventType
from ..domain.chain import canonical_time as canonical_time
from ..domain.chain import content_hash as content_hash
from ..domain.chain import link_hash as link_hash
from ..domain.chain import personal_digest as personal_digest
from . import bulk
from .db import driver_cursor, driver_rows, driver_utc, later, pipelined, send
from .forms import EncodedEvent as EncodedEvent
from .forms import encode as encode
from .forms import encode_like as encode_like
from .rows import AnyRow
from .tables import accounts, consent_events

COLUMNS = (
    "account_id",
    "seq",
    "profile_id",
    "occurred_at",
    "type",
    "metric",
    "payload",
    "personal",
    "personal_digest",
    "prev_hash",
    "hash",
)
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
# What a write prepared at some seq read: the stored profiles it changes, each with when it was last
# changed (_unchanged checks them).
Read: TypeAlias = Mapping[str, datetime | None]


class LedgerAppender:
    """Appends events of one account within the caller's transaction.

    Creating it locks the account's ledger head (SELECT … FOR UPDATE on PostgreSQL; SQLite write
    transactions are already exclusive), so appends of one account never interleave. In a
    pipeline (db.pipeline) the lock is only sent: statements made next go out with it, and the
    head is read by load(), which the owner calls before adding anything."""

    def __init__(self, conn: Connection, account_id: str) -> None:
        self.conn = conn
        self.account_id = account_id
        lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
        self._found: Callable[[], list[tuple[Any, ...]]] | None = later(
            conn, f"SELECT ledger_seq, ledger_head FROM accounts WHERE id = ?{lock}", (account_id,)
        )
        self.seq: int = 0
        self.head: str = ""
        self.rows: list[tuple[Any, ...]] = []
        if not pipelined(conn):
            self.load()

    def load(self) -> None:
        """Read the locked head (once); NoResultFound when there is no such account."""
        if self._found is None:
            return
        found, self._found = self._found(), None
        if len(found) != 1:
            raise NoResultFound("no such account")
        self.seq = int(found[0][0])
        self.head = found[0][1]

    def add(self, profile_id: str, events: Sequence[ConsentEvent]) -> None:
        for e in events:
            self.add_encoded(profile_id, encode(self.account_id, profile_id, e))

    def add_encoded(self, profile_id: str, e: EncodedEvent) -> None:
        self.seq += 1
        h = link_hash(self.seq, e.content_hash, self.head)
        self.rows.append(
            (self.account_id, self.seq, profile_id, e.occurred_at, e.type, e.metric, e.payload, e.personal,
             e.personal_digest, self.head, h)
        )  # fmt: skip
        self.head = h

    def append_in_database(
        self, events: Sequence[tuple[str, EncodedEvent]], unchanged: tuple[int, Read] | None = None
    ) -> Callable[[], int]:
        """PostgreSQL, in a pipeline that has sent the lock: append `events` (profile id, event) with
        their places and hashes worked out by the server from the locked head, and move the head,
        in one statement: nothing waits on this process between the lock and the commit. With
        `unchanged` (the seq a write was prepared at, and what it read), the statement first checks
        that none of it has changed since, as require_unchanged would in a statement of its own
        (one snapshot: the events it appends are not yet in it). The returned function tells how
        many events were written, once the pipeline has synced (and sets `seq` and `head`). The
        server's chain is link_hash's (a test holds them to each other)."""
        if not events:
            if unchanged is not None:
                require_unchanged(self.conn, self.account_id, *unchanged)
            return lambda: 0
        rows = [
            (self.account_id, i, pid, e.occurred_at, e.type, e.metric, e.payload, e.personal, e.personal_digest)
            for i, (pid, e) in enumerate(events, 1)
        ]
        source, params = bulk.json_rows(self.conn.dialect, consent_events, _PLACED, rows)
        contents = b"".join(bytes.fromhex(e.content_hash) for _, e in events)
        check, checked = ("", ()) if unchanged is None else _unchanged(self.account_id, *unchanged)
        found = later(
            self.conn,
            _APPEND_IN_DATABASE.format(check=f" AND {check}" if check else "", source=source),
            (self.account_id, *checked, contents, len(events), *params, self.account_id),
        )

        def written() -> int:
            (self.seq, self.head), *_ = found()
            return len(events)

        return written

    def flush(self) -> int:
        """Write what was added and move the head; returns how many events were written."""
        n = len(self.rows)
        if n:
            bulk.insert_rows(self.conn, consent_events, COLUMNS, self.rows)
            sql = "UPDATE accounts SET ledger_seq = ?, ledger_head = ? WHERE id = ?"
            send(self.conn, sql, (self.seq, self.head, self.account_id))  # it may be pipelined
            self.rows = []
        return n


# The columns append_in_database sends: an event's content, and its place among the events sent
# (under `seq`: it is joined to the place the chain gives it).
_PLACED = COLUMNS[:-2]

# The chain worked out by the server from the locked head, as link_hash works it out: an event's
# hash is SHA-256 over "seq:content hash:previous hash" (hex). The content hashes travel as one
# bytea of 32 bytes each, read at a fixed offset (a text or array element would be found by
# walking from the start). Its parameters: the account (and the check's, when it has one), the
# content hashes, how many; the rows'; the account again.
_APPEND_IN_DATABASE = (
    "WITH RECURSIVE chain(i, seq, prev, hash) AS ("
    " SELECT CAST(0 AS bigint), ledger_seq, CAST(NULL AS text), CAST(ledger_head AS text) FROM accounts"
    " WHERE id = ?{check}"
    " UNION ALL"
    " SELECT i + 1, seq + 1, hash, encode(sha256(convert_to(CAST(seq + 1 AS text) || ':'"
    " || encode(substring(CAST(? AS bytea) FROM CAST(i * 32 + 1 AS integer) FOR 32), 'hex') || ':' || hash,"
    " 'UTF8')), 'hex') FROM chain WHERE i < ?),"
    " appended AS (INSERT INTO consent_events (" + ",".join(COLUMNS) + ")"
    " SELECT s.account_id, chain.seq, s.profile_id, s.occurred_at, s.type, s.metric, s.payload, s.personal,"
    " s.personal_digest, chain.prev, chain.hash FROM {source} JOIN chain ON chain.i = s.seq RETURNING seq)"
    " UPDATE accounts SET ledger_seq = last.seq, ledger_head = last.hash"
    " FROM (SELECT seq, hash FROM chain ORDER BY i DESC LIMIT 1) AS last"
    " WHERE accounts.id = ? AND (SELECT count(*) FROM appended) > 0"
    " RETURNING accounts.ledger_seq, accounts.ledger_head"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    profile_id: str
    event: ConsentEvent


def decode(row: AnyRow) -> ConsentEvent:
    return decode_columns(row.type, row.occurred_at, row.metric, row.payload, row.personal)


def decode_columns(
    type: str, occurred_at: datetime, metric: str | None, payload: str, personal: str | None
) -> ConsentEvent:
    """The event stored in these columns."""
    found = msgspec.json.decode(personal) if personal else None
    if found:
        found.pop("salt", None)
    return ConsentEvent.from_record(type, occurred_at, metric, msgspec.json.decode(payload), found)


def decode_encoded(e: EncodedEvent) -> ConsentEvent:
    """An event back from its canonical form (as precomputed by a bulk path, before it is stored)."""
    occurred_at = e.occurred_at
    if isinstance(occurred_at, str):  # SQLite's text form (bulk.db_time)
        occurred_at = datetime.strptime(occurred_at, bulk.SQLITE_FORMAT).replace(tzinfo=UTC)
    personal = msgspec.json.decode(e.personal) if e.personal else None
    if personal:
        personal.pop("salt", None)
    return ConsentEvent.from_record(e.type, occurred_at, e.metric, msgspec.json.decode(e.payload), personal)


def of_profile(account_id: str, profile_id: str) -> tuple[ColumnElement[bool], ...]:
    """The conditions of one profile's events. `seq > 0` holds for every event; it is there for
    SQLite's planner, which without statistics read (account_id, profile_id) through the primary
    key, the account's whole ledger, rather than the profile index (seq is its third column)."""
    t = consent_events
    return t.c.account_id == account_id, t.c.profile_id == profile_id, t.c.seq > 0


def events(
    conn: Connection,
    account_id: str,
    profile_id: str | None = None,
    by_profile: bool = False,
) -> Iterator[StoredEvent]:
    """The account's events (or one profile's) in seq order, or grouped by profile, each in seq order."""
    t = consent_events
    q = (
        select(t).where(*of_profile(account_id, profile_id))
        if profile_id is not None
        else select(t).where(t.c.account_id == account_id)
    )
    q = q.order_by(t.c.profile_id, t.c.seq) if by_profile else q.order_by(t.c.seq)
    # Per statement: Connection.execution_options() would stream every later statement of the transaction too.
    for row in conn.execute(q, execution_options={"yield_per": 5000}):
        yield StoredEvent(row.seq, row.profile_id, decode(row))


# A stored event as the change feed reads it: its columns as stored, its time typed. A plain
# tuple: a page of 1,000 events is made at a tenth of the cost of as many NamedTuples.
EventRow: TypeAlias = tuple[
    int,  # seq
    str,  # profile_id
    datetime,  # occurred_at
    str,  # type
    str | None,  # metric
    str,  # payload: canonical JSON (sorted keys)
    str | None,  # personal: JSON with its salt, or None
]


_ROW_COLUMNS = "seq, profile_id, occurred_at, type, metric, payload, personal"


@functools.cache
def _page_sql(dialect: str, by_profile: bool, by_metric: bool, until: bool) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    where = [f"account_id = {mark}", f"seq > {mark}"]
    where += [f"profile_id = {mark}"] if by_profile else []
    where += [f"metric = {mark}"] if by_metric else []
    where += [f"occurred_at <= {mark}"] if until else []
    return f"SELECT {_ROW_COLUMNS} FROM consent_events WHERE {' AND '.join(where)} ORDER BY seq LIMIT {mark}"


def page_driver_rows(
    conn: Connection,
    account_id: str,
    *,
    after_seq: int = 0,
    limit: int,
    profile_id: str | None = None,
    metric: str | None = None,
    until: datetime | None = None,
) -> tuple[list[tuple[Any, ...]], Callable[[Any], datetime | None]]:
    """page_events' rows as the bare driver returns them, read on the primary key (or the profile
    index), with how to read their occurred_at (the third value) as an aware UTC time: the change
    feed builds each record straight from these in one pass, and a page of 1,000 costs SQLAlchemy
    more than the scan."""
    dialect = conn.dialect.name
    params: list[Any] = [account_id, after_seq]
    params += [profile_id] if profile_id is not None else []
    params += [metric] if metric is not None else []
    if until is not None:
        params.append(bulk.db_time(dialect, until))
    params.append(limit)
    sql = _page_sql(dialect, profile_id is not None, metric is not None, until is not None)
    with driver_cursor(conn) as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    return found, driver_utc(dialect)


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(conn: Connection, account_id: str) -> Verification:
    """Walk the chain from seq 1 and report the first event that was edited, deleted, inserted or moved."""
    head = conn.execute(select(accounts.c.ledger_seq, accounts.c.ledger_head).where(accounts.c.id == account_id)).one()
    t = consent_events
    q = select(*[t.c[c] for c in COLUMNS]).where(t.c.account_id == account_id).order_by(t.c.seq)
    expected_seq, prev, n = 1, "", 0
    # Per statement: Connection.execution_options() would stream every later statement of the transaction too.
    for row in conn.execute(q, execution_options={"yield_per": 5000}):
        n += 1
        if row.seq != expected_seq:
            return Verification(False, n, expected_seq, f"seq {expected_seq} is missing (next stored is {row.seq})")
        if row.prev_hash != prev:
            return Verification(False, n, row.seq, "prev_hash does not match the previous event's hash")
        if row.personal is not None and personal_digest(row.personal) != row.personal_digest:
            return Verification(False, n, row.seq, "personal data does not match its digest")
        content = content_hash(
            account_id, row.profile_id, row.occurred_at, row.type, row.metric, row.payload, row.personal_digest
        )
        h = link_hash(row.seq, content, prev)

        if h != row.hash:
            return Verification(False, n, row.seq, "hash does not match the event's content")
        prev, expected_seq = row.hash, expected_seq + 1
    last = expected_seq - 1
    if last < head.ledger_seq:
        return Verification(False, n, last + 1, f"events {last + 1}..{head.ledger_seq} are missing from the end")
    if last > head.ledger_seq or prev != head.ledger_head:
        return Verification(
            False,
            n,
            head.ledger_seq + 1 if last > head.ledger_seq else last,
            "the chain does not end at the recorded head",
        )
    return Verification(True, n)


def changed_since(conn: Connection, account_id: str, seq: int, profile_ids: Iterable[str]) -> bool:
    """Whether an event after `seq` concerns one of these profiles, or erased someone (an erasure
    leaves tombstones that refuse identifiers): what a write prepared before `seq` moved on relies on."""
    sql, params = _changed_since(conn.dialect.name, account_id, seq, list(profile_ids))
    return bool(driver_rows(conn, sql, params))


def changed_since_later(conn: Connection, account_id: str, seq: int, profile_ids: Iterable[str]) -> Callable[[], bool]:
    """changed_since, asked later: in a pipeline (db.pipeline) sent now, with what else is queued,
    and answered when the returned function is called; otherwise asked when it is called."""
    ids = list(profile_ids)
    if not pipelined(conn):
        return lambda: changed_since(conn, account_id, seq, ids)
    found = later(conn, *_changed_since(conn.dialect.name, account_id, seq, ids))
    return lambda: bool(found())


# Read on the primary key from `seq` on, in its order: only the events since. Unordered, LIMIT 1
# let PostgreSQL read the account's whole ledger on another index, hoping to stop early, which
# never happens when nothing matches (the usual answer). On PostgreSQL the range is a row
# comparison that only the primary key can serve (for an account newer than the statistics, "1
# row", every index of the account looked as good), and the erasure's type is written in: with no
# profiles to ask about, the erasures' partial index answers.
_CHANGED_SINCE = {
    "sqlite": (
        "SELECT seq FROM consent_events WHERE account_id = ? AND seq > ?"
        f" AND (type = '{EventType.PROFILE_ERASED.value}' OR profile_id IN (SELECT value FROM json_each(?)))"
        " ORDER BY seq LIMIT 1"
    ),
    "postgresql": (
        f"SELECT seq FROM consent_events WHERE (account_id, seq) > (?, ?) AND (account_id, seq) <= (?, {2**63 - 1})"
        f" AND (type = '{EventType.PROFILE_ERASED.value}' OR profile_id = ANY(CAST(? AS text[])))"
        " ORDER BY account_id, seq LIMIT 1"
    ),
}


def _changed_since(dialect: str, account_id: str, seq: int, ids: list[str]) -> tuple[str, tuple[Any, ...]]:
    if dialect == "sqlite":
        return _CHANGED_SINCE[dialect], (account_id, seq, bulk.values_param(ids))
    return _CHANGED_SINCE["postgresql"], (account_id, seq, account_id, ids)


def _unchanged(account_id: str, seq: int, read: Read) -> tuple[str, tuple[Any, ...]]:
    """PostgreSQL: an expression that fails the transaction with a serialization failure (SQLSTATE
    40001, migration 0027) when what a write prepared at `seq` read has changed since: an event
    after `seq` concerns a profile it read, or erased someone (changed_since); a profile it read
    (id -> updated_at as read) was written or deleted since; or the account has an enabled webhook,
    whose deliveries the write does not queue. With its parameters."""
    sql = (
        "assent_require(NOT EXISTS (" + _CHANGED_SINCE["postgresql"] + ")"
        " AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(CAST(? AS jsonb)) AS r(id, at) LEFT JOIN profiles"
        " ON profiles.account_id = ? AND profiles.id = r.id"
        " WHERE profiles.id IS NULL OR profiles.updated_at IS DISTINCT FROM CAST(r.at AS timestamptz))"
        " AND NOT EXISTS (SELECT 1 FROM webhooks WHERE account_id = ? AND enabled),"
        " 'what the write read has changed since it read it')"
    )
    at = msgspec.json.encode(read).decode()
    return sql, (account_id, seq, account_id, list(read), at, account_id, account_id)


def require_unchanged(conn: Connection, account_id: str, seq: int, read: Read) -> None:
    """PostgreSQL, in a pipeline after the lock: fail the transaction when what a write prepared at
    `seq` read has changed since (_unchanged). The statements queued after it, the commit among
    them, then do nothing. append_in_database checks the same in its own statement."""
    sql, params = _unchanged(account_id, seq, read)
    send(conn, f"SELECT {sql}", params)


def head_seq(conn: Connection, account_id: str) -> int | None:
    """The account's last seq (None when there is no such account)."""
    found = driver_rows(conn, "SELECT ledger_seq FROM accounts WHERE id = ?", (account_id,))
    return int(found[0][0]) if found else None


class JobStart(NamedTuple):
    """What a bulk job reads first about its account (job_start)."""

    seq: int  # the ledger's last seq
    webhooks: bool  # whether it has an enabled webhook
    tombstones: bool  # whether it has an erasure tombstone


def job_start(conn: Connection, account_id: str) -> JobStart | None:
    """A bulk job's first look-up, in one statement (one snapshot), None when there is no such
    account: the account's last seq; whether it has an enabled webhook, which tells whether the
    job's append may go in one round trip (_unchanged); and whether it has any erasure tombstone,
    without which its identifiers need no checking (services/privacy/tombstones.py)."""
    found = driver_rows(
        conn,
        "SELECT ledger_seq, EXISTS (SELECT 1 FROM webhooks WHERE webhooks.account_id = accounts.id AND enabled),"
        " EXISTS (SELECT 1 FROM erasure_tombstones WHERE erasure_tombstones.account_id = accounts.id)"
        " FROM accounts WHERE id = ?",
        (account_id,),
    )
    return JobStart(int(found[0][0]), bool(found[0][1]), bool(found[0][2])) if found else None


def page_events(
    conn: Connection,
    account_id: str,
    *,
    after_seq: int = 0,
    limit: int,
    profile_id: str | None = None,
    metric: str | None = None,
    until: datetime | None = None,
) -> list[StoredEvent]:
    """Up to `limit` events after `after_seq`, in seq order (the primary key's order)."""
    t = consent_events
    q = select(t).where(t.c.account_id == account_id, t.c.seq > after_seq)
    if profile_id is not None:
        q = q.where(t.c.profile_id == profile_id)
    if metric is not None:
        q = q.where(t.c.metric == metric)
    if until is not None:
        q = q.where(t.c.occurred_at <= until)
    return [StoredEvent(r.seq, r.profile_id, decode(r)) for r in conn.execute(q.order_by(t.c.seq).limit(limit))]
