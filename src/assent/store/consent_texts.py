"""Consent text versions: inserted once, never updated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from .rows import AnyRow
from .tables import consent_texts


def add(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(consent_texts).values(**row))


def get(conn: Connection, account_id: str, text_id: str) -> AnyRow | None:
    q = select(consent_texts).where(consent_texts.c.account_id == account_id, consent_texts.c.id == text_id)
    return conn.execute(q).first()


def by_version(conn: Connection, account_id: str, version: str) -> AnyRow | None:
    q = select(consent_texts).where(consent_texts.c.account_id == account_id, consent_texts.c.version == version)
    return conn.execute(q).first()


def listing(conn: Connection, account_id: str) -> list[AnyRow]:
    t = consent_texts
    return list(conn.execute(select(t).where(t.c.account_id == account_id).order_by(t.c.created_at, t.c.id)))
