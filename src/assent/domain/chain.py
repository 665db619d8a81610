"""The ledger's hash chain and its signed checkpoints, as pure functions: what the store computes
when it appends, and what anyone recomputes offline to check a consent proof (docs/proof.md).

An event's content hash is SHA-256 over the compact JSON array
`[account_id, profile_id, occurred_at, type, metric, payload, personal_digest]` (UTF-8, no
whitespace, non-ASCII unescaped; `occurred_at` in UTC with microseconds, `payload` the stored
canonical text). Its link hash is SHA-256 of `"{seq}:{content_hash}:{prev_hash}"`. A checkpoint
signs the chain head (seq and hash) with Ed25519."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from .errors import DomainError

_encode = msgspec.json.Encoder().encode

CHECKPOINT_FORMAT = "assent-ledger-checkpoint/1"


@functools.lru_cache(maxsize=4096)  # a batch's events share a handful of instants
def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def content_hash_text(
    account_id: str,
    profile_id: str,
    occurred_at: str,
    type: str,
    metric: str | None,
    payload: str,
    personal_digest: str,
) -> str:
    """SHA-256 of the canonical encoding of an event's stored fields, its time already canonical."""
    material = _encode([account_id, profile_id, occurred_at, type, metric, payload, personal_digest])
    return hashlib.sha256(material).hexdigest()


def content_hash(
    account_id: str,
    profile_id: str,
    occurred_at: datetime,
    type: str,
    metric: str | None,
    payload: str,
    personal_digest: str,
) -> str:
    """SHA-256 of the canonical encoding of an event's stored fields (personal data by its digest)."""
    return content_hash_text(
        account_id, profile_id, canonical_time(occurred_at), type, metric, payload, personal_digest
    )


def content_hasher(
    account_id: str, occurred_at: datetime, type: str, metric: str | None, payload: str
) -> Callable[[str, str], str]:
    """`lambda profile_id, personal_digest: content_hash(account_id, profile_id, occurred_at, type,
    metric, payload, personal_digest)`, with the encoding of what they share made once: a bulk job
    hashes one event for each of its alike profiles. A compact JSON array is its elements' encodings
    between commas, so the material is made of pieces. A property test holds the two equal."""
    head = _encode([account_id])[:-1] + b","  # '["account_id",'
    middle = b"," + _encode([canonical_time(occurred_at), type, metric, payload])[1:-1] + b","
    sha256, join = hashlib.sha256, b"".join

    def hash_(profile_id: str, personal_digest: str) -> str:
        return sha256(join((head, _encode(profile_id), middle, _encode(personal_digest), b"]"))).hexdigest()

    return hash_


def link_hash(seq: int, content: str, prev_hash: str) -> str:
    """The chain: an event's hash covers its place, its content and the hash before it."""
    return hashlib.sha256(f"{seq}:{content}:{prev_hash}".encode()).hexdigest()


def personal_digest(personal: str | None) -> str:
    return "" if personal is None else hashlib.sha256(personal.encode()).hexdigest()


# --- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head. `public_key` is the raw 32-byte Ed25519 key in base64; `key_id` is
    the SHA-256 (hex) of those 32 bytes; `signature` is base64."""

    account_id: str
    seq: int
    head_hash: str
    signed_at: str  # canonical_time of the signing instant
    key_id: str
    public_key: str
    signature: str

    def as_json(self) -> dict[str, object]:
        return {"format": CHECKPOINT_FORMAT, "account_id": self.account_id, "seq": self.seq,
                "head_hash": self.head_hash, "signed_at": self.signed_at, "key_id": self.key_id,
                "public_key": self.public_key, "signature": self.signature}  # fmt: skip


def checkpoint_message(account_id: str, seq: int, head_hash: str, signed_at: str) -> bytes:
    """The bytes a checkpoint signs: five lines, no trailing newline."""
    return "\n".join(
        (CHECKPOINT_FORMAT, f"account: {account_id}", f"seq: {seq}", f"head: {head_hash}", f"signed_at: {signed_at}")
    ).encode()


def key_id(public_key_raw: bytes) -> str:
    return hashlib.sha256(public_key_raw).hexdigest()


def trusted_keys(values: list[str] | None, field: str = "trust") -> frozenset[str]:
    """Keys given as trusted, each a public key (base64 of the raw 32 bytes) or a key id (64 hex
    digits, compared in lower case): anything else is refused, naming the field, rather than
    trusting nothing and letting every checkpoint fail or, with none to check, pass unnoticed."""
    keys = set()
    for value in values or ():
        text = value.strip()
        if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
            keys.add(text.lower())
            continue
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise DomainError(field, "is neither a public key (base64 of 32 bytes) nor a key id (64 hex digits)", value)
        keys.add(text)
    return frozenset(keys)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def signature_problem(cp: Checkpoint) -> str | None:
    """Why the checkpoint's signature does not hold, or None when it does (by its own key)."""
    # Imported here: every bulk write hashes the chain, few verify a signature.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = _b64(cp.public_key, "public_key")
        signature = _b64(cp.signature, "signature")
        if len(raw) != 32:
            return "public_key is not a 32-byte Ed25519 key"
        if key_id(raw) != cp.key_id:
            return "key_id is not the SHA-256 of public_key"
        Ed25519PublicKey.from_public_bytes(raw).verify(
            signature, checkpoint_message(cp.account_id, cp.seq, cp.head_hash, cp.signed_at)
        )
    except ValueError as e:
        return str(e)
    except InvalidSignature:
        return "the signature does not match the checkpoint (seq, head hash, account, time) under its key"
    return None


def _field(value: dict[str, object], name: str, kind: type) -> object:
    v = value.get(name)
    if not isinstance(v, kind) or isinstance(v, bool):
        raise ValueError(f"checkpoint.{name} is missing or not a {kind.__name__}")
    return v


def checkpoint_from_json(value: object) -> Checkpoint:
    """A published checkpoint read back; ValueError naming what is missing or malformed."""
    if not isinstance(value, dict):
        raise ValueError("a checkpoint is a JSON object")
    if value.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        raise ValueError(f"format must be {CHECKPOINT_FORMAT}")
    text = {n: str(_field(value, n, str)) for n in ("account_id", "head_hash", "signed_at", "key_id", "public_key",
                                                     "signature")}  # fmt: skip
    seq = _field(value, "seq", int)
    assert isinstance(seq, int)
    return Checkpoint(seq=seq, **text)
