"""Accounts, API keys and installation settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, insert, select

from .tables import accounts, api_keys, settings


def insert_account(conn: Connection, id: str, name: str, default_region: str, now: datetime) -> None:
    conn.execute(
        insert(accounts).values(
            id=id,
            name=name,
            default_region=default_region,
            email_campaigns_require_explicit_consent=False,
            ledger_seq=0,
            ledger_head="",
            created_at=now,
        )
    )


def get_account(conn: Connection, account_id: str) -> Row | None:
    return conn.execute(select(accounts).where(accounts.c.id == account_id)).first()


def all_accounts(conn: Connection) -> list[Row]:
    return list(conn.execute(select(accounts).order_by(accounts.c.created_at)))


def insert_api_key(conn: Connection, account_id: str, key_id: str, digest: str, label: str, now: datetime) -> None:
    conn.execute(
        insert(api_keys).values(
            account_id=account_id, id=key_id, digest=digest, label=label, scopes="*", created_at=now
        )
    )


def key_by_digest(conn: Connection, digest: str) -> Row | None:
    return conn.execute(select(api_keys).where(api_keys.c.digest == digest)).first()


def get_setting(conn: Connection, name: str) -> str | None:
    return conn.execute(select(settings.c.value).where(settings.c.name == name)).scalar()


def put_setting(conn: Connection, name: str, value: str) -> None:
    conn.execute(insert(settings).values(name=name, value=value))
