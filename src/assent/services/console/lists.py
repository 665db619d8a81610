"""What the staff console shows of lists and segments: each with its member count, one's members a
page at a time, each with whether email and SMS marketing reach them, and who of them a send could
reach now, by reason (the audience breakdown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ...domain import Channel, DomainError, Purpose
from ...domain.decisions import Via, receive_flags
from ..audiences import resolution
from ..lists import lists, segments
from ..lists.lists import Cursor, MailingList
from ..lists.segments import Segment
from ..profiles.views import ProfileView

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


@dataclass(frozen=True, slots=True)
class SegmentMembers:
    segment: Segment
    members: list[Member]
    next_cursor: str | None  # the id of the last member, when more follow


def _member(r: ProfileView) -> Member:
    flags = receive_flags(r.state) if r.state is not None else {}
    name = " ".join(p for p in (r.first_name, r.last_name) if p)
    return Member(r.id, r.email, r.phone_number, name, r.joined_at or r.created_at,
                  flags.get((Channel.EMAIL, Purpose.MARKETING), False),
                  flags.get((Channel.SMS, Purpose.MARKETING), False))  # fmt: skip


def overview(engine: Engine, account_id: str) -> list[MailingList]:
    return lists.all_lists(engine, account_id)


def members(engine: Engine, account_id: str, list_id: str, after: str | None = None) -> Members:
    """One page of the list's members, oldest first; `after` is a page's `next_cursor`."""
    found = lists.get_list(engine, account_id, list_id, with_count=True)
    cursor = Cursor(after=after.split("|", 1)) if after and "|" in after else None
    page = lists.members(engine, account_id, list_id, [], descending=False, size=PAGE_SIZE, cursor=cursor,
                         with_states=True)  # fmt: skip
    out = [_member(r) for r in page.profiles]
    nxt = None
    if page.page.has_next and out:
        nxt = f"{out[-1].joined.isoformat()}|{out[-1].id}"
    return Members(found, out, nxt)


def segment_overview(engine: Engine, account_id: str) -> list[Segment]:
    return segments.all_segments(engine, account_id, with_count=True)


def segment_members(engine: Engine, account_id: str, segment_id: str, after: str | None = None) -> SegmentMembers:
    """One page of the segment's members as of now, by profile id; `after` is a page's `next_cursor`."""
    found = segments.get_segment(engine, account_id, segment_id, with_count=True)
    cursor = Cursor(after=[after]) if after else None
    page = segments.members(engine, account_id, segment_id, [], descending=False, size=PAGE_SIZE, cursor=cursor,
                            with_states=True)  # fmt: skip
    out = [_member(r) for r in page.profiles]
    return SegmentMembers(found, out, out[-1].id if page.page.has_next and out else None)


@dataclass(frozen=True, slots=True)
class Reach:
    """Who of a list or segment a send could reach now, and why the others not."""

    channel: str
    purpose: str
    via: str
    count: resolution.AudienceCount


def _choice(enum: type[Channel] | type[Purpose] | type[Via], field: str, value: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise DomainError(field, f"is one of {', '.join(m.value for m in enum)}", value[:40]) from None


def reach(engine: Engine, account_id: str, kind: str, source_id: str, channel: str, purpose: str, via: str) -> Reach:
    """The audience breakdown of a list or segment for a send (DomainError naming a bad field)."""
    q = resolution.AudienceQuery(
        include=(resolution.Source(kind, source_id),), channel=_choice(Channel, "channel", channel),
        purpose=_choice(Purpose, "purpose", purpose), via=_choice(Via, "via", via),
    )  # fmt: skip
    return Reach(channel, purpose, via, resolution.count(engine, account_id, q))
