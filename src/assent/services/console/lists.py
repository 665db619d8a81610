"""What the staff console shows of lists: every list with its member count, and one list's members
a page at a time (keyset pages by when they joined), each with whether email marketing reaches them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ...domain import Channel, Purpose
from ...domain.decisions import receive_flags
from ..lists import lists
from ..lists.lists import Cursor, MailingList

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    email: str | None
    phone_number: str | None
    name: str
    joined: datetime
    can_email: bool
    can_sms: bool


@dataclass(frozen=True, slots=True)
class Members:
    mailing_list: MailingList
    members: list[Member]
    next_cursor: str | None  # "joined_at|profile_id" of the last member, when more follow


def overview(engine: Engine, account_id: str) -> list[MailingList]:
    return lists.all_lists(engine, account_id)


def members(engine: Engine, account_id: str, list_id: str, after: str | None = None) -> Members:
    """One page of the list's members, oldest first; `after` is a page's `next_cursor`."""
    found = lists.get_list(engine, account_id, list_id, with_count=True)
    cursor = Cursor(after=after.split("|", 1)) if after and "|" in after else None
    page = lists.members(engine, account_id, list_id, [], descending=False, size=PAGE_SIZE, cursor=cursor,
                         with_states=True)  # fmt: skip
    out = []
    for r in page.profiles:
        flags = receive_flags(r.state) if r.state is not None else {}
        name = " ".join(p for p in (r.first_name, r.last_name) if p)
        can_email = flags.get((Channel.EMAIL, Purpose.MARKETING), False)
        can_sms = flags.get((Channel.SMS, Purpose.MARKETING), False)
        joined = r.joined_at or r.created_at
        out.append(Member(r.id, r.email, r.phone_number, name, joined, can_email, can_sms))
    nxt = None
    if page.page.has_next and out:
        nxt = f"{out[-1].joined.isoformat()}|{out[-1].id}"
    return Members(found, out, nxt)
