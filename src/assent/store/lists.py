"""Lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, func, insert, select

from .tables import list_members, lists


def insert_list(conn: Connection, account_id: str, id: str, name: str, opt_in_process: str, now: datetime) -> None:
    conn.execute(
        insert(lists).values(
            account_id=account_id, id=id, name=name, opt_in_process=opt_in_process, created_at=now, updated_at=now
        )
    )


def get_list(conn: Connection, account_id: str, list_id: str) -> Row | None:
    return conn.execute(select(lists).where(lists.c.account_id == account_id, lists.c.id == list_id)).first()


def all_lists(conn: Connection, account_id: str) -> list[Row]:
    members = (
        select(func.count())
        .where(list_members.c.account_id == account_id, list_members.c.list_id == lists.c.id)
        .scalar_subquery()
    )
    q = (
        select(lists, members.label("profile_count"))
        .where(lists.c.account_id == account_id)
        .order_by(lists.c.created_at)
    )
    return list(conn.execute(q))
