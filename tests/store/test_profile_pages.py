"""Pages of every profile read with the bare driver (store.profile_pages, the unfiltered
GET /api/profiles) are store.paging's pages, in every sort and direction, after and before a
cursor, with the same states. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.writes import ProfileInput, create_profile
from assent.store import paging, profile_pages, projection
from assent.store import profiles as profile_store
from assent.store.db import read_transaction, write_transaction
from assent.store.tables import profiles


def _seed(engine, account_id: str) -> None:
    emails = ["b@example.com", None, "a@example.com", "c@example.com", None, "d@example.com", "e@example.com"]
    for i, email in enumerate(emails):
        values = {"email": email, "external_id": f"x{i}"} if email else {"external_id": f"x{i}"}
        create_profile(engine, account_id, ProfileInput(values=values))
    consent.subscribe(engine, account_id, Locator("email", "a@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.suppress(engine, account_id, Locator("email", "c@example.com"), SuppressionReason.HARD_BOUNCE)
    with write_transaction(engine) as conn:  # three profiles with the same times: the id breaks the tie
        x0 = profile_store.find(conn, account_id, "external_id", "x0")
        conn.execute(
            update(profiles)
            .where(profiles.c.account_id == account_id, profiles.c.external_id.in_(["x1", "x4"]))
            .values(created_at=x0.created_at, updated_at=x0.updated_at)
        )


def _summary(page) -> tuple:
    return ([r.id for r in page.rows], page.first, page.last, page.has_next, page.has_prev)


@pytest.mark.parametrize("sort", ["id", "created", "updated", "email"])
@pytest.mark.parametrize("descending", [False, True])
def test_raw_pages_are_the_keyset_pages(engine, account_id, sort, descending):
    _seed(engine, account_id)
    key = profile_store.sort_key(sort)
    with read_transaction(engine) as conn:

        def general(after=None, before=None):
            query = profile_store.listing(account_id, [])
            return paging.page(conn, query, profile_store.SORT_COLUMNS[sort], descending=descending, limit=2,
                               after=after, before=before, key=key)  # fmt: skip

        def raw(after=None, before=None):
            return profile_pages.page(conn, account_id, sort, descending=descending, limit=2, after=after,
                                      before=before, key=key)  # fmt: skip

        first = raw()
        assert _summary(first) == _summary(general())
        walked, page = list(first.rows), first
        while page.has_next:  # forwards by `next` cursors, as a sync job walks
            after = page.last
            page = raw(after=after)
            assert _summary(page) == _summary(general(after=after))
            walked += page.rows
        assert len(walked) == 7 and len({r.id for r in walked}) == 7
        back = raw(before=page.first)  # and one back by a `prev` cursor
        assert _summary(back) == _summary(general(before=page.first))
        assert [tuple(r) for r in first.rows] == [
            (r.id, *(getattr(r, c) for c in profile_pages.COLUMNS[1:])) for r in general().rows
        ]
        states = profile_pages.states(conn, account_id, walked)
        assert states == projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in walked})
        assert any(s.consents for s in states.values()) and any(s.suppressions for s in states.values())
    # The walk reads the same page and states in one bare-driver transaction.
    walk = profile_pages.walk(engine, account_id, sort, descending=descending, limit=2, after=first.last, before=None,
                              key=key, with_states=True)  # fmt: skip
    assert walk is not None
    with read_transaction(engine) as conn:
        second = raw(after=first.last)
        assert _summary(walk[0]) == _summary(second)
        assert walk[1] == profile_pages.states(conn, account_id, second.rows)


def test_an_unknown_account_is_not_found_on_the_bare_driver_paths(engine, account_id):
    from assent.services.consent import feed
    from assent.services.profiles.pages import list_profiles
    from assent.services.shared.errors import NotFound
    from assent.store.accounts import account_exists

    with read_transaction(engine) as conn:
        assert account_exists(conn, account_id) and not account_exists(conn, "01NOSUCHACCOUNT00000000000")
    assert list_profiles(engine, account_id, [], "id", False, None, 10, subscriptions=True) is not None
    with pytest.raises(NotFound):
        list_profiles(engine, "01NOSUCHACCOUNT00000000000", [], "id", False, None, 10, subscriptions=True)
    with pytest.raises(NotFound):
        feed.feed(engine, "01NOSUCHACCOUNT00000000000", after_seq=0, limit=10)


def test_profiles_with_the_same_projection_rows_share_one_states_parts(engine, account_id):
    email = [(Channel.EMAIL, Purpose.MARKETING)]
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        consent.subscribe(engine, account_id, Locator("email", address), email)
    create_profile(engine, account_id, ProfileInput(values={"external_id": "none"}))
    with write_transaction(engine) as conn:  # a and b subscribed in one import: the very same rows
        a = profile_store.find(conn, account_id, "email", "a@example.com")
        b = profile_store.find(conn, account_id, "email", "b@example.com")
        for table in ("consents",):
            conn.exec_driver_sql(
                f"UPDATE {table} SET consent_timestamp = (SELECT consent_timestamp FROM {table} "
                f"WHERE profile_id = '{a.id}'), last_updated = (SELECT last_updated FROM {table} "
                f"WHERE profile_id = '{a.id}') WHERE profile_id = '{b.id}'"
            )
    with read_transaction(engine) as conn:
        rows = profile_pages.page(
            conn, account_id, "id", descending=False, limit=10, key=profile_store.sort_key("id")
        ).rows
        states = profile_pages.states(conn, account_id, rows)
        assert states == projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in rows})
    by_email = {r.email: states[r.id] for r in rows}
    assert by_email["a@example.com"].consents is by_email["b@example.com"].consents
    assert by_email["a@example.com"].email == "a@example.com" and by_email["b@example.com"].email == "b@example.com"
    assert by_email["a@example.com"].consents is not by_email["c@example.com"].consents


def test_rows_and_states_keep_every_value_as_stored(engine, account_id):
    """On SQLite the bare driver reads a profile, and each projection row, as one JSON array's
    text: awkward text (quotes, backslashes, control characters, other scripts), every kind of
    projection row, both flags and missing values come back as the general path reads them."""
    from datetime import UTC, datetime

    from assent.domain import ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState

    odd = 'Zoë "Q" \\ \t\n\x01\x1f\x7f Ω 日本 🙂 </script> \u2028'
    values = {"external_id": "odd", "first_name": odd, "last_name": "", "city": odd}
    create_profile(engine, account_id, ProfileInput(values=values, properties={"k": odd, "n": 1.5, "big": 10**30}))
    create_profile(engine, account_id, ProfileInput(values={"external_id": "plain"}))
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    subscribed, unsubscribed = ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED
    state = ProfileState(
        consents={
            (Channel.EMAIL, Purpose.MARKETING): ChannelConsent(subscribed, at, "FORM", odd, None, True, at),
            (Channel.SMS, Purpose.MARKETING): ChannelConsent(unsubscribed, at, None, None, "x", False, at),
            (Channel.PUSH, Purpose.MARKETING): ChannelConsent(subscribed, None, None, None, None, None, at),
        },
        suppressions={SuppressionReason.HARD_BOUNCE: at},
        list_suppressions={"L1": ListSuppression(odd, at)},
        lists={"L2": at},
        pending={(Channel.EMAIL, Purpose.MARKETING, "L2"): PendingOptIn(at, "API", odd, None)},
    )
    with write_transaction(engine) as conn:
        pid = profile_store.find(conn, account_id, "external_id", "odd").id
        projection.write(conn, account_id, {pid: state})
    key = profile_store.sort_key("id")
    with read_transaction(engine) as conn:
        general = paging.page(conn, profile_store.listing(account_id, []), profile_store.SORT_COLUMNS["id"],
                              descending=False, limit=10, key=key)  # fmt: skip
        rows = profile_pages.page(conn, account_id, "id", descending=False, limit=10, key=key).rows
        columns = profile_pages.COLUMNS[1:]
        assert [tuple(r) for r in rows] == [(r.id, *(getattr(r, c) for c in columns)) for r in general.rows]
        names = [r.first_name for r in rows if r.first_name]
        assert len(names) == 1 and all(c in names[0] for c in '"\\\t\n\x01\x7fΩ🙂')
        states = profile_pages.states(conn, account_id, rows)
        assert states == projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in rows})
        mine = states[pid]
        assert mine.consents[(Channel.EMAIL, Purpose.MARKETING)].double_optin is True
        assert mine.consents[(Channel.SMS, Purpose.MARKETING)].double_optin is False
        assert mine.list_suppressions["L1"].reason == odd and mine.lists == {"L2": at} and len(mine.pending) == 1
    walked = profile_pages.walk(engine, account_id, "id", descending=False, limit=10, after=None, before=None, key=key,
                                with_states=True)  # fmt: skip
    assert walked is not None and walked[1] == states
