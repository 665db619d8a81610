"""What an import does to each row, worked out in the import's worker processes (and, for small
files, in the importing process): parsing and validating a chunk of the file, and, speculatively,
everything a valid row writes if it creates a new profile.

A worker process imports this module, the row parsing, the domain and the row forms of the store
(store.forms), never SQLAlchemy nor the rest of the application: each worker starts in a fraction
of the time, and an import pays for as many as it starts (an import-linter contract keeps it so)."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

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
from ...domain.opt_outs import keep_opt_outs
from ...store import forms
from ...store.forms import DriverTarget
from ..profiles.values import BLANK, RowConsent, merged_values, profile_row, row_consent
from ..shared.ids import new_id
from .rows import (
    Cells,
    Known,
    NewProfile,
    Prepared,
    RawChunk,
    Rejected,
    csv_rows,
    encode_results,
    prepare_row,
    records,
    row_digest,
    row_record,
)


@dataclass(frozen=True, slots=True)
class ImportOptions:
    account_id: str
    format: str | None = None  # csv or ndjson; guessed from the file name when None
    subscribe: tuple[tuple[Channel, Purpose], ...] = ()
    list_id: str | None = None
    method: str = "MANUAL_IMPORT"
    method_detail: str | None = None
    consented_at: datetime | None = None
    historical: bool = False
    rejects_path: str | None = None
    batch_size: int = 10_000
    workers: int | None = None  # None: decide from the file size and the machine
    encoding: str | None = None  # for lines that are not UTF-8 (or the file's, when not ASCII-based)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the import does to every row: the options and what they resolve to; travels to the
    workers with each chunk."""

    options: ImportOptions
    dialect: str  # the database's, so that workers hand over rows ready for its driver
    default_region: str  # the account's, for phone numbers without a country code
    opt_in: OptInProcess  # the list's, or single opt-in without a list
    proof: Proof
    database: DriverTarget | None = None  # where workers look up which rows' digests are stored
    digest_seed: bytes | None = None  # None: this import keeps no digests (digest_seed)
    # False when no profile of the account held a digest as the import started: no row can then be
    # found unchanged by one, and rows are not looked up (nor do workers connect to the database).
    # A row repeated later in the file takes the full path, where repeating it changes nothing.
    look_up: bool = True

    @property
    def account_id(self) -> str:
        return self.options.account_id


def consent_events(state: ProfileState, row: Prepared, plan: Plan, now: datetime) -> RowConsent:
    """The consent part of a row: its subscriptions, list membership and opt-outs. A profile's own
    opt-outs are kept (domain.opt_outs): the row's RowConsent says when one kept it from a change."""
    o = plan.options
    events: list[ConsentEvent] = []
    historical = o.historical or row.consented_at is not None
    # Consent goes only to an address the row itself gives (never to one the profile had already):
    # a row's own "SUBSCRIBED" without it is refused; --subscribe skips rows without it.
    for ch, v in row.consent.items():
        if v == "in" and row_address(row, ch) is None:
            raise MissingAddress(
                _ADDRESS_FIELD[ch],
                f"{ch.value} consent needs the row's own {_ADDRESS_FIELD[ch]}; the row has none",
            )
    targets = [tg for tg in o.subscribe if tg[0] not in row.consent and row_address(row, tg[0]) is not None]
    targets += [(ch, Purpose.MARKETING) for ch, v in row.consent.items() if v == "in"]
    consented_at = (row.consented_at or o.consented_at) if historical else None
    # An import never undoes an opt-out (of a channel or of the list) that its row does not predate.
    targets, list_id, kept = keep_opt_outs(state, targets, o.list_id, consented_at)
    if targets:
        evs = t.subscribe(
            state,
            targets,
            now=now,
            method=o.method,
            method_detail=o.method_detail,
            consented_at=consented_at,
            historical_import=historical,
            list_id=list_id,
            opt_in_process=plan.opt_in,
            proof=plan.proof,
        )
        events += evs
        state = replay(evs, state)
    if list_id is not None and not targets:
        evs = t.add_to_list(state, list_id, now=now, proof=plan.proof)
        events += evs
        state = replay(evs, state)
    for channel, v in row.consent.items():
        if v == "out":
            evs = t.unsubscribe(state, channel, now=now, method=o.method, proof=plan.proof)
            events += evs
            state = replay(evs, state)
    return row_consent(events, state, kept)


_ADDRESS_FIELD = {Channel.EMAIL: "email", Channel.SMS: "phone_number", Channel.WHATSAPP: "phone_number"}


def row_address(row: Prepared, channel: Channel) -> str | None:
    """The address the row gives for `channel` (push has none: its consent is the device's)."""
    field = _ADDRESS_FIELD.get(channel)
    return getattr(row, field) if field else "push"


Encoder = Callable[[str, Mapping[str, str]], forms.EncodedEvent]  # (profile id, personal data) -> the event


class _Shape(NamedTuple):
    """What a new profile's row does to consent, worked out once for every row of its shape."""

    email: str | None  # the addresses of the row it was worked out for
    phone_number: str | None
    result: RowConsent
    events: list[tuple[Encoder, dict[str, str]]]  # each event's forms.encoder_like, with its personal data
    projection: forms.Rows  # the projection rows, ready for the driver, for the profile id PLACEHOLDER
    summary: tuple[Any, ...]  # the consent summary's values, which go into the profile's row


# Rows that create a profile differ in what they do to consent only by their consent columns and
# dates and by which addresses they give: the addresses' values go only into the events' personal data.
ShapeKey = tuple[frozenset[tuple[Channel, str]], datetime | None, bool, bool]


def plan_new(row: Prepared, plan: Plan, now: datetime, shapes: dict[ShapeKey, _Shape] | None = None) -> NewProfile:
    """Everything the row writes if it creates a profile. `shapes` (kept by the caller for one `now`)
    holds the consent worked out for each shape of row, so that rows of a known shape skip the
    transitions and take their events from it, with their own addresses."""
    values = merged_values(BLANK, row)
    email, phone = values["email"], values["phone_number"]
    profile_id = new_id()
    key = (frozenset(row.consent.items()), row.consented_at, email is None, phone is None)
    shape = shapes.get(key) if shapes is not None else None
    time = functools.partial(forms.db_time, plan.dialect)
    if shape is None:
        result = consent_events(ProfileState(email=email, phone_number=phone), row, plan, now)
        encoded = [forms.encode(plan.account_id, profile_id, e) for e in result.events]
        rows = forms.empty_rows()
        forms.add_state_rows(rows, plan.account_id, forms.PLACEHOLDER, result.state, time)
        summary = forms.take_summary(rows)
        # Only the tables it has rows in: most are empty, and each empty list costs the trip back.
        like_rows = {
            table: forms.ready_rows(plan.dialect, table_rows) for table, table_rows in rows.items() if table_rows
        }
        if shapes is not None:
            made = [(forms.encoder_like(plan.account_id, c), dict(e.personal)) for c, e in zip(
                encoded, result.events, strict=True)]  # fmt: skip
            shape = shapes[key] = _Shape(email, phone, result, made, like_rows, summary)
    else:
        result, like_rows, summary = shape.result, shape.projection, shape.summary
        own = {"email": (shape.email, email), "phone_number": (shape.phone_number, phone)}
        encoded = []
        for encoder, personal in shape.events:
            mine = {k: (own[k][1] if k in own and v == own[k][0] else v) for k, v in personal.items()}
            encoded.append(encoder(profile_id, mine))
    # A profile's projection rows are its shape's, but for its id.
    ready = forms.with_profile(like_rows, profile_id)
    if plan.dialect == "sqlite":  # its driver takes times as text (PostgreSQL's, as they are)
        encoded = [forms.EncodedEvent(time(e.occurred_at), *e[1:]) for e in encoded]
    import_seq = forms.IMPORT_SEQ if row.digest is not None else None  # the writer knows it (with_import_seq)
    stored = profile_row(plan.account_id, profile_id, values, time(now), time(now), row.digest, import_seq, summary)
    [profile] = forms.ready_rows(plan.dialect, [stored])
    return NewProfile(profile_id, profile, encoded, ready, result.subscribed, result.pending)


Lookup = Callable[[list[str]], dict[str, str]]  # digest -> the profile it leaves unchanged (forms.unchanged_digests)


class ReadChunk(NamedTuple):
    """A chunk's rows as read (a CSV row's cells, made its record only when it is worked out), each
    one's import digest (None when it has none) and, for those digests a stored profile holds with
    no ledger event since, that profile's id."""

    records: list[Cells]
    digests: list[str | None]
    held: dict[str, str]
    header: list[str | None]  # the CSV chunk's and its delimiter (row_record)
    delimiter: str

    def held_rows(self) -> int:
        return sum(d is not None and d in self.held for d in self.digests)


def read_chunk(chunk: RawChunk, plan: Plan, known: Lookup) -> ReadChunk:
    """Parse a chunk and look its rows' digests up: cheap, next to working the rows out."""
    return look_up(parse_chunk(chunk, plan), plan, known)


def parse_chunk(chunk: RawChunk, plan: Plan) -> ReadChunk:
    """A chunk's rows and their digests, not looked up yet (none held). A CSV row is kept as read
    (csv_rows): a re-import's rows, found unchanged, are never made records."""
    parsed: list[Cells] = list(csv_rows(chunk)) if chunk.fmt == "csv" else list(records(chunk))
    seed = plan.digest_seed
    if seed is None:
        digests: list[str | None] = [None] * len(parsed)
    else:
        delimiter = chunk.delimiter
        digests = [
            None if type(row) is dict and "__error__" in row else row_digest(seed, delimiter, row) for _, row in parsed
        ]
    return ReadChunk(parsed, digests, {}, chunk.header, chunk.delimiter)


def look_up(read: ReadChunk, plan: Plan, known: Lookup) -> ReadChunk:
    """A parsed chunk with the profiles its digests leave unchanged: one statement (see parse_chunk)."""
    if plan.digest_seed is None or not plan.look_up:
        return read
    return read._replace(held=known([d for d in read.digests if d is not None]))


def work_out(read: ReadChunk, plan: Plan, now: datetime) -> list[Prepared | Rejected | Known]:
    """Validate a chunk read, and work out each valid row's writes as a new profile; a row whose
    digest a profile holds is passed on as read (Known), to be checked, not worked out."""
    out: list[Prepared | Rejected | Known] = []
    shapes: dict[ShapeKey, _Shape] = {}
    held, header, delimiter = read.held, read.header, read.delimiter
    for (line, row), digest in zip(read.records, read.digests, strict=True):
        if digest is not None and (profile_id := held.get(digest)) is not None:
            out.append(Known(line, digest, row, profile_id))
            continue
        item = prepare_row(line, row_record(header, delimiter, row), plan.default_region)
        if isinstance(item, Prepared):
            item.digest = digest
            # A row that fails here meets the same error on the careful path, which rejects it.
            with suppress(DomainError):
                item.as_new = plan_new(item, plan, now, shapes)
        out.append(item)
    return out


def prepare_chunk(chunk: RawChunk, plan: Plan, now: datetime, known: Lookup) -> list[Prepared | Rejected | Known]:
    """read_chunk, then work_out."""
    return work_out(read_chunk(chunk, plan, known), plan, now)


def worker_start() -> None:
    # Workers skip the cyclic collector for the reason import_profiles does.
    gc.disable()


def prepare_chunk_packed(chunk: RawChunk, plan: Plan, now: datetime) -> bytes:
    """prepare_chunk in a worker process, its result packed for the trip back."""
    if not plan.look_up:
        return encode_results(prepare_chunk(chunk, plan, now, nothing_held))
    if plan.database is None:
        raise ValueError("a worker needs the plan's database to look up digests")
    raw = forms.process_connection(plan.database)
    known = functools.partial(forms.unchanged_digests, raw, plan.dialect, plan.account_id)
    return encode_results(prepare_chunk(chunk, plan, now, known))


def nothing_held(digests: list[str]) -> dict[str, str]:
    """The look-up of an import that looks none up (Plan.look_up)."""
    return {}
