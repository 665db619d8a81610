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


def accounts_with_setting(conn: Connection, name: str, value: str | None = None) -> list[tuple[str, str]]:
    """(account id, value) of the accounts whose setting `name` equals `value` (any non-empty value
    when None), e.g. the account an inbound text's number belongs to."""
    t = account_settings
    q = select(t.c.account_id, t.c.value).where(t.c.name == name)
    q = q.where(t.c.value == value) if value is not None else q.where(t.c.value != "")
    return [(row.account_id, row.value) for row in conn.execute(q.order_by(t.c.account_id))]
