"""The account's current state read whole, profile by profile, for copying it elsewhere (sync).

`profile_states` walks the profiles and the projection tables side by side, each in its primary
key's order (account, profile id, ...), so a million profiles stream through in constant memory
with one scan per table and no join. Run it inside `snapshot_transaction` so every scan and the
ledger head it reports see the same instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ..domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from ..domain.channels import SuppressionReason
from ..domain.mirror import Identifiers
from ..domain.push_tokens import ACTIVE
from . import projection, push_tokens
from .db import driver_connection
from .profiles import get_many
from .tables import (
    UTCDateTime,
    consent_events,
    consents,
    list_members,
    list_suppressions,
    pending_optins,
    profiles,
    suppressions,
)

ProfileSnapshot = tuple[str, Identifiers, ProfileState]
_BATCH = 5000


@contextmanager
def snapshot_transaction(engine: Engine) -> Iterator[Connection]:
    """A read transaction in which every statement sees the same committed state: REPEATABLE READ
    on PostgreSQL; a SQLite read transaction already reads one snapshot of the WAL."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def _scan(conn: Connection, table: Any, account_id: str, columns: Sequence[str]) -> Iterator[Any]:
    """(profile_id, *columns) of the account's rows in primary key order, read with the raw driver
    (a named server-side cursor on PostgreSQL): at a million rows SQLAlchemy's per-row result
    processing costs more than the read. SQLite's stored times come back as aware datetimes."""
    key = ", ".join(c.name for c in table.primary_key.columns if c.name != "account_id")
    raw = driver_connection(conn)
    cols = ", ".join(("profile_id" if table is not profiles else "id", *columns))
    sqlite = conn.dialect.name == "sqlite"
    sql = f"SELECT {cols} FROM {table.name} WHERE account_id = {'?' if sqlite else '%s'} ORDER BY {key}"
    if not sqlite:
        with raw.cursor(name=f"snapshot_{table.name}") as cur:
            cur.itersize = _BATCH
            cur.execute(sql, (account_id,))
            yield from cur
        return
    times = [i + 1 for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    parsed: dict[str, datetime] = {}
    cur = raw.cursor()
    try:
        cur.execute(sql, (account_id,))
        while rows := cur.fetchmany(_BATCH):
            if not times:
                yield from rows
                continue
            for row in rows:
                out = list(row)
                for i in times:
                    v = out[i]
                    if v is not None:
                        t = parsed.get(v)
                        if t is None:
                            if len(parsed) > 100_000:
                                parsed.clear()
                            t = parsed[v] = datetime.fromisoformat(v).replace(tzinfo=UTC)
                        out[i] = t
                yield out
    finally:
        cur.close()


class _Side:
    """One projection table's rows, taken profile by profile as the walk over profiles reaches them."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self.rows = rows
        self.head: Any = next(rows, None)

    def take(self, profile_id: str) -> list[Any] | None:
        head = self.head
        if head is None or head[0] > profile_id:
            return None  # the common case: nothing for this profile, one comparison
        out = []
        # Rows of a profile that is not (or no longer) in the profiles table are passed over.
        while head is not None and head[0] <= profile_id:
            if head[0] == profile_id:
                out.append(head)
            head = next(self.rows, None)
        self.head = head
        return out


_CHANNELS = {c.value: c for c in Channel}
_PURPOSES = {p.value: p for p in Purpose}
_STATUSES = {s.value: s for s in ConsentStatus}
_REASONS = {r.value: r for r in SuppressionReason}


def profile_states(conn: Connection, account_id: str) -> Iterator[ProfileSnapshot]:
    """Every profile of the account with its identifiers and state, in profile id order."""
    walk = _scan(conn, profiles, account_id, ("email", "phone_number", "external_id"))
    cons = _Side(_scan(conn, consents, account_id, projection.COLUMNS["consents"][2:]))
    sups = _Side(_scan(conn, suppressions, account_id, ("reason", "created_at")))
    lsups = _Side(_scan(conn, list_suppressions, account_id, ("list_id", "reason", "created_at")))
    members = _Side(_scan(conn, list_members, account_id, ("list_id", "joined_at")))
    pending = _Side(_scan(conn, pending_optins, account_id, ("channel", "purpose", "list_id", "requested_at")))
    devices = push_tokens.all_active_counts(conn, account_id, ACTIVE)  # the profiles' push addresses
    empty: MappingProxyType[Any, Any] = MappingProxyType({})
    ch, pu, st, rs = _CHANNELS, _PURPOSES, _STATUSES, _REASONS
    # The state is only read on its way to the target: plain dicts, not read-only views, and enum
    # members looked up by value in a dict (several times cheaper than calling the enum).
    for pid, email, phone, external_id in walk:
        c_rows, s_rows, l_rows = cons.take(pid), sups.take(pid), lsups.take(pid)
        m_rows, w_rows = members.take(pid), pending.take(pid)
        state = ProfileState(
            {(ch[r[1]], pu[r[2]]): ChannelConsent(st[r[3]], r[4], r[5], r[6], r[7], r[8], r[9]) for r in c_rows}
            if c_rows
            else empty,
            {rs[r[1]]: r[2] for r in s_rows} if s_rows else empty,
            {r[1]: ListSuppression(r[2], r[3]) for r in l_rows} if l_rows else empty,
            {r[1]: r[2] for r in m_rows} if m_rows else empty,
            {(ch[r[1]], pu[r[2]], r[3]): PendingOptIn(r[4]) for r in w_rows} if w_rows else empty,
            email,
            phone,
            devices.get(pid, 0),
        )
        yield pid, Identifiers(email, phone, external_id), state


def states_of(conn: Connection, account_id: str, profile_ids: Iterable[str]) -> list[ProfileSnapshot]:
    """The identifiers and state of each profile named that still exists."""
    rows = get_many(conn, account_id, sorted(set(profile_ids)))
    identities = {r.id: (r.email, r.phone_number) for r in rows}
    states = projection.load(conn, account_id, identities)
    return [(r.id, Identifiers(r.email, r.phone_number, r.external_id), states[r.id]) for r in rows]


def changed_profiles(conn: Connection, account_id: str, after_seq: int, limit: int) -> tuple[list[str], int]:
    """The profiles touched by up to `limit` events after `after_seq`, and the last of those seqs
    (`after_seq` itself when there are none)."""
    t = consent_events
    q = select(t.c.seq, t.c.profile_id).where(t.c.account_id == account_id, t.c.seq > after_seq)
    rows = list(conn.execute(q.order_by(t.c.seq).limit(limit)))
    if not rows:
        return [], after_seq
    return list(dict.fromkeys(r.profile_id for r in rows)), int(rows[-1].seq)


def profile_count(conn: Connection, account_id: str) -> int:
    return int(conn.execute(select(func.count()).where(profiles.c.account_id == account_id)).scalar_one())
