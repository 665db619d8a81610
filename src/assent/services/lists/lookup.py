"""A list as the services see it, and loading one: what the list use cases (`lists`) and the
modules they build on (confirmation emails, the recorder's hooks) share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row

from ...domain import OptInProcess
from ...store import lists as store
from ..shared.errors import NotFound


@dataclass(frozen=True, slots=True)
class MailingList:
    id: str
    name: str
    opt_in_process: OptInProcess
    created: datetime
    updated: datetime
    profile_count: int | None = None
    public: bool = False  # shown in the preference centre


def mailing_list(row: Row, count: int | None = None) -> MailingList:
    return MailingList(
        row.id, row.name, OptInProcess(row.opt_in_process), row.created_at, row.updated_at, count, row.public
    )


def load_list(conn: Connection, account_id: str, list_id: str) -> MailingList:
    row = store.get_list(conn, account_id, list_id)
    if row is None:
        raise NotFound("list", "no such list in this account", list_id)
    return mailing_list(row)
