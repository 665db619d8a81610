"""`assent stream`: every ledger event of an account published to a broker, in seq order, once.

The broker holds the cursor: on start (and after every outage) the publisher says which seq it
acknowledged last, and publishing resumes after it. Events are read from the ledger in pages
(services/consent/ledger_events.py) and handed over in order; the broker's message id is the account and
seq, so a message published twice (acknowledged, but the acknowledgement lost) is dropped by the
broker's de-duplication.

The publisher (integrations/nats_stream.py) is handed in by the caller; this module never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
from sqlalchemy import Engine

from ...domain.stream import BrokerUnavailable, StreamMessage, message_id
from ..consent import ledger_events

PAGE = 500  # events read and handed to the publisher at a time
_encode = msgspec.json.Encoder().encode


class Publisher(Protocol):
    """A broker destination for one account's events (NATS JetStream today; Kafka would be another)."""

    def last_published(self) -> int: ...
    def publish(self, messages: Sequence[StreamMessage]) -> None: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class StreamReport:
    account_id: str
    resumed_after: int = 0
    published: int = 0
    last_seq: int = 0
    outages: int = 0


def messages(account_id: str, page: ledger_events.EventPage) -> list[StreamMessage]:
    return [StreamMessage(e.seq, message_id(account_id, e.seq), _encode(e.record(account_id))) for e in page.events]


def stream(
    engine: Engine, account_id: str, publisher: Publisher, *, follow: bool = False, poll: float = 0.2,
    stop: Callable[[], bool] = lambda: False,
    on_publish: Callable[[StreamReport], None] | None = None,
    on_unavailable: Callable[[str], None] | None = None,
) -> StreamReport:  # fmt: skip
    """Publish the events after the broker's last one until caught up (with `follow`, keep
    publishing new ones as they commit, until `stop()`). An unreachable broker stops the run
    without `follow`, and is retried (pausing up to 5 s) with it."""
    ledger_events.head_seq(engine, account_id)  # an unknown account is an error before any connection
    report = StreamReport(account_id)
    after: int | None = None
    wait = poll
    while not stop():
        try:
            if after is None:
                after = publisher.last_published()
                report.resumed_after = report.resumed_after or after
                report.last_seq = after
            page = ledger_events.events_after(engine, account_id, after, PAGE)
            if page.events:
                publisher.publish(messages(account_id, page))
                after = report.last_seq = page.events[-1].seq
                report.published += len(page.events)
                if on_publish:
                    on_publish(report)
                wait = poll
                continue
            if not follow:
                break
        except BrokerUnavailable as e:
            if not follow:
                raise
            report.outages += 1
            if on_unavailable:
                on_unavailable(str(e))
            after = None  # ask the broker again where it stands
            wait = min(max(wait * 2, 0.5), 5.0)
        time.sleep(wait)
    return report
