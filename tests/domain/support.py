"""A profile under test: its running state, its ledger, and a clock that moves forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assent.domain import Channel, ProfileState, Purpose, Send, decide, replay

EMAIL = "jane@example.com"
PHONE = "+14155552671"


class Profile:
    """A profile's running state and ledger, with a clock that moves forward one minute per call."""

    def __init__(self, email: str | None = EMAIL, phone: str | None = PHONE, push_tokens: int = 1) -> None:
        # One authorized push device unless told otherwise, so push rules are about consent.
        self.state = ProfileState(email=email, phone_number=phone, push_tokens=push_tokens)
        self.events = []
        self.clock = datetime.now(UTC)

    def now(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def do(self, transition, *args, **kw):
        events = transition(self.state, *args, now=self.now(), **kw)
        self.events.extend(events)
        self.state = replay(events, self.state)
        return events

    def decide(self, channel: Channel, purpose: Purpose = Purpose.MARKETING, **kw):
        return decide(self.state, Send(channel, self.now(), purpose, **kw))
