"""Account settings."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from .tables import account_settings


def get_setting(conn: Connection, account_id: str, name: str) -> str | None:
    t = account_settings
    return conn.execute(select(t.c.value).where(t.c.account_id == account_id, t.c.name == name)).scalar()


def set_setting(conn: Connection, account_id: str, name: str, value: str) -> None:
    t = account_settings
    conn.execute(delete(t).where(t.c.account_id == account_id, t.c.name == name))
    conn.execute(insert(t).values(account_id=account_id, name=name, value=value))
