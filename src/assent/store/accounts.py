"""Accounts, API keys and installation settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import driver_cursor
from .rows import AnyRow
from .tables import accounts, api_keys, settings


def insert_account(conn: Connection, id: str, name: str, default_region: str, now: datetime, public_id: str) -> None:
    conn.execute(
        insert(accounts).values(
            id=id,
            public_id=public_id,
            name=name,
            default_region=default_region,
            email_campaigns_require_explicit_consent=False,
            ledger_seq=0,
            ledger_head="",
            created_at=now,
        )
    )


def get_account(conn: Connection, account_id: str) -> AnyRow | None:
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def account_exists(conn: Connection, account_id: str) -> bool:
    """Whether the account exists, asked with the bare driver: the check a read that needs nothing
    else of the account makes, at a hundredth of a SQLAlchemy statement's cost."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    with driver_cursor(conn) as cur:
        cur.execute(f"SELECT 1 FROM accounts WHERE id = {mark}", (account_id,))
        return cur.fetchone() is not None


def all_accounts(conn: Connection) -> list[AnyRow]:
    return list(conn.execute(select(accounts).order_by(accounts.c.created_at)))


def insert_api_key(
    conn: Connection, account_id: str, key_id: str, digest: str, label: str, now: datetime, scopes: str = "*"
) -> None:
    conn.execute(
        insert(api_keys).values(
            account_id=account_id, id=key_id, digest=digest, label=label, scopes=scopes, created_at=now
        )
    )


def key_by_digest(conn: Connection, digest: str) -> AnyRow | None:
    return conn.execute(select(api_keys).where(api_keys.c.digest == digest)).first()


def account_keys(conn: Connection, account_id: str) -> list[AnyRow]:
    q = select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.created_at)
    return list(conn.execute(q))


def delete_key(conn: Connection, account_id: str, key_id: str) -> int:
    return conn.execute(delete(api_keys).where(api_keys.c.account_id == account_id, api_keys.c.id == key_id)).rowcount


def get_setting(conn: Connection, name: str) -> str | None:
    return conn.execute(select(settings.c.value).where(settings.c.name == name)).scalar()


def setting_or_create(conn: Connection, name: str, make: Callable[[], str]) -> str:
    """The setting's value, creating it with `make()` when absent; concurrent creators agree on one."""
    value = get_setting(conn, name)
    if value is None:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(dialect_insert(settings).values(name=name, value=make()).on_conflict_do_nothing())
        value = conn.execute(select(settings.c.value).where(settings.c.name == name)).scalar_one()
    return value


def account_by_public_id(conn: Connection, public_id: str) -> AnyRow | None:
    return conn.execute(select(accounts).where(accounts.c.public_id == public_id)).first()
