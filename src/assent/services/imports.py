"""Bulk import of profiles from CSV or NDJSON, with optional consent.

The file is read in batches. Rows are validated (identifiers normalised, consent columns parsed)
in worker processes when the file is large enough for that to pay; the main process resolves
each row to a profile with set-based look-ups, runs the consent transitions, and writes each
batch in one transaction with the raw driver: profiles, ledger events and projection together.
A batch lands whole or not at all, so a killed import leaves the database consistent, and
because repeating a transition on its own result emits nothing, re-running a file completes it
without writing anything twice.
"""

from __future__ import annotations

import csv
import gc
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine

from ..domain import (
    Channel,
    ConsentEvent,
    ConsentStatus,
    DomainError,
    OptInProcess,
    ProfileState,
    Proof,
    Purpose,
    replay,
)
from ..domain import transitions as t
from ..domain.identity import normalize_email, normalize_phone
from ..store import bulk, projection
from ..store import profiles as profile_store
from ..store.db import read_transaction, write_transaction
from ..store.ledger import LedgerAppender
from ..store.tables import PROFILE_FIELDS, profiles
from .accounts import load_account
from .clock import parse_time, utcnow
from .ids import new_id
from .lists import load_list

SUBSCRIBE_CHOICES: dict[str, tuple[Channel, Purpose]] = {
    "email": (Channel.EMAIL, Purpose.MARKETING),
    "sms": (Channel.SMS, Purpose.MARKETING),
    "sms_transactional": (Channel.SMS, Purpose.TRANSACTIONAL),
    "push": (Channel.PUSH, Purpose.MARKETING),
    "whatsapp": (Channel.WHATSAPP, Purpose.MARKETING),
}
CONSENT_COLUMNS = {"email_consent": Channel.EMAIL, "sms_consent": Channel.SMS}
RESERVED = {"email_consent", "sms_consent", "consented_at", "properties", "id"}
ATTRIBUTE_FIELDS = tuple(f for f in PROFILE_FIELDS if f not in ("email", "phone_number", "external_id"))

_YES = {"subscribed", "true", "yes", "y", "1", "t"}
# "false" is a box left unticked: that is no consent, not an opt-out (only explicit opt-in counts).
_NO_CHANGE = {"never_subscribed", "false", "no", "n", "0", "f", ""}
_OPT_OUT = {"unsubscribed"}

PROFILE_COLUMNS = ("account_id", "id", *PROFILE_FIELDS, "properties", "created_at", "updated_at")
UPDATE_COLUMNS = (*PROFILE_FIELDS, "properties", "updated_at")


def parse_subscribe(value: str | Sequence[str] | None) -> list[tuple[Channel, Purpose]]:
    if not value:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for name in (n.strip().lower() for n in names):
        if name not in SUBSCRIBE_CHOICES:
            raise DomainError("subscribe", f"channels are {', '.join(SUBSCRIBE_CHOICES)}", name)
        out.append(SUBSCRIBE_CHOICES[name])
    return out


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


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    subscribed: int = 0
    rejected: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


# --- validation (runs in worker processes) --------------------------------------------------


@dataclass(slots=True)
class Prepared:
    line: int
    email: str | None
    phone_number: str | None
    external_id: str | None
    attributes: dict[str, str]
    properties: dict[str, Any]
    consent: dict[Channel, str]  # "in", "out" or "none", per channel named by a consent column
    consented_at: datetime | None


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    field: str
    reason: str
    raw: Any


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


def prepare_row(line: int, record: dict[str, Any], default_region: str) -> Prepared | Rejected:
    if "__error__" in record:
        return Rejected(line, "row", record["__error__"], record.get("__raw__"))
    try:
        email = _text(record.get("email"))
        phone = _text(record.get("phone_number"))
        external_id = _text(record.get("external_id"))
        if email is None and phone is None and external_id is None:
            raise DomainError("email", "a row needs an email, a phone_number or an external_id")
        email = normalize_email(email) if email else None
        phone = normalize_phone(phone, default_region) if phone else None
        consent: dict[Channel, str] = {}
        for column, channel in CONSENT_COLUMNS.items():
            value = (_text(record.get(column)) or "").lower()
            if value in _YES:
                consent[channel] = "in"
            elif value in _OPT_OUT:
                consent[channel] = "out"
            elif value not in _NO_CHANGE:
                raise DomainError(column, "must be SUBSCRIBED, UNSUBSCRIBED, NEVER_SUBSCRIBED, true or false", value)
            elif value:  # an explicit "no" overrides --subscribe for this row: it is not consent (rule 9)
                consent[channel] = "none"
        consented = _text(record.get("consented_at"))
        consented_at = parse_time(consented, "consented_at") if consented else None
        attributes = {k: v for k in ATTRIBUTE_FIELDS if (v := _text(record.get(k))) is not None}
        properties: dict[str, Any] = {}
        nested = record.get("properties")
        if isinstance(nested, dict):
            properties.update(nested)
        for k, v in record.items():
            if k in PROFILE_FIELDS or k in RESERVED or k is None or v is None or v == "":
                continue
            properties[k] = v
        return Prepared(line, email, phone, external_id, attributes, properties, consent, consented_at)
    except DomainError as e:
        return Rejected(line, e.field, str(e), record)


def prepare_chunk(chunk: list[tuple[int, dict[str, Any]]], default_region: str) -> list[Prepared | Rejected]:
    return [prepare_row(line, record, default_region) for line, record in chunk]


# --- reading ---------------------------------------------------------------------------------


def _detect_format(path: Path, fmt: str | None) -> str:
    fmt = (fmt or ("ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else "csv")).lower()
    if fmt not in ("csv", "ndjson"):
        raise DomainError("format", "must be csv or ndjson", fmt)
    return fmt


def _records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise DomainError("file", "the CSV file has no header row", str(path))
            header = [h.strip() for h in header]
            for row in reader:
                if not any(row):
                    continue
                yield reader.line_num, dict(zip(header, row, strict=False))
        return
    decoder = msgspec.json.Decoder()
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = decoder.decode(raw)
            except msgspec.DecodeError as e:
                record = {"__error__": f"not valid JSON: {e}", "__raw__": raw.decode("utf-8", "replace").strip()}
            if not isinstance(record, dict):
                record = {"__error__": "not a JSON object", "__raw__": record}
            yield n, record


def _chunks(path: Path, fmt: str, size: int) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    chunk: list[tuple[int, dict[str, Any]]] = []
    for item in _records(path, fmt):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prepared_batches(
    path: Path, fmt: str, options: ImportOptions, default_region: str
) -> Iterator[list[Prepared | Rejected]]:
    """Validated batches in file order, from worker processes when that pays."""
    workers = options.workers
    if workers is None:
        cpus = os.cpu_count() or 1
        workers = min(cpus, 4) if cpus > 1 and path.stat().st_size > 2_000_000 else 0
    chunks = _chunks(path, fmt, options.batch_size)
    if workers <= 0:
        for chunk in chunks:
            yield prepare_chunk(chunk, default_region)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        in_flight: list[Future] = []
        for chunk in chunks:
            in_flight.append(pool.submit(prepare_chunk, chunk, default_region))
            if len(in_flight) > workers * 2:  # bounded: the file is never all in memory
                yield in_flight.pop(0).result()
        for fut in in_flight:
            yield fut.result()


# --- resolving and writing (main process) ----------------------------------------------------


@dataclass(slots=True)
class _Profile:
    id: str
    values: dict[str, Any]  # PROFILE_FIELDS + "properties" (a dict)
    created_at: datetime
    fresh: bool
    state: ProfileState
    events: list[ConsentEvent] = field(default_factory=list)
    changed: bool = False


class _Batch:
    """One batch's profiles, looked up once, with rows resolved against them in file order."""

    def __init__(self, conn, account_id: str, rows: list[Prepared]) -> None:
        self.account_id = account_id
        self.by: dict[str, dict[str, _Profile]] = {f: {} for f in profile_store.IDENTIFIERS}
        found: dict[str, Any] = {}
        for f in profile_store.IDENTIFIERS:
            values = [v for r in rows if (v := getattr(r, f)) is not None]
            for row in profile_store.find_many(conn, account_id, f, values) if values else ():
                found[row.id] = row
        states = projection.load(conn, account_id, {pid: (r.email, r.phone_number) for pid, r in found.items()})
        for pid, row in found.items():
            values = {f: getattr(row, f) for f in PROFILE_FIELDS}
            values["properties"] = msgspec.json.decode(row.properties or "{}")
            self._index(_Profile(pid, values, row.created_at, False, states[pid]))
        self.touched: dict[str, _Profile] = {}

    def _index(self, p: _Profile) -> None:
        for f in profile_store.IDENTIFIERS:
            if p.values.get(f) is not None:
                self.by[f][p.values[f]] = p

    def match(self, row: Prepared) -> _Profile | None:
        found = {
            id(p): p
            for f in profile_store.IDENTIFIERS
            if (v := getattr(row, f)) is not None and (p := self.by[f].get(v))
        }
        if len(found) > 1:
            raise DomainError("email", "the row's identifiers belong to different profiles")
        return next(iter(found.values()), None)

    def commit(self, p: _Profile, before: _Profile | None) -> None:
        if before is not None:  # identifiers the profile no longer has stop pointing at it
            for f in profile_store.IDENTIFIERS:
                old = before.values.get(f)
                if old is not None and old != p.values.get(f) and self.by[f].get(old) is before:
                    del self.by[f][old]
        self._index(p)
        self.touched[p.id] = p


def _apply_row(
    batch: _Batch,
    row: Prepared,
    options: ImportOptions,
    opt_in: OptInProcess,
    proof: Proof,
    now: datetime,
    report: ImportReport,
) -> None:
    """Resolve one row and compute its changes; raises DomainError, leaving the batch untouched."""
    existing = batch.match(row)
    if existing is None:
        p = _Profile(new_id(), {f: None for f in PROFILE_FIELDS} | {"properties": {}}, now, True, ProfileState())
    else:
        p = replace(existing, values=dict(existing.values), events=list(existing.events))
    state = p.state
    new_values = dict(p.values)
    for f in ("email", "phone_number", "external_id"):
        if (v := getattr(row, f)) is not None:
            new_values[f] = v
    new_values.update(row.attributes)
    if row.properties:
        new_values["properties"] = {**p.values["properties"], **row.properties}
    events: list[ConsentEvent] = []
    if existing is None:
        state = replace(state, email=new_values["email"], phone_number=new_values["phone_number"])
    else:
        for change, f in ((t.change_email, "email"), (t.change_phone_number, "phone_number")):
            if new_values[f] != p.values[f]:
                evs = change(state, new_values[f], now=now, proof=proof)
                events += evs
                state = replace(replay(evs, state), **{f: new_values[f]})
    consented_at = row.consented_at or options.consented_at
    historical = options.historical or row.consented_at is not None
    targets = [tg for tg in options.subscribe if tg[0] not in row.consent]
    targets += [(ch, Purpose.MARKETING) for ch, v in row.consent.items() if v == "in"]
    targets = [tg for tg in targets if state.address(tg[0]) is not None]  # no number, no SMS consent
    if targets:
        evs = t.subscribe(
            state,
            targets,
            now=now,
            method=options.method,
            method_detail=options.method_detail,
            consented_at=consented_at if historical else None,
            historical_import=historical,
            list_id=options.list_id,
            opt_in_process=opt_in,
            proof=proof,
        )
        if any(e.status is ConsentStatus.SUBSCRIBED for e in evs):  # a pending double opt-in is not consent
            report.subscribed += 1
        events += evs
        state = replay(evs, state)
    if options.list_id is not None and not targets:
        evs = t.add_to_list(state, options.list_id, now=now, proof=proof)
        events += evs
        state = replay(evs, state)
    for ch, v in row.consent.items():
        if v == "out":
            evs = t.unsubscribe(state, ch, now=now, method=options.method, proof=proof)
            events += evs
            state = replay(evs, state)
    changed_fields = new_values != p.values
    if not (changed_fields or events or p.fresh):
        report.unchanged += 1
        return
    if existing is None:
        report.created += 1
    else:
        report.updated += 1
    p.values, p.state = new_values, state
    p.events += events
    p.changed = p.changed or changed_fields
    batch.commit(p, existing)


def _write_batch(conn, batch: _Batch, ledger: LedgerAppender, now: datetime) -> int:
    inserts, updates, states, fresh = [], [], {}, []
    for p in batch.touched.values():
        v = dict(p.values)
        v["properties"] = msgspec.json.encode(v["properties"]).decode()
        if p.fresh:
            inserts.append(
                (batch.account_id, p.id, *(v[f] for f in PROFILE_FIELDS), v["properties"], p.created_at, now)
            )
            fresh.append(p.id)
        elif p.changed or p.events:
            updates.append((*(v[f] for f in PROFILE_FIELDS), v["properties"], now, batch.account_id, p.id))
        if p.events:
            ledger.add(p.id, p.events)
            states[p.id] = p.state
    # Identifiers may move between profiles within a batch: free them first, then write.
    bulk.update_rows(conn, profiles, ("account_id", "id"), UPDATE_COLUMNS, updates)
    bulk.insert_rows(conn, profiles, PROFILE_COLUMNS, inserts)
    n = ledger.flush()
    projection.write(conn, batch.account_id, states, fresh=fresh)
    return n


class _Rejects:
    def __init__(self, path: str | None, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.file = None
        self.writer = None

    def write(self, r: Rejected) -> None:
        if self.path is None:
            return
        if self.file is None:
            self.file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 — closed in close()
            if self.fmt == "csv":
                self.writer = csv.writer(self.file)
                self.writer.writerow(["line", "field", "reason", "row"])
        raw = r.raw if isinstance(r.raw, dict) else {"value": r.raw}
        if self.writer is not None:
            self.writer.writerow([r.line, r.field, r.reason, msgspec.json.encode(raw).decode()])
        else:
            self.file.write(
                msgspec.json.encode({"line": r.line, "field": r.field, "reason": r.reason, "row": raw}).decode() + "\n"
            )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def import_profiles(
    engine: Engine, path: str | Path, options: ImportOptions, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a file; returns the counts. `progress` is called with the number of rows done."""
    path = Path(path)
    if not path.is_file():
        raise DomainError("file", "no such file", str(path))
    fmt = _detect_format(path, options.format)
    with read_transaction(engine) as conn:
        account = load_account(conn, options.account_id)
        opt_in = load_list(conn, account.id, options.list_id).opt_in_process if options.list_id else OptInProcess.SINGLE
    report = ImportReport()
    # A batch holds tens of thousands of small objects alive; the cyclic collector would walk them
    # over and over for nothing (nothing here makes cycles), costing a quarter of the import.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    proof = Proof(source=options.method_detail or path.name, actor="import")
    rejects = _Rejects(options.rejects_path, fmt)
    try:
        for prepared in _prepared_batches(path, fmt, options, account.default_region):
            now = utcnow()
            good = []
            for item in prepared:
                if isinstance(item, Rejected):
                    report.rejected += 1
                    rejects.write(item)
                else:
                    good.append(item)
            with write_transaction(engine) as conn:
                ledger = LedgerAppender(conn, account.id)
                batch = _Batch(conn, account.id, good)
                for row in good:
                    try:
                        _apply_row(batch, row, options, opt_in, proof, now, report)
                    except DomainError as e:
                        report.rejected += 1
                        rejects.write(Rejected(row.line, e.field, str(e), _raw(row)))
                report.events += _write_batch(conn, batch, ledger, now)
            report.rows += len(prepared)
            if progress:
                progress(len(prepared))
    finally:
        rejects.close()
        if gc_was_enabled:
            gc.enable()
    return report


def _raw(row: Prepared) -> dict[str, Any]:
    return {"email": row.email, "phone_number": row.phone_number, "external_id": row.external_id, **row.attributes}
