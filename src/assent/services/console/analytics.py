"""Opt-out analytics for the console: per day or week over a date range and a channel, new
subscriptions, unsubscribes, net growth, suppressions by reason, complaint and bounce rates against
the messages reported sent; the reasons people give; opt-out rates per message id.

Sends are those reported through `POST /api/message-sends`, and the events of the metric
"Received Email" (or "Received SMS", …) reported through `POST /api/events` with the property
`message_id` naming the message (a send reported both ways counts once); an opt-out is attributed
to the message whose id its unsubscribe link carried. Counts come from SQL over the ledger
(store.analytics); this module fills the empty periods and works out the rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine

from ...domain import CHANNEL_PURPOSES, Channel, DomainError, Purpose, SuppressionReason
from ...domain.channels import subscribed_metric, unsubscribed_metric
from ...store import analytics as store
from ...store.db import read_transaction
from ..accounts.accounts import load_account

COMPLAINT_LINE = 0.003  # Gmail and Yahoo's spam-rate line for bulk senders: 0.3%
MAX_DAYS = 731
LAST_DAY = date.max - timedelta(days=7)
SENT_METRIC = {Channel.EMAIL: "Received Email", Channel.SMS: "Received SMS", Channel.PUSH: "Received Push",
               Channel.WHATSAPP: "Received WhatsApp", Channel.POSTAL: "Received Postal"}  # fmt: skip
SUPPRESSION_REASONS = tuple(r.value for r in SuppressionReason)


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    subscribed: int = 0
    unsubscribed: int = 0
    sent: int = 0
    suppressions: dict[str, int] = field(default_factory=dict)

    @property
    def net(self) -> int:
        return self.subscribed - self.unsubscribed

    @property
    def complaints(self) -> int:
        return self.suppressions.get("SPAM_COMPLAINT", 0)

    @property
    def bounces(self) -> int:
        return self.suppressions.get("HARD_BOUNCE", 0)

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.sent if self.sent else None

    @property
    def bounce_rate(self) -> float | None:
        return self.bounces / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class Reason:
    reason: str | None
    note: str | None
    count: int


@dataclass(frozen=True, slots=True)
class MessageRate:
    message_id: str
    optouts: int
    sent: int

    @property
    def rate(self) -> float | None:
        return self.optouts / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class Report:
    channel: Channel
    every: str
    start: date
    end: date  # inclusive
    periods: list[Period]
    reasons: list[Reason]
    messages: list[MessageRate]

    @property
    def total(self) -> Period:
        sup: dict[str, int] = {}
        for p in self.periods:
            for k, v in p.suppressions.items():
                sup[k] = sup.get(k, 0) + v
        return Period(self.start, sum(p.subscribed for p in self.periods), sum(p.unsubscribed for p in self.periods),
                      sum(p.sent for p in self.periods), sup)  # fmt: skip

    @property
    def complaint_warning(self) -> bool:
        rate = self.total.complaint_rate
        return rate is not None and rate > COMPLAINT_LINE


def _first_of(day: date, every: str) -> date:
    return day - timedelta(days=day.weekday()) if every == "week" else day


def report(engine: Engine, account_id: str, channel: str, start: date, end: date, every: str = "day") -> Report:
    """The analytics of `channel` from `start` to `end` (inclusive, UTC days), per day or week."""
    try:
        ch = Channel(channel)
    except ValueError:
        raise DomainError("channel", "channels are email, sms, push and whatsapp", channel) from None
    if every not in ("day", "week"):
        raise DomainError("every", "count per day or per week", every)
    if end > LAST_DAY:  # its week, and the day after it, must be on the calendar
        raise DomainError("to", f"choose a day up to {LAST_DAY.isoformat()}", end.isoformat())
    if end < start:
        raise DomainError("to", "the range ends before it starts", end.isoformat())
    if (end - start).days > MAX_DAYS:
        raise DomainError("from", f"choose at most {MAX_DAYS} days", start.isoformat())
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    purposes = CHANNEL_PURPOSES[ch] if ch is not Channel.SMS else (Purpose.MARKETING,)
    subscribed = {subscribed_metric(ch, p) for p in purposes}
    unsubscribed = {unsubscribed_metric(ch, p) for p in purposes}
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        counts = store.ledger_counts(conn, account_id, since, until, every, sorted(subscribed | unsubscribed))
        sent = dict(store.sends(conn, account_id, since, until, every, SENT_METRIC[ch], ch.value))
        reasons = store.unsubscribe_reasons(conn, account_id, since, until, sorted(unsubscribed))
        by_message = store.optouts_by_message(conn, account_id, since, until, sorted(unsubscribed))
        sent_by_message = store.sends_by_message(conn, account_id, since, until, SENT_METRIC[ch], ch.value,
                                                 [m for m, _ in by_message])  # fmt: skip
    rows: dict[str, dict] = {}
    for bucket, kind, reason, n in counts:
        row = rows.setdefault(str(bucket)[:10], {"subscribed": 0, "unsubscribed": 0, "suppressions": {}})
        if kind in subscribed:
            row["subscribed"] += n
        elif kind in unsubscribed:
            row["unsubscribed"] += n
        elif ch is Channel.EMAIL and reason:
            row["suppressions"][reason] = row["suppressions"].get(reason, 0) + n
    periods = []
    day, step = _first_of(start, every), timedelta(days=7 if every == "week" else 1)
    while day <= end:
        r = rows.get(day.isoformat(), {})
        periods.append(Period(day, r.get("subscribed", 0), r.get("unsubscribed", 0),
                              sent.get(day.isoformat(), 0), r.get("suppressions", {})))  # fmt: skip
        day += step
    return Report(
        ch, every, start, end, periods,
        [Reason(reason, note, n) for reason, note, n in reasons],
        [MessageRate(m, n, sent_by_message.get(m, 0)) for m, n in by_message],
    )  # fmt: skip
