"""SendGrid's Event Webhook: a JSON array of events, optionally signed.

Signed Event Webhook: SendGrid signs the timestamp header followed by the raw body with ECDSA on
P-256 and SHA-256; the signature (`X-Twilio-Email-Event-Webhook-Signature`) is base64 DER, and
the verification key SendGrid shows is a base64 DER SubjectPublicKeyInfo.

No age limit is put on the timestamp: SendGrid retries a failed post for up to 72 hours, and a
replayed event changes nothing anyway (events are claimed by `sg_event_id`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..domain.feedback import Feedback, Kind, mailbox

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# Bounce classifications that describe the message, the sender or a passing fault, not the
# address: counted as soft bounces. "Invalid Address" is INVALID_EMAIL; the rest are hard.
_SOFT_CLASSIFICATIONS = frozenset({"Content", "Reputation", "Frequency or Volume Too High", "Technical Failure"})


class BadKey(ValueError):
    """The configured verification key is not an ECDSA public key."""


def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 DER), or as PEM."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as e:
        raise BadKey(f"not a public key: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadKey("not an ECDSA public key")
    return key


def verify(public_key: str, signature: str | None, timestamp: str | None, body: bytes) -> bool:
    """True when `signature` is SendGrid's signature of `timestamp` + `body` under `public_key`."""
    if not signature or not timestamp:
        return False
    key = load_public_key(public_key)
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


_DROP_KINDS = {"Invalid": Kind.INVALID_ADDRESS, "Bounced Address": Kind.HARD_BOUNCE}


def _kind(event: dict[str, Any]) -> Kind | None:
    name = event.get("event")
    if name == "bounce":
        classification = event.get("bounce_classification")
        if event.get("type") == "blocked" or classification in _SOFT_CLASSIFICATIONS:
            return Kind.SOFT_BOUNCE
        return Kind.INVALID_ADDRESS if classification == "Invalid Address" else Kind.HARD_BOUNCE
    if name == "dropped":
        # Only drops that state a fact about the address. "Unsubscribed Address" and "Spam Reporting
        # Address" echo SendGrid's own lists: acting on them would undo a later re-subscription.
        reason = event.get("reason")
        return _DROP_KINDS.get(reason) if isinstance(reason, str) else None
    if name == "spamreport":
        return Kind.COMPLAINT
    if name in ("unsubscribe", "group_unsubscribe"):
        return Kind.UNSUBSCRIBE
    if name == "delivered":
        return Kind.DELIVERY
    # deferred (SendGrid keeps retrying; a final failure arrives as a bounce), processed, open,
    # click, group_resubscribe (a re-subscription needs the person's opt-in, not an ESP's event).
    return None


def _note(event: dict[str, Any]) -> str | None:
    parts = [str(event[k]) for k in ("type", "bounce_classification", "status", "reason") if event.get(k)]
    return " / ".join(parts) or None


def _detail(event: dict[str, Any]) -> str:
    if event.get("event") == "group_unsubscribe" and event.get("asm_group_id") is not None:
        return f"sendgrid group_unsubscribe {event['asm_group_id']}"
    return f"sendgrid {event.get('event')}"


def feedback(body: bytes) -> list[Feedback]:
    """The events of a webhook post that matter to consent; ValueError if it is not an event array."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"the body is not JSON: {e}") from None
    if not isinstance(events, list):
        raise ValueError("the body is not a JSON array of events")
    out = []
    for event in events:
        if not isinstance(event, dict):
            continue
        address = mailbox(event.get("email"))
        if address is None:
            continue
        kind = _kind(event)
        if kind is None:
            continue
        event_id = event.get("sg_event_id")
        if not isinstance(event_id, str) or not event_id:
            # Old-style events lack an id: the event's own content identifies it.
            event_id = "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:40]
        message_id = event.get("sg_message_id") or event.get("smtp-id")
        out.append(
            Feedback(
                kind=kind,
                address=address,
                event_id=event_id[:200],
                message_id=message_id if isinstance(message_id, str) else None,
                occurred_at=_time(event.get("timestamp")),
                note=_note(event),
                detail=_detail(event) if kind is Kind.UNSUBSCRIBE else None,
            )
        )
    return out
