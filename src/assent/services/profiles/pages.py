"""Reading profiles for the API: filtered, sorted pages and single profiles (with their lists)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from ...domain import DomainError, ProfileState
from ...domain.identity import normalize_email, normalize_phone
from ...store import paging, profile_pages, profile_read, projection
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts.accounts import Account, load_account
from ..lists.lookup import MailingList, mailing_list
from ..shared.errors import NotFound
from ..shared.paging import Position, position
from .views import ProfileRow, ProfileView, profile_view


def _normalized_value(account: Account, field: str, value: Any) -> Any:
    """Filter values on identifiers compare as stored: normalised (an unparseable one matches nothing)."""
    if field not in ("email", "phone_number"):
        return value
    if isinstance(value, list):
        return [_normalized_value(account, field, v) for v in value]
    try:
        return normalize_email(value) if field == "email" else normalize_phone(value, account.default_region)
    except DomainError:
        return value


class _Condition:
    __slots__ = ("op", "field", "value")

    def __init__(self, op: str, field: str, value: Any) -> None:
        self.op, self.field, self.value = op, field, value


def list_profiles(
    engine: Engine,
    account_id: str,
    conditions: Sequence[Any],
    sort: str,
    descending: bool,
    cursor: Any,
    size: int,
    *,
    subscriptions: bool,
) -> tuple[Position, list[ProfileView]]:
    """One page of the account's profiles; `cursor` has .after/.before sort keys (or is None)."""
    if not conditions:
        at, rows, states = walk_profiles(
            engine, account_id, sort, descending, cursor, size, subscriptions=subscriptions
        )
        return at, [profile_view(r, states.get(r.id)) for r in rows]
    after, before = (cursor.after, cursor.before) if cursor else (None, None)
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        conditions = [_Condition(c.op, c.field, _normalized_value(account, c.field, c.value)) for c in conditions]
        query = profile_store.listing(account_id, conditions)
        columns = profile_store.SORT_COLUMNS[sort]
        page = paging.page(
            conn, query, columns, descending=descending, limit=size, after=after, before=before,
            key=profile_store.sort_key(sort),
        )  # fmt: skip
        states = (
            projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in page.rows})
            if (subscriptions and page.rows)
            else {}
        )
        return position(page), [profile_view(r, states.get(r.id)) for r in page.rows]


def walk_profiles(
    engine: Engine, account_id: str, sort: str, descending: bool, cursor: Any, size: int, *, subscriptions: bool
) -> tuple[Position, list[ProfileRow], dict[str, ProfileState]]:
    """list_profiles with no filter (a sync job's walk over every profile, the bare driver's keyset
    scan), before views are made: the page's stored rows and, when asked, their states by profile
    id (for a document built straight from the rows)."""
    after, before = (cursor.after, cursor.before) if cursor else (None, None)
    walked = profile_pages.walk(
        engine, account_id, sort, descending=descending, limit=size, after=after, before=before,
        key=profile_store.sort_key(sort), with_states=subscriptions,
    )  # fmt: skip
    if walked is None:
        raise NotFound("account", "no such account", account_id)  # as require_account says it
    raw, states = walked
    return position(raw), raw.rows, states


def one_profile(
    engine: Engine,
    account_id: str,
    profile_id: str,
    *,
    subscriptions: bool = False,
    with_lists: bool = False,
) -> tuple[ProfileView, list[MailingList]]:
    """The profile, and its lists when asked (for `include=lists`)."""
    if not with_lists:  # the hot path of GET /api/profiles/{id}: the raw driver, no SQLAlchemy
        found_one = profile_read.get(engine, account_id, profile_id, with_state=subscriptions)
        if found_one is None:
            raise NotFound("id", "no profile in this account has this id", profile_id)
        return profile_view(*found_one), []
    with read_transaction(engine) as conn:
        row = profile_store.get(conn, account_id, profile_id)
        if row is None:
            raise NotFound("id", "no profile in this account has this id", profile_id)
        state = (
            projection.load(conn, account_id, {row.id: (row.email, row.phone_number)})[row.id]
            if subscriptions
            else None
        )
        found = profile_store.lists_of(conn, account_id, profile_id) if with_lists else []
        lists = [mailing_list(lst) for lst in found]
        return profile_view(row, state), lists
