"""Queueing webhook deliveries: run by the recorder's hook inside the transaction that appends the
events, so a delivery exists exactly when its event does (nothing is sent for a change that rolled
back, nothing lost for one that committed).

Each event goes to every enabled webhook of the account that takes its topic, as one row holding
the body that will be signed and sent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy import Connection

from ...domain import ConsentEvent, ProfileState
from ...domain.webhooks import topic_of
from ...store import ledger
from ...store import webhooks as store
from ...store.ledger import EncodedEvent
from ..shared.clock import utcnow

_encode = msgspec.json.Encoder(order="sorted").encode


class _Recorded(Protocol):
    @property
    def profile_id(self) -> str: ...
    @property
    def state(self) -> ProfileState: ...
    @property
    def events(self) -> Sequence[ConsentEvent]: ...


class _Precomputed(Protocol):
    @property
    def profile_id(self) -> str: ...
    @property
    def events(self) -> list[EncodedEvent]: ...


def message_id(account_id: str, seq: int) -> str:
    """The Standard Webhooks message id of a ledger event: the same on every attempt and to every
    endpoint, so receivers deduplicate on it."""
    return f"msg_{account_id}_{seq}"


def body(account_id: str, seq: int, profile_id: str, event: ConsentEvent, topic: str, who: dict[str, str]) -> str:
    """The JSON a webhook receives for one event (Standard Webhooks' type, timestamp and data)."""
    data: dict[str, Any] = {
        "id": message_id(account_id, seq),
        "account_id": account_id,
        "seq": seq,
        "event": event.type.value,
        "metric": event.metric,
        **event.payload(),
        "historical_import": event.historical_import,
        "triggers_automation": event.triggers_automation,
        "profile": {"id": profile_id, **who},
    }
    if "old" in event.personal or "new" in event.personal:  # an identifier change
        data["old"] = event.personal.get("old") or None
        data["new"] = event.personal.get("new") or None
    document = {"type": topic, "timestamp": event.occurred_at.isoformat(), "data": data}
    return _encode(document).decode()


def _identifiers(email: str | None, phone_number: str | None) -> dict[str, str]:
    return {k: v for k, v in (("email", email), ("phone_number", phone_number)) if v}


def _events(
    first_seq: int, recorded: Sequence[_Recorded], precomputed: Sequence[_Precomputed]
) -> Iterator[tuple[int, str, ConsentEvent, dict[str, str]]]:
    # In the order the recorder appended them, so each gets its seq.
    seq = first_seq
    for p in precomputed:
        for encoded in p.events:
            e = ledger.decode_encoded(encoded)
            yield seq, p.profile_id, e, _identifiers(e.personal.get("email"), e.personal.get("phone_number"))
            seq += 1
    for r in recorded:
        who = _identifiers(r.state.email, r.state.phone_number)
        for e in r.events:
            yield seq, r.profile_id, e, who
            seq += 1


def enqueue(
    conn: Connection,
    account_id: str,
    first_seq: int,
    recorded: Sequence[_Recorded],
    precomputed: Sequence[_Precomputed] = (),
    enabled: Sequence[tuple[str, str]] | None = None,
) -> int:
    """Queue the events for the account's enabled webhooks (`enabled`, when the caller looked them
    up already in this transaction, as store.enabled gives them); returns how many deliveries."""
    if enabled is None:
        enabled = store.enabled(conn, account_id)
    hooks = [(wid, frozenset(msgspec.json.decode(topics))) for wid, topics in enabled]
    if not hooks:
        return 0
    now = utcnow()
    rows: list[tuple[Any, ...]] = []
    for seq, profile_id, event, who in _events(first_seq, recorded, precomputed):
        topic = topic_of(event)
        takers = [webhook_id for webhook_id, topics in hooks if topic in topics]
        if topic is None or not takers:
            continue
        text = body(account_id, seq, profile_id, event, topic, who)
        rows += [(account_id, webhook_id, seq, topic, text, 0, now, now) for webhook_id in takers]
    store.enqueue(conn, rows)
    return len(rows)
