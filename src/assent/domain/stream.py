"""What `assent stream` hands a broker: one message per ledger event, keyed by its seq.

The broker adapters (integrations/nats_stream.py; a Kafka one would be another) take these and
never call services; the stream use case (services/outbound/stream.py) reads the ledger and makes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamMessage:
    seq: int  # the event's place in the account's ledger
    msg_id: str  # unique per account and seq: `<account_id>-<seq>`, the broker's de-duplication id
    body: bytes  # the event as JSON (the change feed's fields, with account_id and profile_id)


def message_id(account_id: str, seq: int) -> str:
    return f"{account_id}-{seq}"


class BrokerUnavailable(Exception):
    """The broker cannot be reached or did not acknowledge. Messages acknowledged before stay;
    publishing again from the broker's last message is safe."""
