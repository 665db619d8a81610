"""Consent proofs: the bundle that proves one profile's current consent on a channel offline.

It holds the consent event (and, for a double opt-in, the request and its confirmation) as stored,
the consent text version with its words, and the hash chain from the first of those events to the
first signed checkpoint at or after the last one. `domain/proofs.verify_bundle` checks it."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Engine

from ...domain import Channel, DomainError, EventType, Purpose
from ...domain.chain import canonical_time, content_hash
from ...domain.channels import CHANNEL_PURPOSES
from ...domain.proofs import FORMAT, summary
from ...store import checkpoints as store
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ...store.rows import AnyRow
from ..accounts.accounts import load_account
from ..profiles.locator import Locator, find_profile
from ..shared.clock import utcnow
from ..shared.errors import Conflict, NotFound
from . import texts
from .checkpoints import covering

Bundle = dict[str, Any]  # the JSON document docs/proof.md describes


class NoCheckpoint(Conflict):
    code = "no_checkpoint"


def target(channel: str, purpose: str | None) -> tuple[Channel, Purpose]:
    if not channel:
        raise DomainError("channel", f"is required: one of {', '.join(c.value for c in Channel)}")
    try:
        ch = Channel(channel)
    except ValueError:
        raise DomainError("channel", f"must be one of {', '.join(c.value for c in Channel)}", channel) from None
    try:
        p = Purpose(purpose or "marketing")
    except ValueError:
        raise DomainError("purpose", f"must be one of {', '.join(p.value for p in Purpose)}", purpose) from None
    if p not in CHANNEL_PURPOSES[ch]:
        allowed = ", ".join(x.value for x in CHANNEL_PURPOSES[ch])
        raise DomainError("purpose", f"{ch.value} has purposes {allowed}", p.value)
    return ch, p


def _payload(row: AnyRow) -> dict[str, Any]:
    value = msgspec.json.decode(row.payload)
    return value if isinstance(value, dict) else {}


def _about(row: AnyRow, channel: Channel, purpose: Purpose) -> bool:
    p = _payload(row)
    return p.get("channel") == channel.value and p.get("purpose") == purpose.value


def _event(row: AnyRow, role: str) -> dict[str, Any]:
    return {
        "role": role, "seq": int(row.seq), "profile_id": row.profile_id, "occurred_at": canonical_time(row.occurred_at),
        "type": row.type, "metric": row.metric, "payload": row.payload, "personal": row.personal,
        "personal_digest": row.personal_digest, "prev_hash": row.prev_hash, "hash": row.hash,
    }  # fmt: skip


def _chosen(rows: list[AnyRow], channel: Channel, purpose: Purpose) -> list[tuple[AnyRow, str]]:
    """The event that set the current consent, and for a double opt-in its request and confirmation."""
    consent_at = next(
        (i for i in range(len(rows) - 1, -1, -1)
         if rows[i].type == EventType.CONSENT_CHANGED.value and _about(rows[i], channel, purpose)),
        None,
    )  # fmt: skip
    if consent_at is None:
        raise NotFound("channel", f"the profile has no recorded consent for {channel.value}/{purpose.value}")
    consent = rows[consent_at]
    chosen = [(consent, "consent")]
    if _payload(consent).get("double_optin"):
        before = rows[:consent_at]
        confirmation = next(
            (r for r in reversed(before) if r.type == EventType.OPTIN_CLOSED.value and _about(r, channel, purpose)
             and _payload(r).get("outcome") == "confirmed"),
            None,
        )  # fmt: skip
        if confirmation is not None:
            key = _payload(confirmation).get("list_id")
            request = next(
                (r for r in reversed(before) if r.seq < confirmation.seq and r.type == EventType.OPTIN_REQUESTED.value
                 and _about(r, channel, purpose) and _payload(r).get("list_id") == key),
                None,
            )  # fmt: skip
            chosen.append((confirmation, "confirmation"))
            if request is not None:
                chosen.append((request, "request"))
    return sorted(chosen, key=lambda c: c[0].seq)


def consent_proof(engine: Engine, account_id: str, profile_id: str, channel: str, purpose: str | None = None) -> Bundle:
    """The proof bundle of the profile's current consent on `channel`/`purpose` (an unknown profile
    is named before a bad channel: another account's id is not found, whatever else is asked)."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        if profile_store.get(conn, account_id, profile_id) is None:
            raise NotFound("profile", "no such profile", profile_id)
        ch, p = target(channel, purpose)
        chosen = _chosen(store.profile_rows(conn, account_id, profile_id), ch, p)
        events = [_event(row, role) for row, role in chosen]
        derived = summary(events)
        version = derived.get("consent_text_version")
        text = texts.by_version(conn, account_id, version) if version else None
        first, last = events[0]["seq"], events[-1]["seq"]
        checkpoint = covering(conn, account_id, last)
        if checkpoint is None:
            raise NoCheckpoint(
                "checkpoint", f"no signed checkpoint covers seq {last} yet: sign one with `assent ledger checkpoint`"
            )
        links = []
        prev = chosen[0][0].prev_hash
        for row in store.chain_rows(conn, account_id, first, checkpoint.seq):
            content = content_hash(
                account_id, row.profile_id, row.occurred_at, row.type, row.metric, row.payload, row.personal_digest
            )
            links.append({"seq": int(row.seq), "content_hash": content, "hash": row.hash})
    if not links or links[-1]["hash"] != checkpoint.head_hash:
        raise Conflict("ledger", f"the ledger no longer matches checkpoint {checkpoint.seq}: run assent ledger verify")
    return {
        "format": FORMAT,
        "generated_at": canonical_time(utcnow()),
        "account_id": account_id,
        "profile_id": profile_id,
        "channel": ch.value,
        "purpose": p.value,
        "summary": derived,
        "consent_text": None if text is None else {
            "id": text.id, "version": text.version, "text": text.text, "language": text.language,
            "sha256": text.sha256, "created": text.created_at.isoformat(),
        },
        "events": events,
        "chain": {"from_seq": first, "to_seq": checkpoint.seq, "prev_hash": prev, "links": links},
        "checkpoint": checkpoint.as_json(),
    }  # fmt: skip


def consent_proof_of(
    engine: Engine, account_id: str, locator: Locator, channel: str, purpose: str | None = None
) -> Bundle:
    """The proof bundle of the profile a command names by id, email, phone number or external id."""
    target(channel, purpose)  # a bad channel is named before the profile is looked for
    with read_transaction(engine) as conn:
        profile_id = find_profile(conn, load_account(conn, account_id), locator).id
    return consent_proof(engine, account_id, profile_id, channel, purpose)
