"""Staff users of the console: their rows, by account and by login email."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from .rows import AnyRow
from .tables import staff_sessions_ended, staff_users


def insert_user(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(staff_users).values(**values))


def get_user(conn: Connection, account_id: str, user_id: str) -> AnyRow | None:
    q = select(staff_users).where(staff_users.c.account_id == account_id, staff_users.c.id == user_id)
    return conn.execute(q).first()


def user_by_email(conn: Connection, account_id: str, email: str) -> AnyRow | None:
    q = select(staff_users).where(staff_users.c.account_id == account_id, staff_users.c.email == email)
    return conn.execute(q).first()


def users_with_email(conn: Connection, email: str) -> list[AnyRow]:
    """Every account's user with this login email (a person may work for several brands), oldest first."""
    q = select(staff_users).where(staff_users.c.email == email).order_by(staff_users.c.created_at, staff_users.c.id)
    return list(conn.execute(q))


def account_users(conn: Connection, account_id: str) -> list[AnyRow]:
    q = select(staff_users).where(staff_users.c.account_id == account_id).order_by(staff_users.c.email)
    return list(conn.execute(q))


def set_fields(conn: Connection, account_id: str, user_id: str, now: datetime, **values: Any) -> int:
    q = (
        update(staff_users)
        .where(staff_users.c.account_id == account_id, staff_users.c.id == user_id)
        .values(updated_at=now, **values)
    )
    return conn.execute(q).rowcount


def end_session(conn: Connection, account_id: str, session_id: str, expires_at: datetime, now: datetime) -> None:
    """Record a signed-out session (once), and forget those whose cookies have expired anyway."""
    t = staff_sessions_ended
    conn.execute(delete(t).where(t.c.expires_at < now))
    ended = select(t.c.session_id).where(t.c.account_id == account_id, t.c.session_id == session_id)
    if conn.execute(ended).first() is None:
        conn.execute(insert(t).values(account_id=account_id, session_id=session_id, expires_at=expires_at))


def session_ended(conn: Connection, account_id: str, session_id: str) -> bool:
    t = staff_sessions_ended
    q = select(exists().where(t.c.account_id == account_id, t.c.session_id == session_id))
    return bool(conn.execute(q).scalar())
