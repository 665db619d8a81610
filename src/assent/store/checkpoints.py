"""Signed ledger checkpoints, and the chain read between two seqs for proofs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, insert, select

from .ledger import of_profile
from .rows import AnyRow
from .tables import accounts, consent_events, ledger_checkpoints


def add(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(ledger_checkpoints).values(**row))


def get(conn: Connection, account_id: str, seq: int) -> AnyRow | None:
    t = ledger_checkpoints
    return conn.execute(select(t).where(t.c.account_id == account_id, t.c.seq == seq)).first()


def listing(conn: Connection, account_id: str) -> list[AnyRow]:
    t = ledger_checkpoints
    return list(conn.execute(select(t).where(t.c.account_id == account_id).order_by(t.c.seq)))


def first_covering(conn: Connection, account_id: str, seq: int) -> AnyRow | None:
    """The earliest checkpoint at or after `seq`: the shortest chain from an event to a signature."""
    t = ledger_checkpoints
    q = select(t).where(t.c.account_id == account_id, t.c.seq >= seq).order_by(t.c.seq).limit(1)
    return conn.execute(q).first()


def hash_at(conn: Connection, account_id: str, seq: int) -> str | None:
    t = consent_events
    return conn.execute(select(t.c.hash).where(t.c.account_id == account_id, t.c.seq == seq)).scalar()


def chain_rows(conn: Connection, account_id: str, first: int, last: int) -> Iterator[AnyRow]:
    """The events from seq `first` to `last`, in seq order."""
    t = consent_events
    q = select(t).where(t.c.account_id == account_id, t.c.seq >= first, t.c.seq <= last).order_by(t.c.seq)
    yield from conn.execute(q, execution_options={"yield_per": 5000})


def head(conn: Connection, account_id: str) -> tuple[int, str] | None:
    """The account's ledger head (last seq and its hash), None for no such account."""
    row = conn.execute(select(accounts.c.ledger_seq, accounts.c.ledger_head).where(accounts.c.id == account_id)).first()
    return None if row is None else (int(row.ledger_seq), str(row.ledger_head))


def profile_rows(conn: Connection, account_id: str, profile_id: str) -> list[AnyRow]:
    """One profile's events, in seq order, as stored (for its consent proofs)."""
    t = consent_events
    q = select(t).where(*of_profile(account_id, profile_id)).order_by(t.c.seq)
    return list(conn.execute(q))
