"""Bulk subscribe and unsubscribe (Klaviyo's subscription jobs): up to a thousand profiles in one
transaction, set-based. A job is all or nothing: a profile that cannot be changed fails the job,
naming the profile, and nothing is written."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ...domain import (
    Channel,
    ConsentEvent,
    DomainError,
    MissingAddress,
    OptInProcess,
    ProfileState,
    Proof,
    Purpose,
    replay,
)
from ...domain import transitions as t
from ...domain.erasure import ErasedIdentifier
from ...domain.events import readdresser
from ...domain.slots import maker
from ...store import forms
from ...store import ledger as ledger_store
from ...store.db import read_statements
from ..imports.rows import IDENTIFIERS
from ..lists.lists import load_list
from ..profiles.batch import (
    BLANK,
    BatchReport,
    Encoder,
    Prepared,
    ProfileBatch,
    ProfileItem,
    RowConsent,
    Stale,
    merge_prepared,
    row_consent,
    stale_because,
)
from ..shared.clock import utcnow
from ..shared.combining import Combiner
from ..shared.errors import NotFound
from ..shared.recorder import recording

Target = tuple[Channel, Purpose]
_item = maker(ProfileItem)


@dataclass(frozen=True, slots=True)
class ConsentItem:
    """One profile of a job: how it is named and what changes on which channels."""

    profile_id: str | None
    email: str | None
    phone_number: str | None
    targets: tuple[Target, ...]
    consented_at: dict[Target, datetime] = field(default_factory=dict)  # historical imports only


class ItemError(DomainError):
    """A job's profile that cannot be changed; `field` says where in the request it sits."""

    def __init__(self, position: int, error: DomainError) -> None:
        where = "" if error.field == "id" else "attributes."  # the id sits beside the attributes
        super().__init__(f"profiles.data.{position}.{where}{error.field}", error.message, error.value)
        self.code = error.code


def require_given_address(channel: Channel, email: str | None, phone: str | None, *, by_id: bool) -> None:
    """Consent is granted only to an address given with the request: SMS and WhatsApp to the
    number in it (never to one the profile had already, which nobody consented for here); email
    to the address in it, or to the profile's own when the request names the profile by id."""
    if channel in (Channel.SMS, Channel.WHATSAPP) and phone is None:
        raise MissingAddress(
            "phone_number",
            f"{channel.value} consent needs a valid phone_number in the same request; a number already on "
            "the profile is not consent",
        )
    if channel is Channel.EMAIL and email is None and not by_id:
        raise MissingAddress("email", "email consent needs the email in the same request (or the profile's id)")


def _run(
    engine: Engine,
    account_id: str,
    items: list[ConsentItem],
    list_id: str | None,
    step: Callable[[ProfileState, ConsentItem, datetime, OptInProcess], RowConsent],
    proof: Proof,
    skip_erased: bool = False,
) -> BatchReport:
    """Work the job out from what is stored, then lock the account's ledger only to append it:
    several server processes work jobs out at once, and appends of one account stay in one chain.
    Jobs of the account that reach the lock together in this process are appended together (one
    lock, one commit: services/shared/combining.py). When a write that came in between changed what
    the job read, it is worked out again under the lock."""
    now = utcnow()
    with read_statements(engine) as conn:
        start = ledger_store.job_start(conn, account_id)  # first: what is read next is at least as new
        if start is None:
            raise NotFound("account", "no such account", account_id)
        batch, report, encode = _work_out(
            conn, account_id, items, list_id, step, now, proof, skip_erased, tombstones=start.tombstones
        )
        prepared = batch.prepare(now, start.seq, encode)

    def again() -> BatchReport:
        with recording(engine, account_id) as recorder:
            batch, redone, _ = _work_out(recorder.conn, account_id, items, list_id, step, now, proof, skip_erased)
            redone.events = batch.write(recorder, now)
        return redone

    job = _Job(engine, account_id, batch, prepared, report, again, _touches(batch), start.webhooks)
    return _JOBS.write((engine, account_id), job)


@dataclass(frozen=True, slots=True)
class _Job:
    """A job worked out ahead of the lock, waiting to be appended."""

    engine: Engine
    account_id: str
    batch: ProfileBatch[ProfileItem]
    prepared: Prepared
    report: BatchReport
    again: Callable[[], BatchReport]  # the job worked out again under the lock, and written
    touches: frozenset[tuple[str, Any]]  # the profiles it writes and the identifiers they end with
    webhooks: bool  # whether the account had an enabled webhook when the job was worked out


def _touches(batch: ProfileBatch[ProfileItem]) -> frozenset[tuple[str, Any]]:
    """The profiles a job writes and the identifiers they end with."""
    out: set[tuple[str, Any]] = set()
    for p in batch.touched.values():
        out.add(("id", p.id))
        out.update((f, v) for f in IDENTIFIERS if (v := p.values.get(f)) is not None)
    return frozenset(out)


def _write_prepared(
    engine: Engine, account_id: str, lead: ProfileBatch[ProfileItem], prepared: Prepared, webhooks: bool
) -> int:
    """Append what was worked out ahead; Stale when something it read has changed since. The new
    profiles' rows and their projection rows are written ahead of the lock (batch.Early). On
    PostgreSQL, when no hook has work (`webhooks`: the account had an enabled webhook), the whole
    transaction goes in one round trip (batch.write_at_once); otherwise the look-ups that must
    follow the lock go out with it, and the rest once they are answered."""
    early, prepared = lead.early(prepared)
    try:
        if lead.at_once(prepared, webhooks=webhooks):
            return lead.write_at_once(engine, early, prepared)
        with recording(
            engine, account_id, ahead=functools.partial(lead.look_ahead, prepared), before_lock=early.write
        ) as recorder:
            return lead.write_prepared(recorder, prepared)
    except Exception as e:  # the driver's own (raw writes) or SQLAlchemy's, ahead of the lock or under it
        stale_because(engine.dialect, e)
        raise


def _write_job(job: _Job) -> BatchReport:
    try:
        job.report.events = _write_prepared(job.engine, job.account_id, job.batch, job.prepared, job.webhooks)
        return job.report
    except Stale:
        return job.again()


def _write_jobs(jobs: Sequence[_Job]) -> list[BatchReport]:
    """Several jobs of one account as one append (Stale, or any error, and each is written alone)."""
    merged = merge_prepared([j.prepared for j in jobs])
    _write_prepared(jobs[0].engine, jobs[0].account_id, jobs[0].batch, merged, any(j.webhooks for j in jobs))
    for j in jobs:
        j.report.events = sum(len(r.events) for r in j.prepared.recorded)
    return [j.report for j in jobs]


# A group stays within Klaviyo's largest job (1,000 profiles) a few times over.
GROUP_PROFILES = 4_000


def _joins(group: Sequence[_Job], job: _Job) -> bool:
    """Whether `job` may be appended with `group`: none of them touches a profile or an identifier
    another does (each was worked out without the others' changes), none lifts a tombstone (its
    batch writes that itself), and the whole stays small."""
    if job.batch.tombstones.lifted or any(j.batch.tombstones.lifted for j in group):
        return False
    if sum(len(j.batch.touched) for j in group) + len(job.batch.touched) > GROUP_PROFILES:
        return False
    return not any(j.touches & job.touches for j in group)


_JOBS: Combiner[_Job, BatchReport] = Combiner(_write_job, _write_jobs, _joins)


def _work_out(
    conn: Connection,
    account_id: str,
    items: list[ConsentItem],
    list_id: str | None,
    step: Callable[[ProfileState, ConsentItem, datetime, OptInProcess], RowConsent],
    now: datetime,
    proof: Proof,
    skip_erased: bool,
    tombstones: bool | None = None,
) -> tuple[ProfileBatch[ProfileItem], BatchReport, Encoder]:
    """The job's profiles looked up and changed (nothing written yet), with an encoder that encodes
    events another profile's were copied from once (their payloads are the same). The caller has
    found the account (its ledger head, and whether it has `tombstones`, when it read that too)."""
    report = BatchReport(rows=len(items))
    opt_in = load_list(conn, account_id, list_id).opt_in_process if list_id else OptInProcess.SINGLE
    # ProfileItem(i, email, phone_number, id=profile_id), made as domain.slots.maker makes it.
    rows = [_item(i, item.email, item.phone_number, None, {}, {}, item.profile_id) for i, item in enumerate(items)]
    batch = ProfileBatch(conn, account_id, rows, tombstones=tombstones)
    # A job's new profiles mostly do the same thing: each shape's change is worked out once, and
    # others of that shape take its events with their own addresses (they differ in nothing else).
    shapes: dict[tuple[Any, ...], tuple[Callable[[ProfileState], list[ConsentEvent]], RowConsent]] = {}
    copied: dict[int, ConsentEvent] = {}  # id() of a copied event -> the event it was copied from
    for row, item in zip(rows, items, strict=True):
        email, phone = item.email, item.phone_number
        if item.profile_id is None and batch.unknown(email, phone):
            # A new profile of a shape done already: its row goes straight in, with the shape's
            # change readdressed, as batch.apply and consent() below would make it.
            key = (item.targets, tuple(item.consented_at.items()), True, email is None, phone is None)
            if (shape := shapes.get(key)) is not None:
                readdress, done = shape
                end = done.state.readdressed(email, phone)
                events = readdress(end)
                copied.update(zip(map(id, events), done.events, strict=True))
                values = BLANK.copy()  # {**BLANK, "email": email, "phone_number": phone}, copied in C
                values["email"], values["phone_number"] = email, phone
                batch.add_new(values, end, events, now, report, subscribed=done.subscribed, pending=done.pending)
                continue

        def consent(state: ProfileState, _row: ProfileItem, item: ConsentItem = item) -> RowConsent:
            if not _blank(state):
                return step(state, item, now, opt_in)
            key = (item.targets, tuple(item.consented_at.items()), item.profile_id is None, state.email is None,
                   state.phone_number is None)  # fmt: skip
            if (shape := shapes.get(key)) is None:
                result = step(state, item, now, opt_in)
                shapes[key] = (readdresser(result.events, state), result)
                return result
            readdress, done = shape
            end = done.state.evolve(email=state.email, phone_number=state.phone_number)
            events = readdress(state)
            copied.update(zip(map(id, events), done.events, strict=True))
            return RowConsent(events, end, done.subscribed, done.pending)

        try:
            batch.apply(row, consent, now, proof, report)
        except ErasedIdentifier as e:
            if not skip_erased:  # the identifier that was erased, without its value
                raise ItemError(row.line, ErasedIdentifier(e.field)) from None
            report.unchanged += 1  # an erased person's opt-out is held by the tombstone already
        except DomainError as e:
            raise ItemError(row.line, e) from None
    # For each event copied from: its encoding as another profile's (forms.encoder_like).
    templates: dict[int, Callable[[str, Mapping[str, str]], ledger_store.EncodedEvent]] = {}

    def encode(profile_id: str, events: Sequence[ConsentEvent]) -> list[ledger_store.EncodedEvent]:
        out = []
        for e in events:
            original = copied.get(id(e))
            if original is None:
                out.append(ledger_store.encode(account_id, profile_id, e))
                continue
            like = templates.get(id(original))
            if like is None:
                like = templates[id(original)] = forms.encoder_like(
                    account_id, ledger_store.encode(account_id, profile_id, original)
                )
            out.append(like(profile_id, e.personal))
        return out

    return batch, report, encode


def _blank(state: ProfileState) -> bool:
    """A new profile's state: nothing but its addresses."""
    return not (state.consents or state.suppressions or state.list_suppressions or state.lists or state.pending
                or state.push_tokens)  # fmt: skip


def subscribe_profiles(
    engine: Engine,
    account_id: str,
    items: list[ConsentItem],
    *,
    list_id: str | None = None,
    custom_source: str | None = None,
    historical_import: bool = False,
    proof: Proof = Proof(),
) -> BatchReport:
    """Klaviyo's bulk subscribe: the list's opt-in process governs (double opt-in leaves the
    profile pending); a historical import records the given consent dates and skips double opt-in."""

    def step(state: ProfileState, item: ConsentItem, now: datetime, opt_in: OptInProcess) -> RowConsent:
        events: list[ConsentEvent] = []
        for channel, _ in item.targets:
            require_given_address(channel, item.email, item.phone_number, by_id=item.profile_id is not None)
        # One subscribe per consent date: a historical import may date each channel apart.
        by_date: dict[datetime | None, list[Target]] = {}
        for target in item.targets:
            by_date.setdefault(item.consented_at.get(target), []).append(target)
        for consented_at, targets in by_date.items():
            evs = t.subscribe(
                state, targets, now=now, method="API", custom_source=custom_source, consented_at=consented_at,
                historical_import=historical_import, list_id=list_id, opt_in_process=opt_in, proof=proof,
            )  # fmt: skip
            events += evs
            state = replay(evs, state)
        return row_consent(events, state)

    return _run(engine, account_id, items, list_id, step, proof)


def unsubscribe_profiles(
    engine: Engine, account_id: str, items: list[ConsentItem], *, list_id: str | None = None, proof: Proof = Proof()
) -> BatchReport:
    """Klaviyo's bulk unsubscribe: with a list, members leave it; others unsubscribe channel-wide."""

    def step(state: ProfileState, item: ConsentItem, now: datetime, _: OptInProcess) -> RowConsent:
        events: list[ConsentEvent] = []
        for channel, purpose in item.targets:
            evs = t.unsubscribe(state, channel, purpose, now=now, list_id=list_id, method="API", proof=proof)
            events += evs
            state = replay(evs, state)
        return row_consent(events, state)

    return _run(engine, account_id, items, list_id, step, proof, skip_erased=True)
