"""Signed checkpoints of the ledger: the chain head signed with the installation's Ed25519 key.

Anyone holding a published checkpoint (and the public key) can later tell whether the ledger was
rewritten: a database whose events were edited and every hash recomputed no longer has the
checkpoint's hash at its seq, and a new signature needs the private key, which the database never
holds. Take checkpoints regularly (say hourly, from cron) and publish them: a consent proof runs
from its event to the first checkpoint after it, so the proof stays short."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine

from ...config import LEDGER_KEY_ENV, settings
from ...domain import DomainError
from ...domain.chain import (
    Checkpoint,
    canonical_time,
    checkpoint_message,
    content_hash,
    key_id,
    link_hash,
    personal_digest,
    signature_problem,
)
from ...store import checkpoints as store
from ...store.db import read_transaction
from ...store.rows import AnyRow
from ..accounts.accounts import load_account
from ..shared.clock import utcnow
from ..shared.recorder import recording

KEY_ENV = LEDGER_KEY_ENV


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: bytes
    public_key: str  # raw 32 bytes, base64
    key_id: str


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def new_key() -> KeyPair:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    raw = _public(key)
    return KeyPair(pem, base64.b64encode(raw).decode(), key_id(raw))


def write_new_key(path: Path) -> KeyPair:
    """A new key written to `path` (created, never overwritten, readable by its owner only)."""
    pair = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DomainError("out", "the file exists; a signing key is never overwritten", str(path)) from None
    except OSError as e:
        raise DomainError("out", f"cannot create it: {e.strerror}", str(path)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(pair.private_pem)
    return pair


def load_key(path: str | None = None) -> Ed25519PrivateKey:
    """The signing key from `path`, else from ASSENT_LEDGER_KEY."""
    where = path or settings().ledger_key
    field = "key" if path else KEY_ENV
    if not where:
        raise DomainError(KEY_ENV, "is not set: make a key with `assent ledger keygen --out FILE` and point it there")
    try:
        pem = Path(where).read_bytes()
    except OSError as e:
        raise DomainError(field, f"cannot read the key file: {e.strerror}", where) from None
    try:
        return load_key_from_pem(pem)
    except ValueError as e:
        raise DomainError(field, str(e), where) from None


def load_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("is not an Ed25519 key")
    return key


def _checkpoint(row: AnyRow) -> Checkpoint:
    return Checkpoint(
        row.account_id, int(row.seq), row.head_hash, canonical_time(row.signed_at), row.key_id, row.public_key,
        row.signature,
    )  # fmt: skip


def _extends(conn: Connection, account_id: str, previous: Checkpoint | None, last: int) -> str | None:
    """Why the chain up to `last` does not extend the previous checkpoint, or None when it does:
    the previous head is still at its seq, and every later event links to it."""
    seq, prev = (previous.seq, previous.head_hash) if previous else (0, "")
    if previous is not None and store.hash_at(conn, account_id, previous.seq) != previous.head_hash:
        return f"the event at seq {previous.seq} no longer has the hash its checkpoint signed"
    for row in store.chain_rows(conn, account_id, seq + 1, last):
        if row.seq != seq + 1 or row.prev_hash != prev:
            return f"the chain breaks at seq {seq + 1}"
        if row.personal is not None and personal_digest(row.personal) != row.personal_digest:
            return f"personal data does not match its digest at seq {row.seq}"
        content = content_hash(
            account_id, row.profile_id, row.occurred_at, row.type, row.metric, row.payload, row.personal_digest
        )
        if link_hash(row.seq, content, prev) != row.hash:
            return f"the hash of seq {row.seq} does not match its content"
        seq, prev = row.seq, row.hash
    return None if seq == last else f"events after seq {seq} are missing"


def checkpoint(engine: Engine, account_id: str, key: Ed25519PrivateKey) -> tuple[Checkpoint, bool]:
    """Sign the account's ledger head; returns it and whether it is new (a head already signed is
    returned as it was). Refuses to sign a chain that does not extend the last checkpoint."""
    with recording(engine, account_id) as recorder:  # the write lock: the head cannot move meanwhile
        conn = recorder.conn
        load_account(conn, account_id)
        head = store.head(conn, account_id)
        assert head is not None
        seq, head_hash = head
        if seq == 0:
            raise DomainError("account", "the ledger has no events yet: there is nothing to sign", account_id)
        existing = store.get(conn, account_id, seq)
        if existing is not None:
            return _checkpoint(existing), False
        signed = store.listing(conn, account_id)
        problem = _extends(conn, account_id, _checkpoint(signed[-1]) if signed else None, seq)
        if problem:
            raise DomainError("ledger", f"not signed: {problem}; run assent ledger verify")
        now = utcnow()
        signed_at = canonical_time(now)  # what is signed; the store keeps microseconds, so it reads back the same
        raw = _public(key)
        signature = key.sign(checkpoint_message(account_id, seq, head_hash, signed_at))
        made = Checkpoint(account_id, seq, head_hash, signed_at, key_id(raw), base64.b64encode(raw).decode(),
                          base64.b64encode(signature).decode())  # fmt: skip
        store.add(conn, {"account_id": account_id, "seq": seq, "head_hash": head_hash, "signed_at": now,
                         "key_id": made.key_id, "public_key": made.public_key,
                         "signature": made.signature})  # fmt: skip
        return made, True


def listing(engine: Engine, account_id: str) -> list[Checkpoint]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [_checkpoint(r) for r in store.listing(conn, account_id)]


def covering(conn: Connection, account_id: str, seq: int) -> Checkpoint | None:
    row = store.first_covering(conn, account_id, seq)
    return None if row is None else _checkpoint(row)


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    checkpoint: Checkpoint
    problem: str | None  # None: signed by its key, and the chain still has its hash at its seq
    published: bool  # given by the caller (a copy kept outside the database)
    stored: bool  # read from the database (a copy of it may have been given too)


def check(
    conn: Connection,
    account_id: str,
    cp: Checkpoint,
    *,
    published: bool,
    trusted_keys: frozenset[str],
    stored: bool = False,
) -> CheckpointCheck:
    """Whether `cp` is signed (by a trusted key, when some are named) and the ledger still has its
    hash at its seq."""
    problem: str | None
    if cp.account_id != account_id:
        problem = f"it is a checkpoint of account {cp.account_id}"
    elif trusted_keys and cp.public_key not in trusted_keys and cp.key_id not in trusted_keys:
        problem = f"it is signed by key {cp.key_id}, which is not a trusted key"
    else:
        problem = signature_problem(cp)
    if problem is None:
        at_seq = store.hash_at(conn, account_id, cp.seq)
        if at_seq is None:
            problem = f"the ledger has no event at seq {cp.seq}"
        elif at_seq != cp.head_hash:
            problem = f"the ledger's hash at seq {cp.seq} is not the one signed: the ledger was rewritten"
    return CheckpointCheck(cp, problem, published, stored)


def check_all(
    engine: Engine, account_id: str, published: list[Checkpoint], trusted_keys: frozenset[str] = frozenset()
) -> list[CheckpointCheck]:
    """Every stored checkpoint and every published one given, against the ledger as it is now; a
    published copy of a stored checkpoint (the same content) is one check, both stored and published."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        stored = [_checkpoint(r) for r in store.listing(conn, account_id)]
        given = dict.fromkeys(published)  # each copy once, in the order given
        known = set(stored)
        return [
            check(conn, account_id, cp, published=cp in given, trusted_keys=trusted_keys, stored=True) for cp in stored
        ] + [check(conn, account_id, cp, published=True, trusted_keys=trusted_keys) for cp in given if cp not in known]
