"""The rows of `assent sync`'s full copy worked out in SQL, in the source database.

domain/mirror.py says what rows a profile's state becomes; this says the same as one SELECT per
target table, so a million profiles reach the target without a Python object per profile. Each
consent row's can_receive is the audiences' SQL form of decide() (store/audiences.py: a flow
send to no list, no jurisdiction pack, no frequency cap — what receive_flags answers), so the
copy and the per-profile path agree by construction; tests/sync/test_sync_sql.py holds them
equal on random populations, and `assent sync --verify` compares the target with the per-profile
path.

Columns come in the row types' field order. Times come as aware datetimes from PostgreSQL and as
ISO 8601 text in UTC (`2026-05-01T12:00:00.000000+00:00`) from SQLite, whose stored form is the
same instant without the `T` and the offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CompoundSelect, Connection, and_, func, literal, literal_column, or_, select, union, union_all
from sqlalchemy.sql.elements import ColumnElement

from ..domain import ALL_CHANNEL_PURPOSES, Channel, Policy, Purpose, Send, Via
from .audiences import NEVER, compiled, consent_row, no_jit, pending, raw_rows, send_rules
from .db import driver_connection
from .rows import AnySelect
from .tables import consents, list_members, list_suppressions, pending_optins, profiles, suppressions

# decide()'s rules as receive_flags applies them: a flow send, to no list, under no pack or cap.
_RECEIVE_POLICY = Policy(jurisdictions=())
# Channels decide() allows only on a SUBSCRIBED consent of the channel (SMS transactional: of
# either SMS purpose); email and direct mail go to profiles that never opted in.
_OPT_IN_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.PUSH})


def _time(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if conn.dialect.name != "sqlite":
        return column
    return func.replace(column, " ", "T").op("||")(literal_column("'+00:00'"))


def _consent_select(conn: Connection, account_id: str, channel: Channel, purpose: Purpose) -> AnySelect:
    """One channel and purpose's rows: every profile with a stored status other than
    NEVER_SUBSCRIBED, a pending double opt-in, or a send decide() would allow."""
    send = Send(channel, datetime.now(UTC), purpose, Via.FLOW, policy=_RECEIVE_POLICY)
    rules = send_rules(account_id, send)
    p = rules.p
    c = consent_row(rules, account_id, channel, purpose)
    status = func.coalesce(c.c.status, NEVER)
    waiting = pending(p, account_id, channel, purpose)
    allowed = rules.allowed()
    cols = (
        literal(account_id), p.c.id, literal(channel.value), literal(purpose.value), p.c.email, p.c.phone_number,
        p.c.external_id, status, _time(conn, c.c.consent_timestamp), _time(conn, c.c.last_updated), c.c.method,
        c.c.method_detail, c.c.custom_method_detail, c.c.double_optin, waiting, allowed,
    )  # fmt: skip
    where = [p.c.account_id == account_id, or_(status != NEVER, waiting, allowed)]
    if channel in _OPT_IN_CHANNELS:
        # Only profiles with a consent on the channel or an opt-in pending for this row can have
        # one: the profiles' index is sought for those alone, not scanned whole for each row.
        c, po = consents, pending_optins
        where.append(p.c.id.in_(union(
            select(c.c.profile_id).where(c.c.account_id == account_id, c.c.channel == channel.value),
            select(po.c.profile_id).where(po.c.account_id == account_id, po.c.channel == channel.value,
                                          po.c.purpose == purpose.value),
        )))  # fmt: skip
    else:
        where.append(p.c.id >= "")  # makes SQLite range-scan the primary key (audiences._membership)
    return select(*cols).select_from(rules.source).where(*where)


def _owned(table: Any, account_id: str) -> Any:
    p = profiles
    return table.join(p, and_(p.c.account_id == table.c.account_id, p.c.id == table.c.profile_id))


def table_select(conn: Connection, account_id: str, table: str) -> AnySelect | CompoundSelect[Any]:
    """The SELECT of the account's rows of one target table ("consent", "suppression", "lists")."""
    p = profiles
    if table == "consent":
        return union_all(*(_consent_select(conn, account_id, ch, pu) for ch, pu in ALL_CHANNEL_PURPOSES))
    if table == "suppression":
        s, ls = suppressions, list_suppressions
        return union_all(
            select(literal(account_id), s.c.profile_id, literal(""), s.c.reason, _time(conn, s.c.created_at),
                   p.c.email).select_from(_owned(s, account_id)).where(s.c.account_id == account_id),
            select(literal(account_id), ls.c.profile_id, ls.c.list_id, ls.c.reason, _time(conn, ls.c.created_at),
                   p.c.email).select_from(_owned(ls, account_id)).where(ls.c.account_id == account_id),
        )  # fmt: skip
    if table == "lists":
        m = list_members
        return (
            select(literal(account_id), m.c.profile_id, m.c.list_id, _time(conn, m.c.joined_at), p.c.email,
                   p.c.phone_number, p.c.external_id)
            .select_from(_owned(m, account_id))
            .where(m.c.account_id == account_id)
        )  # fmt: skip
    raise ValueError(f"no mirrored table {table!r}")


def table_rows(conn: Connection, account_id: str, table: str) -> Iterator[Sequence[Any]]:
    """The account's rows of one target table, as the driver's tuples."""
    no_jit(conn)
    return raw_rows(conn, table_select(conn, account_id, table), f"mirror_{table}", batch=10_000)


def copies_text(conn: Connection) -> bool:
    """Whether the source can hand a table over as PostgreSQL COPY text (it is PostgreSQL)."""
    return conn.dialect.name == "postgresql"


def copy_table(conn: Connection, account_id: str, table: str, write: Callable[[bytes], object]) -> None:
    """PostgreSQL source: `COPY (SELECT …) TO STDOUT` of one target table, each chunk of COPY
    text handed to `write` as the server sends it (no row ever becomes a Python object)."""
    no_jit(conn)
    sql, params = compiled(conn, table_select(conn, account_id, table))
    with driver_connection(conn).cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
        for chunk in copy:
            write(bytes(chunk))
