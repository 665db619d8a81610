"""Lists: named sets of profiles with a single or double opt-in process."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from ..domain import DomainError, OptInProcess
from ..store import lists as store
from ..store.db import read_transaction, write_transaction
from .accounts import load_account
from .clock import utcnow
from .errors import NotFound

_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class MailingList:
    id: str
    name: str
    opt_in_process: OptInProcess
    created: datetime
    updated: datetime
    profile_count: int | None = None


def _list(row, count: int | None = None) -> MailingList:
    return MailingList(row.id, row.name, OptInProcess(row.opt_in_process), row.created_at, row.updated_at, count)


def create_list(engine: Engine, account_id: str, name: str, double_opt_in: bool = False) -> MailingList:
    name = (name or "").strip()
    if not name:
        raise DomainError("name", "a list needs a name")
    process = OptInProcess.DOUBLE if double_opt_in else OptInProcess.SINGLE
    now = utcnow()
    # Six characters, like Klaviyo's list ids.
    list_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        store.insert_list(conn, account_id, list_id, name, process.value, now)
    return MailingList(list_id, name, process, now, now, 0)


def load_list(conn: Connection, account_id: str, list_id: str) -> MailingList:
    row = store.get_list(conn, account_id, list_id)
    if row is None:
        raise NotFound("list", "no such list in this account", list_id)
    return _list(row)


def all_lists(engine: Engine, account_id: str) -> list[MailingList]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [_list(r, r.profile_count) for r in store.all_lists(conn, account_id)]
