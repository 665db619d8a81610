"""Reading the ledger in order after a seq, as its consumers (sync, stream, webhooks) do."""

from __future__ import annotations

import pytest

from assent.domain import Channel, EventType, Purpose
from assent.services.consent import changes as consent
from assent.services.consent import ledger_events
from assent.services.consent.changes import Locator
from assent.services.shared.errors import NotFound


def test_events_after_a_seq_come_in_order_as_typed_values(engine, account_id):
    consent.subscribe(engine, account_id, Locator("email", "a@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("email", "a@example.com"), Channel.EMAIL)
    consent.suppress(engine, account_id, Locator("email", "b@example.com"))
    head = ledger_events.head_seq(engine, account_id)
    everything = ledger_events.events_after(engine, account_id, 0, limit=100)
    assert [e.seq for e in everything.events] == list(range(1, head + 1))
    assert everything.head == head and everything.last_seq == head
    assert everything.events[0].event.type is EventType.CONSENT_CHANGED
    # Paging by the last seq seen walks the same events, none twice, none skipped.
    seen, after = [], 0
    while page := ledger_events.events_after(engine, account_id, after, limit=2).events:
        seen += page
        after = page[-1].seq
    assert seen == everything.events
    record = everything.events[-1].record(account_id)
    assert record["account_id"] == account_id and record["seq"] == head and record["type"] == "suppression.added"
    assert ledger_events.events_after(engine, account_id, head).events == []


def test_events_of_an_unknown_account_are_not_found(engine):
    with pytest.raises(NotFound):
        ledger_events.events_after(engine, "no-such-account", 0)
    with pytest.raises(NotFound):
        ledger_events.head_seq(engine, "no-such-account")
