"""Profile changes, set-based, for one profile or a batch of any size: the one engine behind
single-profile consent changes, file imports, the API's bulk jobs and events.

A batch looks its rows' profiles up once (one query per identifier), resolves each row against
them in order — matching, creating, changing identifiers (with the consent consequences), then
the row's own consent change — and writes profiles, ledger events and projection together.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Connection, Dialect, Engine

from ...domain import ConsentEvent, ProfileState, Proof, replay
from ...domain import transitions as t
from ...domain.profile import PROFILE_FIELDS
from ...domain.slots import maker
from ...domain.summary import SUMMARY_COLUMNS
from ...store import bulk, forms, ledger, projection
from ...store import profiles as profile_store
from ...store.db import deadlocked, serialization_failed
from ...store.forms import SUMMARY
from ..imports.rows import IDENTIFIERS, NewProfile
from ..privacy.tombstones import Tombstones
from ..shared.errors import IdentityConflict, NotFound
from ..shared.ids import new_id
from ..shared.recorder import Recorded, Recorder, quiet, record_at_once
from .values import BLANK as BLANK
from .values import ProfileRow as ProfileRow
from .values import RowConsent as RowConsent
from .values import merged_values as merged_values
from .values import profile_row as profile_row
from .values import row_consent as row_consent

_NO_STATE = ProfileState()
_recorded = maker(Recorded)  # Recorded(...), one per changed profile, made as domain.slots makes it


@dataclass
class BatchReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    subscribed: int = 0
    pending: int = 0
    rejected: int = 0
    events: int = 0
    kept_opt_outs: int = 0  # rows whose subscription an opt-out of their profile kept from applying (imports)

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True, slots=True)
class ProfileItem:
    """A row named by a use case (a consent command, an API job, an event); file imports use their
    own row type (imports.rows.Prepared), which carries the file's consent columns too."""

    line: int
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


R = TypeVar("R", bound=ProfileRow)

# What a row does to consent, given the profile's state after its identifiers are applied.
ConsentStep = Callable[[ProfileState, R], RowConsent]


@dataclass(slots=True)
class _Profile:
    id: str
    values: dict[str, Any]  # PROFILE_FIELDS + "properties" (a dict)
    created_at: datetime
    fresh: bool
    state: ProfileState
    events: list[ConsentEvent] = field(default_factory=list)
    updated_at: datetime | None = None  # a stored profile's, as read


class ProfileBatch(Generic[R]):
    """One batch: its stored profiles looked up once, and what its rows do to them."""

    def __init__(
        self,
        conn: Connection,
        account_id: str,
        rows: list[R],
        *,
        new_consent: bool = False,
        tombstones: bool | None = None,
    ) -> None:
        """`tombstones`: whether the account has any erasure tombstone, when the caller has read it
        already (ledger.job_start)."""
        self.conn = conn
        self.account_id = account_id
        # A batch of the person's own new explicit consent (a signup form, an SMS keyword) may bring
        # back an erased identifier when it subscribes; every other batch is refused one.
        self.new_consent = new_consent
        self.tombstones = Tombstones(  # a generator: read past its first only when the account has a tombstone
            conn,
            account_id,
            ((f, v) for r in rows for f in IDENTIFIERS if (v := getattr(r, f)) is not None),
            any_held=tombstones,
        )
        self.by: dict[str, dict[str, _Profile]] = {f: {} for f in ("id", *IDENTIFIERS)}
        ids = {r.id for r in rows if r.id is not None}
        for f in IDENTIFIERS:
            ids |= profile_store.ids_matching(
                conn, account_id, f, [v for r in rows if (v := getattr(r, f)) is not None]
            )
        found = {row.id: row for row in profile_store.get_many(conn, account_id, ids)}
        states = projection.load(conn, account_id, {pid: (r.email, r.phone_number) for pid, r in found.items()})
        for pid, row in found.items():
            values = {f: getattr(row, f) for f in PROFILE_FIELDS}
            values["properties"] = msgspec.json.decode(row.properties or "{}")
            self._index(_Profile(pid, values, row.created_at, False, states[pid], updated_at=row.updated_at))
        self.touched: dict[str, _Profile] = {}
        # New profiles the caller inserted, worked out ahead (a file import's): their events are
        # appended first, in this order (Recorder.record).
        self.new_rows: list[NewProfile] = []

    def _index(self, p: _Profile) -> None:
        self.by["id"][p.id] = p
        for f in IDENTIFIERS:
            if p.values.get(f) is not None:
                self.by[f][p.values[f]] = p

    def match(self, row: ProfileRow) -> _Profile | None:
        """The stored (or earlier-in-batch) profile the row names, or None for a new one.

        A row never moves consent between people: identifiers that name two different profiles,
        or a profile whose own value of another identifier differs from the row's, are refused
        (IdentityConflict). Giving an identifier the profile does not have yet fills it in."""
        if row.id is not None:
            if (p := self.by["id"].get(row.id)) is None:
                raise NotFound("id", "no profile in this account has this id", row.id)
            self._check_own(p, ("id", row.id), row)
            return p
        found: dict[str, tuple[_Profile, tuple[str, str]]] = {}
        for f in IDENTIFIERS:
            if (v := getattr(row, f)) is not None and (p := self.by[f].get(v)) is not None:
                found.setdefault(p.id, (p, (f, v)))
        if len(found) > 1:
            (_, first), (_, second) = list(found.values())[:2]
            raise IdentityConflict.two_profiles(first, second)
        if not found:
            return None
        p, by = next(iter(found.values()))
        self._check_own(p, by, row)
        return p

    @staticmethod
    def _check_own(p: _Profile, by: tuple[str, str], row: ProfileRow) -> None:
        for f in IDENTIFIERS:
            given, own = getattr(row, f), p.values.get(f)
            if given is not None and own is not None and given != own:
                raise IdentityConflict.other_identifier(by, (f, given))

    def commit(self, p: _Profile, before: _Profile | None) -> None:
        for f in IDENTIFIERS:  # reached through an id, a row may name another profile's identifier
            taken = self.by[f].get(p.values[f]) if p.values.get(f) is not None else None
            if taken is not None and taken.id != p.id:
                raise IdentityConflict.two_profiles(("id", p.id), (f, p.values[f]))
        if before is not None:  # identifiers the profile no longer has stop pointing at it
            for f in IDENTIFIERS:
                old = before.values.get(f)
                if old is not None and old != p.values.get(f) and self.by[f].get(old) is before:
                    del self.by[f][old]
        self._index(p)
        self.touched[p.id] = p

    def apply(self, row: R, consent: ConsentStep[R], now: datetime, proof: Proof, report: BatchReport) -> str:
        """Resolve one row and compute its changes; returns the profile's id.

        Raises DomainError (or NotFound) and leaves the batch untouched when the row cannot apply."""
        existing = self.match(row)
        if existing is None:  # merged_values copies BLANK
            p = _Profile(new_id(), BLANK, now, True, _NO_STATE)
        else:
            p = _Profile(
                existing.id, existing.values, existing.created_at, existing.fresh, existing.state,
                list(existing.events), existing.updated_at,
            )  # fmt: skip
        new_values = merged_values(p.values, row)
        events: list[ConsentEvent] = []
        state = p.state
        if existing is None:
            state = ProfileState(email=new_values["email"], phone_number=new_values["phone_number"])
        else:
            # A new number resets SMS consent; a new address lifts the old one's bounces.
            for change, f in ((t.change_email, "email"), (t.change_phone_number, "phone_number")):
                if new_values[f] != p.values[f]:
                    evs = change(state, new_values[f], now=now, proof=proof)
                    events += evs
                    state = replay(evs, state).evolve(**{f: new_values[f]})
        result = consent(state, row)
        added = [(f, v) for f in IDENTIFIERS if (v := new_values[f]) is not None and v != p.values.get(f)]
        self.tombstones.check(added, new_consent=self.new_consent and (result.subscribed or result.pending))
        events += result.events
        state = result.state
        # A kept opt-out is counted whether or not the row changes anything else.
        if not (new_values != p.values or events or existing is None):
            report.unchanged += 1
            report.kept_opt_outs += result.kept_opt_out
            return p.id
        p.values, p.state = new_values, state
        p.events += events
        self.commit(p, existing)
        report.subscribed += result.subscribed
        report.pending += result.pending
        report.kept_opt_outs += result.kept_opt_out
        if existing is None:
            report.created += 1
        else:
            report.updated += 1
        return p.id

    def unknown(self, email: str | None, phone_number: str | None) -> bool:
        """Whether a row that names a profile by these identifiers alone (no id, no external id)
        makes a new one: no stored or earlier profile of the batch has either, and neither is erased."""
        by = self.by
        if (email is not None and email in by["email"]) or (
            phone_number is not None and phone_number in by["phone_number"]
        ):
            return False
        erased = self.tombstones.erased
        return not erased or (("email", email) not in erased and ("phone_number", phone_number) not in erased)

    def add_new(
        self, values: dict[str, Any], state: ProfileState, events: list[ConsentEvent], now: datetime,
        report: BatchReport, *, subscribed: bool, pending: bool,
    ) -> str:  # fmt: skip
        """A new profile whose row `unknown` let through and whose consent change is worked out
        already (`values` as merged_values gives them for the row): what apply does for such a row,
        without matching, merging or checking it again. Returns the profile's id."""
        p = _Profile(new_id(), values, now, True, state, events)
        self._index(p)
        self.touched[p.id] = p
        report.created += 1
        report.subscribed += subscribed
        report.pending += pending
        return p.id

    def _profile_rows(self, now: datetime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
        """The touched profiles' rows: inserts (bulk.PROFILE_ROW), updates (bulk.PROFILE_UPDATE then
        the key) and the ids of the new ones."""
        inserts, updates, fresh = [], [], []
        dialect = self.conn.dialect.name
        at = bulk.db_time(dialect, now)  # the driver's form, made once (not per row as it is written)
        time = functools.partial(bulk.db_time, dialect)
        for p in self.touched.values():
            row = profile_row(self.account_id, p.id, p.values, bulk.db_time(dialect, p.created_at), at)
            if p.fresh:
                inserts.append(row)
                fresh.append(p.id)
            else:  # fields and properties, the import digest cleared, the summary, then the key
                summary = forms.summary_values(p.state, time)
                updates.append((*row[2:_PROPERTIES_END], at, None, None, *summary, self.account_id, p.id))
        return inserts, updates, fresh

    def write(self, recorder: Recorder, now: datetime) -> int:
        """Write the batch's profiles, then hand its events to the recorder; returns the number of
        ledger events. The batch is worked out as prepare() does (new profiles' rows carry their
        consent summaries), here under the recorder's lock."""
        prepared = self.prepare(now, recorder.seq)
        # Identifiers may move between profiles within a batch: updates free them before inserts.
        bulk.update_profiles(self.conn, prepared.updates)
        bulk.insert_profiles(self.conn, prepared.inserts)
        self.tombstones.write()
        return recorder.record(
            prepared.recorded, fresh=prepared.fresh, precomputed=self.new_rows, projection_rows=prepared.rows,
            summarized=prepared.read,
        )  # fmt: skip

    def prepare(self, now: datetime, seen_seq: int, encode: Encoder | None = None) -> Prepared:
        """Everything the batch will write, worked out before the account's ledger is locked: profile
        rows, events in the ledger's canonical form (`encode`, default ledger.encode), projection
        rows. `seen_seq` is the account's ledger seq as it was before this batch read anything."""
        inserts, updates, fresh = self._profile_rows(now)
        account_id, dialect = self.account_id, self.conn.dialect.name
        if encode is None:

            def encode(profile_id: str, events: Sequence[ConsentEvent]) -> list[ledger.EncodedEvent]:
                return [ledger.encode(account_id, profile_id, e) for e in events]

        recorded, rows = [], projection.empty_rows()
        # Profiles whose states share every part (a job's new profiles that did the same) share
        # their projection rows but for the profile id: each set of parts is turned into rows once.
        # The states are all alive here, so the parts' ids are not reused.
        alike: dict[tuple[int, ...], Callable[[str], None]] = {}  # parts -> projection.rows_adder
        for p in self.touched.values():
            if p.events:
                recorded.append(_recorded(p.id, p.state, p.events, encode(p.id, p.events)))
                s = p.state
                parts = (id(s.consents), id(s.suppressions), id(s.list_suppressions), id(s.lists), id(s.pending))
                add_like = alike.get(parts)
                if add_like is None:
                    like = projection.empty_rows()
                    projection.add_state_rows(like, account_id, p.id, s, lambda v: bulk.db_time(dialect, v))
                    for table, table_rows in like.items():
                        rows[table] += table_rows
                    alike[parts] = projection.rows_adder(rows, like)
                else:
                    add_like(p.id)
        read = {p.id: p.updated_at for p in self.touched.values() if not p.fresh}
        return Prepared(_with_summaries(inserts, read, rows), updates, fresh, recorded, rows, read, seen_seq)

    @staticmethod
    def early(prepared: Prepared) -> tuple[Early, Prepared]:
        """What may be written before the account's ledger is locked, and the batch without it: the
        new profiles' rows and their projection rows. No other write can know those profiles yet;
        one that took an identifier of theirs since it was looked up fails the insert (or makes it
        wait for that write's end, and then fail), and the batch is Stale. So does a batch whose
        update frees an identifier one of its new profiles takes (written under the lock, updates
        go first); worked out again, it is written that way."""
        fresh, rest = projection.split_off(prepared.rows, set(prepared.fresh))
        return Early(prepared.inserts, fresh), dataclasses.replace(prepared, inserts=[], rows=rest)

    def look_ahead(self, prepared: Prepared, conn: Connection) -> Checks:
        """The look-ups write_prepared() makes once the account's ledger is locked, made on `conn`
        (as Recorder's `ahead`: on PostgreSQL they go out with the lock, in one round trip)."""
        updated_at = profile_store.updated_at_later(conn, self.account_id, prepared.read)
        changed = ledger.changed_since_later(conn, self.account_id, prepared.seen_seq, prepared.read)
        return Checks(updated_at, changed)

    def write_prepared(self, recorder: Recorder, prepared: Prepared) -> int:
        """Write what prepare() worked out, once the recorder holds the account's ledger head, and
        commit; returns the number of ledger events. Raises Stale (the caller's transaction rolls
        back) when a write since changed what the batch read: a profile it changes (its row or its
        events), an erased identifier it gives a profile. An identifier taken since fails the write
        with the driver's error, which stale_because() turns into Stale for the caller. The
        recorder's `ahead`, when it is look_ahead(prepared)'s, has made the look-ups already."""
        conn = recorder.conn
        checks = recorder.ahead if isinstance(recorder.ahead, Checks) else self.look_ahead(prepared, conn)
        if prepared.read and checks.updated_at() != prepared.read:
            raise Stale("a profile changed since it was read")
        if recorder.seq != prepared.seen_seq and checks.changed():
            raise Stale("a profile's consent changed since it was read")
        self.tombstones.write()
        # The profiles are written first, in the recorder's flush (one round trip with the ledger,
        # the projection and the commit on PostgreSQL): updates free identifiers before inserts take them.
        return recorder.record(
            prepared.recorded, fresh=prepared.fresh, projection_rows=prepared.rows, summarized=prepared.read,
            first=lambda: bulk.write_profiles(conn, prepared.updates, prepared.inserts), commit=True,
        )  # fmt: skip

    def at_once(self, prepared: Prepared, *, webhooks: bool) -> bool:
        """Whether write_at_once() may write `prepared` (worked out on PostgreSQL): no hook has work
        (an account with an enabled `webhooks` has; so has an email double opt-in request) and no
        tombstone is lifted (written apart, by the batch)."""
        return (
            self.conn.dialect.name == "postgresql"
            and not webhooks
            and not self.tombstones.lifted
            and quiet(prepared.recorded)
        )

    def write_at_once(self, engine: Engine, early: Early, prepared: Prepared) -> int:
        """Write what prepare() and early() worked out, in one round trip with the account's lock and
        the commit (recorder.record_at_once); returns the number of ledger events. A write since
        that changed what the batch read fails it with a serialization failure, an identifier taken
        since with the driver's error: stale_because() turns either into Stale for the caller."""
        return record_at_once(
            engine,
            self.account_id,
            prepared.recorded,
            before_lock=early.write,
            unchanged=(prepared.seen_seq, prepared.read),
            first=lambda conn: bulk.write_profiles(conn, prepared.updates, prepared.inserts),
            fresh=prepared.fresh,
            projection_rows=prepared.rows,
            summarized=prepared.read,
        )


Encoder = Callable[[str, Sequence[ConsentEvent]], list[ledger.EncodedEvent]]

# Where a profile row's properties end (account id, id, the fields, properties) and its summary begins.
_PROPERTIES_END = 3 + len(PROFILE_FIELDS)
_SUMMARY_AT = len(bulk.PROFILE_ROW) - len(SUMMARY_COLUMNS)


def _with_summaries(
    inserts: list[tuple[Any, ...]], updated: Collection[str], rows: projection.Rows
) -> list[tuple[Any, ...]]:
    """The new profiles' rows with their consent summaries in them, taken out of the projection's
    `rows` with those of the `updated` profiles (whose update rows carry theirs): written with
    the row, a summary needs no second write of it."""
    if not rows[SUMMARY]:
        return inserts
    new = {r[1]: i for i, r in enumerate(inserts)}
    out = list(inserts)
    kept = []
    for r in rows[SUMMARY]:
        i = new.get(r[-1])
        if i is not None:
            out[i] = (*out[i][:_SUMMARY_AT], *r[:-2])
        elif r[-1] not in updated:
            kept.append(r)
    rows[SUMMARY] = kept
    return out


@dataclass(frozen=True, slots=True)
class Checks:
    """write_prepared's look-ups, asked already or to be asked: when the batch's stored profiles
    were last changed, and whether a ledger event since the batch read concerns them."""

    updated_at: Callable[[], dict[str, Any]]
    changed: Callable[[], bool]


class Stale(Exception):
    """A batch prepared outside the ledger lock no longer holds: another write got there first."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch's writes, worked out ahead of the lock (ProfileBatch.prepare)."""

    inserts: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    fresh: list[str]
    recorded: list[Recorded]
    rows: projection.Rows
    read: dict[str, datetime | None]  # stored profiles it changes: when each was last changed, as read
    seen_seq: int


@dataclass(frozen=True, slots=True)
class Early:
    """The part of a batch's writes that needs no lock (ProfileBatch.early)."""

    inserts: list[tuple[Any, ...]]
    rows: projection.Rows

    def write(self, conn: Connection) -> None:
        """Insert the new profiles, then their projection rows (as Recorder's `before_lock`)."""
        projection.insert(conn, self.rows, first=[bulk.profile_inserts(self.inserts)])


def stale_because(dialect: Dialect, error: BaseException) -> None:
    """Raise Stale when `error` says that a write since changed what a batch read: an identifier it
    gives a new profile taken by another profile, or, on PostgreSQL, a deadlock with the write that
    took it (this batch inserted the profile first, then waited for the lock that write holds)."""
    if bulk.identifier_taken(dialect, error):
        raise Stale("an identifier was taken since it was looked up") from None
    if deadlocked(dialect, error):
        raise Stale("a write of the same identifier held the lock") from None
    if serialization_failed(dialect, error):
        raise Stale("what the batch read has changed since it read it") from None


def merge_prepared(parts: Sequence[Prepared]) -> Prepared:
    """Several batches' writes as one (of batches that touch no profile or identifier in common), in
    order: written under one lock, checked against the earliest seq any of them read at."""
    rows = projection.empty_rows()
    for p in parts:
        for table, table_rows in p.rows.items():
            rows[table] += table_rows
    return Prepared(
        [r for p in parts for r in p.inserts],
        [r for p in parts for r in p.updates],
        [i for p in parts for i in p.fresh],
        [r for p in parts for r in p.recorded],
        rows,
        {k: v for p in parts for k, v in p.read.items()},
        min(p.seen_seq for p in parts),
    )
