"""Erasure: the SQL that removes one person's personal data from every table that holds it, and
the tombstones that outlive it.

What goes, per table (the consent projection is emptied by the recorder, from the ledger's
`profile.erased` event):
- `profiles`: the row (identifiers, names, location and the place worked out from it, properties);
- `consent_events`: `personal` (addresses, IP, user agent) set to NULL. The hash chain covers only
  its digest, so the chain still verifies; the non-personal payload stays as the record;
- `events` (activity): `properties` emptied; metric, time and value stay for the account's totals;
- `message_sends`, `soft_bounces`, `job_profiles`, `push_tokens` (device tokens and metadata): the
  profile's rows;
- `outbox`: messages addressed to the person's email or number;
- `webhook_deliveries`: queued bodies about the profile keep their event but lose its addresses;
- `jobs`, `job_errors`: in finished jobs' stored requests, the items naming the person have their
  profile fields blanked; error rows quoting them lose the quote.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, delete, func, or_, select, update

from ..domain.profile import PROFILE_FIELDS
from .db import driver_rows
from .tables import (
    consent_events,
    erasure_tombstones,
    events,
    job_errors,
    job_profiles,
    jobs,
    message_sends,
    outbox,
    profiles,
    push_tokens,
    soft_bounces,
    webhook_deliveries,
)

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_encode = msgspec.json.Encoder().encode
_FINISHED = ("complete", "cancelled", "failed")
_PERSONAL_KEYS = frozenset((*PROFILE_FIELDS, "properties", "location"))


# --- tombstones ---------------------------------------------------------------------------------


def tombstoned(conn: Connection, account_id: str, digests: Iterable[str]) -> set[str]:
    """Which of the digests have a tombstone: one query."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    t = erasure_tombstones
    q = select(t.c.digest).where(t.c.account_id == account_id, t.c.digest.in_(wanted))
    return set(conn.execute(q).scalars())


def add_tombstones(conn: Connection, account_id: str, rows: Iterable[tuple[str, str]], at: datetime) -> int:
    """Tombstones for (digest, field) pairs; one already there is kept as it is."""
    new = dict(rows)
    new = {d: f for d, f in new.items() if d not in tombstoned(conn, account_id, new)}
    if new:
        conn.execute(
            erasure_tombstones.insert(),
            [{"account_id": account_id, "digest": d, "field": f, "erased_at": at} for d, f in new.items()],
        )
    return len(new)


def remove_tombstones(conn: Connection, account_id: str, digests: Iterable[str]) -> int:
    wanted = sorted(set(digests))
    if not wanted:
        return 0
    t = erasure_tombstones
    return conn.execute(delete(t).where(t.c.account_id == account_id, t.c.digest.in_(wanted))).rowcount


def has_tombstones(conn: Connection, account_id: str) -> bool:
    """Whether the account has any tombstone (one index probe, however many it has)."""
    return bool(driver_rows(conn, "SELECT 1 FROM erasure_tombstones WHERE account_id = ? LIMIT 1", (account_id,)))


def tombstone_count(conn: Connection, account_id: str) -> int:
    t = erasure_tombstones
    return int(conn.execute(select(func.count()).where(t.c.account_id == account_id)).scalar_one())


# --- personal data ------------------------------------------------------------------------------


def erase_profile(conn: Connection, account_id: str, profile_id: str, identifiers: Iterable[str]) -> dict[str, int]:
    """Remove the profile's personal data from every table; returns rows changed per table.

    `identifiers` are the person's addresses as stored (email, phone number, external id): they
    find what is keyed by address rather than by profile id."""
    ids = sorted({v for v in identifiers if v})
    done: dict[str, int] = {}

    def by_profile(table: Any) -> Any:
        return (table.c.account_id == account_id) & (table.c.profile_id == profile_id)

    done["consent_events"] = conn.execute(
        update(consent_events).where(by_profile(consent_events), consent_events.c.personal.is_not(None))
        .values(personal=None)
    ).rowcount  # fmt: skip
    done["events"] = conn.execute(
        update(events).where(by_profile(events), events.c.properties != "{}").values(properties="{}")
    ).rowcount
    for table in (message_sends, soft_bounces, job_profiles, push_tokens):
        done[table.name] = conn.execute(delete(table).where(by_profile(table))).rowcount
    done["outbox"] = (
        conn.execute(delete(outbox).where(outbox.c.account_id == account_id, outbox.c.recipient.in_(ids))).rowcount
        if ids else 0
    )  # fmt: skip
    done["webhook_deliveries"] = _scrub_deliveries(conn, account_id, profile_id)
    done["jobs"], done["job_errors"] = _scrub_jobs(conn, account_id, ids)
    done["profiles"] = conn.execute(
        delete(profiles).where(profiles.c.account_id == account_id, profiles.c.id == profile_id)
    ).rowcount
    return done


def _scrub_deliveries(conn: Connection, account_id: str, profile_id: str) -> int:
    t = webhook_deliveries
    # Bodies are sorted-key JSON: the profile object reads {"email":…,"id":"<profile id>",…}.
    rows = conn.execute(
        select(t.c.webhook_id, t.c.seq, t.c.payload).where(
            t.c.account_id == account_id, t.c.payload.contains(f'"id":"{profile_id}"', autoescape=True)
        )
    ).all()
    n = 0
    for row in rows:
        doc = msgspec.json.decode(row.payload)
        data = doc.get("data") or {}
        if (data.get("profile") or {}).get("id") != profile_id:
            continue
        data["profile"] = {"id": profile_id}
        for k in ("old", "new"):
            if k in data:
                data[k] = None
        conn.execute(
            update(t).where(t.c.account_id == account_id, t.c.webhook_id == row.webhook_id, t.c.seq == row.seq)
            .values(payload=_encode_sorted(doc).decode())
        )  # fmt: skip
        n += 1
    return n


def _blank(node: Any, ids: set[str]) -> tuple[Any, bool]:
    """The JSON value with the profile fields of every object naming one of `ids` set to null."""
    if isinstance(node, list):
        items = [_blank(v, ids) for v in node]
        return [v for v, _ in items], any(c for _, c in items)
    if not isinstance(node, dict):
        return node, False
    names_person = any(isinstance(v, str) and v.strip().lower() in ids for v in node.values())
    changed = False
    out: dict[str, Any] = {}
    for k, v in node.items():
        if names_person and k in _PERSONAL_KEYS:
            out[k], changed = None, True
        else:
            out[k], c = _blank(v, ids)
            changed |= c
    return out, changed


def _scrub_jobs(conn: Connection, account_id: str, ids: list[str]) -> tuple[int, int]:
    if not ids:
        return 0, 0
    lowered = {v.lower() for v in ids}
    mentions = or_(*(func.lower(jobs.c.payload).contains(v, autoescape=True) for v in sorted(lowered)))
    rows = conn.execute(
        select(jobs.c.id, jobs.c.payload).where(jobs.c.account_id == account_id, jobs.c.status.in_(_FINISHED), mentions)
    ).all()
    n_jobs = 0
    for row in rows:
        doc, changed = _blank(msgspec.json.decode(row.payload), lowered)
        if changed:
            conn.execute(
                update(jobs).where(jobs.c.account_id == account_id, jobs.c.id == row.id)
                .values(payload=_encode(doc).decode())
            )  # fmt: skip
            n_jobs += 1
    e = job_errors
    quoted = or_(*(func.lower(e.c.original_payload).contains(v, autoescape=True) for v in sorted(lowered)))
    n_errors = conn.execute(
        update(e).where(e.c.account_id == account_id, quoted).values(original_payload="{}")
    ).rowcount
    return n_jobs, n_errors


# --- retention ----------------------------------------------------------------------------------


def _inactive(account_id: str, cutoff: datetime) -> Any:
    """Profiles untouched since `cutoff`: no edit, no activity event and no ledger event after it."""
    p = profiles
    recent_consent = (
        select(consent_events.c.seq)
        .where(
            consent_events.c.account_id == p.c.account_id,
            consent_events.c.profile_id == p.c.id,
            consent_events.c.occurred_at >= cutoff,
        )  # fmt: skip
        .exists()
    )
    return select(p).where(
        p.c.account_id == account_id,
        p.c.updated_at < cutoff,
        or_(p.c.last_event_at.is_(None), p.c.last_event_at < cutoff),
        ~recent_consent,
    )


def inactive_count(conn: Connection, account_id: str, cutoff: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(_inactive(account_id, cutoff).subquery())).scalar_one())


def inactive_profiles(conn: Connection, account_id: str, cutoff: datetime, limit: int) -> list[Any]:
    """Up to `limit` inactive profiles, in id order."""
    return list(conn.execute(_inactive(account_id, cutoff).order_by(profiles.c.id).limit(limit)))
