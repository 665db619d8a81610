"""The change feed's records made straight from stored rows (services.consent.feed.records) are
the records the general path makes by decoding each event, on random ledgers; and the feed read
with the bare driver pages, filters and fails as the SQLAlchemy read does, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DataError

from assent.api import consent as consent_api
from assent.domain.events import stored_payload
from assent.services.consent import feed
from assent.services.consent.changes import Locator
from assent.store import bulk, ledger
from assent.store.db import postgres_utc, read_transaction, sqlite_utc, write_transaction
from tests.domain.test_properties import run, scenarios

_encode = msgspec.json.encode
PROFILES = ["01HZPROFILE000000000000001", "01HZPROFILE000000000000002", "01HZPROFILE000000000000003"]


def _rows(account_id: str, ledgers: list[list]) -> list[ledger.EventRow]:
    """The events of several profiles as the store returns them, interleaved in seq order."""
    out: list[ledger.EventRow] = []
    for i, events in enumerate(ledgers):
        for e in events:
            stored = ledger.encode(account_id, PROFILES[i], e)
            out.append((0, PROFILES[i], e.occurred_at, stored.type, stored.metric, stored.payload, stored.personal))
    out.sort(key=lambda r: r[2])
    return [(seq, *rest) for seq, (_, *rest) in enumerate(out, start=1)]


def _general(rows: list[ledger.EventRow]) -> list[dict]:
    return [feed._record(r) for r in rows]


class _Call:
    """What the feed's resources take from a request: its link base (one that JSON must escape)."""

    def url(self, path: str) -> str:
        return 'http://h\u00e9"st:80' + path


def _resources(records: list[dict]) -> list[dict]:
    """The consent-event resources of these records, as plain dicts."""
    link = _Call().url("/api/consent-events/?filter=equals(seq,")
    return [
        {"type": "consent-event", "id": str(r["seq"]), "attributes": r,
         "relationships": {"profile": {"data": {"type": "profile", "id": r["profile_id"]}}},
         "links": {"self": f"{link}{r['seq']})"}}
        for r in records
    ]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(scenarios, min_size=1, max_size=3))
def test_records_from_rows_are_the_general_paths_records_byte_for_byte(scenarios_):
    rows = _rows("01HZACCOUNT000000000000001", [run(s)[2] for s in scenarios_])
    fast = feed.records(rows)
    assert fast == _general(rows)
    assert _encode(fast) == _encode(_general(rows))  # the same keys in the same order
    # The rows as the bare drivers return them: occurred_at as SQLite's text, or in another zone.
    as_text = [(*r[:2], bulk.db_time("sqlite", r[2]), *r[3:]) for r in rows]
    assert _encode(feed.records(as_text, sqlite_utc)) == _encode(fast)
    zoned = [(*r[:2], r[2].astimezone(timezone(timedelta(hours=-5))), *r[3:]) for r in rows]
    assert _encode(feed.records(zoned, postgres_utc)) == _encode(fast)
    assert _encode(consent_api._events(_Call(), feed.record_parts(rows))) == _encode(_resources(_general(rows)))
    for (_, _, at, type, metric, payload, _), record in zip(rows, fast, strict=True):
        event = ledger.decode_columns(type, at, metric, payload, None)
        assert stored_payload(msgspec.json.decode(payload)) == event.payload()
        assert list(record)[:5] == ["seq", "profile_id", "occurred_at", "type", "metric"]


def test_rows_the_shortcut_does_not_know_take_the_general_path():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    good = '{"channel":"email","purpose":"marketing","status":"SUBSCRIBED"}'
    ok = (
        1,
        PROFILES[0],
        at,
        "consent.changed",
        "Subscribed to Email Marketing",
        good,
        '{"email":"a@x.org","salt":"00"}',
    )
    # Defaults written out, a time in another spelling: the shortcut gives what payload() gives.
    odd = (2, PROFILES[0], at, "consent.changed", None,
           '{"channel":"email","consent_timestamp":"2026-01-02T03:04:05Z","triggers_automation":true,'
           '"timestamp_clamped":false,"context":{}}', None)  # fmt: skip
    assert feed.records([ok, odd]) == _general([ok, odd])
    parts = feed.record_parts([ok, odd])
    assert _encode(consent_api._events(_Call(), parts)) == _encode(_resources(_general([ok, odd])))
    assert feed.records([odd])[0]["consent_timestamp"] == "2026-01-02T03:04:05+00:00"
    # What from_record refuses is refused the same way, whichever path reads it.
    for bad in (
        (3, PROFILES[0], at, "consent.changed", None, '{"channel":"fax"}', None),
        (4, PROFILES[0], at, "consent.changed", None, '{"colour":"blue"}', None),
        (5, PROFILES[0], at, "no.such.type", None, good, None),
        (6, PROFILES[0], at, "consent.changed", None, '{"consent_timestamp":"yesterday"}', None),
    ):
        with pytest.raises((ValueError, TypeError)) as general:
            _general([bad])
        with pytest.raises(general.type):
            feed.records([ok, bad])


# --- the bare driver's read, on both backends -------------------------------------------------------


def _history(engine, account_id: str) -> None:
    from assent.domain import Channel, Purpose, SuppressionReason
    from assent.services.consent import changes as consent

    email = [(Channel.EMAIL, Purpose.MARKETING)]
    for i in range(3):
        consent.subscribe(engine, account_id, Locator("email", f"p{i}@example.com"), email)
    consent.unsubscribe(engine, account_id, Locator("email", "p1@example.com"), Channel.EMAIL)
    consent.suppress(engine, account_id, Locator("email", "p2@example.com"), SuppressionReason.HARD_BOUNCE)
    consent.subscribe(engine, account_id, Locator("phone_number", "+14155550101"), [(Channel.SMS, Purpose.MARKETING)])


def test_the_bare_driver_reads_what_sqlalchemy_reads(engine, account_id):
    _history(engine, account_id)
    with read_transaction(engine) as conn:
        stored = ledger.page_events(conn, account_id, limit=100)
        found, utc = ledger.page_driver_rows(conn, account_id, limit=100)
        rows = [(r[0], r[1], utc(r[2]), *r[3:]) for r in found]
        assert [(r[0], r[1], r[2]) for r in rows] == [(s.seq, s.profile_id, s.event.occurred_at) for s in stored]
        assert [ledger.decode_columns(r[3], r[2], *r[4:]) for r in rows] == [s.event for s in stored]
        assert all(r[2].utcoffset() == timedelta(0) for r in rows)
        p1 = stored[1].profile_id
        until = stored[3].event.occurred_at
        for kw in (
            {"after_seq": 2, "limit": 2},
            {"profile_id": p1, "limit": 10},
            {"metric": "Subscribed to Email Marketing", "limit": 10},
            {"profile_id": p1, "until": until, "limit": 10},
            {"profile_id": "nobody", "limit": 10},
        ):
            assert [r[0] for r in ledger.page_driver_rows(conn, account_id, **kw)[0]] == [
                s.seq for s in ledger.page_events(conn, account_id, **kw)
            ]
    records = feed.feed(engine, account_id, after_seq=0, limit=100)
    assert [feed.as_record(p) for p in records] == _general(rows)


def test_a_value_the_database_refuses_is_a_data_error(engine, account_id):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores any text")
    with pytest.raises(DataError):
        feed.feed(engine, account_id, after_seq=0, limit=10, profile_id="nul\x00byte")
    with write_transaction(engine) as conn:  # the connection went back to the pool usable
        ledger.head_seq(conn, account_id)
