"""Bulk import of profiles from CSV or NDJSON, with optional consent.

The main process cuts the file into chunks of whole records. Worker processes parse and validate
each row (identifiers normalised, consent columns read) and, speculatively, work out everything
the row writes if it creates a new profile: its id, its row, its ledger events in canonical form
and its projection rows — with the same transitions the careful path uses — already in the form
the database driver takes. The main process inserts those profiles of a batch whose identifiers
are unique within it, letting the unique indexes say which ones match no stored profile; those
land as worked out, and only their place in the hash chain is left to compute. Every other row
is looked up (one set-based query per identifier) and resolved here, in file order.

Each batch is one transaction: profiles, ledger events and projection land together or not at
all, so a killed import leaves the database consistent; because repeating a transition on its
own result emits nothing, re-running the file completes it without writing anything twice.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection, Engine

from ...domain import Channel, DomainError, OptInProcess, ProfileState, Proof, Purpose
from ...domain.errors import excerpt
from ...domain.implied import IMPLIED_METHODS
from ...store import bulk, forms
from ...store import profiles as profile_store
from ...store.db import bulk_connection, driver_target, read_transaction
from ...store.forms import DriverTarget
from ..accounts.accounts import load_account
from ..lists.lookup import load_list
from ..privacy.tombstones import Tombstones
from ..profiles.batch import BatchReport, ProfileBatch, RowConsent
from ..shared.clock import utcnow
from ..shared.recorder import WITHOUT_CONFIRMATIONS, Recorder
from .encoding import codec_name
from .headers import accepted_identifier_headers
from .rows import (
    IDENTIFIERS,
    ImportFile,
    Known,
    Prepared,
    RawChunk,
    Rejected,
    RejectsFile,
    decode_results,
    detect_format,
    prepare_row,
    records,
    row_record,
)
from .work import ImportOptions as ImportOptions
from .work import (
    Lookup,
    ReadChunk,
    look_up,
    nothing_held,
    parse_chunk,
    prepare_chunk_packed,
    read_chunk,
    work_out,
    worker_start,
)
from .work import Plan as Plan
from .work import ShapeKey as ShapeKey
from .work import consent_events as consent_events
from .work import plan_new as plan_new
from .work import prepare_chunk as prepare_chunk
from .work import row_address as row_address

if TYPE_CHECKING:
    from concurrent.futures import Future

SUBSCRIBE_CHOICES: dict[str, tuple[Channel, Purpose]] = {
    "email": (Channel.EMAIL, Purpose.MARKETING),
    "sms": (Channel.SMS, Purpose.MARKETING),
    "sms_transactional": (Channel.SMS, Purpose.TRANSACTIONAL),
    "push": (Channel.PUSH, Purpose.MARKETING),
    "whatsapp": (Channel.WHATSAPP, Purpose.MARKETING),
}
_encode_json = msgspec.json.Encoder().encode


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


# Bumped when what a row does changes for the same file and options, or how a row is digested, so
# older digests stop matching. 2: a CSV row is digested as its cells, not as its record. 3: as its
# line (its cells, when they are plain: rows.digested_text).
DIGEST_VERSION = 3


def digest_seed(source: ImportFile, options: ImportOptions, default_region: str, opt_in: OptInProcess) -> bytes | None:
    """What, besides a row's own record, decides what the row does; None when rows repeated later
    may still change something (a consent on an implied basis is renewed by a later one)."""
    if options.method in IMPLIED_METHODS:
        return None
    o = options
    consented_at = o.consented_at.isoformat() if o.consented_at else None
    columns = source.columns.keys if source.columns is not None else None
    what = [DIGEST_VERSION, source.fmt, columns, source.delimiter, source.encoding.tried, default_region, opt_in.value,
            [(c.value, p.value) for c, p in o.subscribe], o.list_id, o.method, o.method_detail, consented_at,
            o.historical]  # fmt: skip
    return hashlib.blake2b(msgspec.json.encode(what), digest_size=16).digest()


# --- reading in parallel ---------------------------------------------------------------------


# (time, validated rows, the chunk they were read from, batches written before its digests were
# looked up); a worker's rows stay packed until the writer has taken the batch before (_Writer.put),
# so that only the batch being written and the next one are ever held as objects (several times the
# packed size). The chunk, as text, gives the rows rejected while writing their cells as read
# (_import_batch) and the bytes read (its end).
Batch = tuple[datetime, list[Prepared | Rejected | Known] | bytes, RawChunk, int]
Unpacked = tuple[datetime, list[Prepared | Rejected | Known], RawChunk, int]


# Worker processes pay for starting (each imports the application) only when this much of the file
# is left to work out after the first batch.
WORKERS_FROM_BYTES = 2_000_000

# One worker keeps the writer fed on a file of 100,000 profiles; each more takes a core from the
# writer and a local database server, and pays for that only over this much more of the file.
BYTES_PER_MORE_WORKER = 32_000_000


def worker_count(cpus: int, left: int) -> int:
    """How many worker processes an import starts for `left` bytes still to read: none on one core
    or for a small rest; else one, and one more for each BYTES_PER_MORE_WORKER, up to a core each
    (four at most: past that the writer is the limit)."""
    if cpus < 2 or left <= WORKERS_FROM_BYTES:
        return 0
    return min(cpus, 4, 1 + left // BYTES_PER_MORE_WORKER)


# The first chunk of a file is this many times smaller than a batch; each next one twice as large.
RAMP_FROM = 8


# An import reads every import digest the account holds at once, in one statement, when there are at
# most four times as many as the file has lines, and at most this many: on PostgreSQL that is a
# fifth of the database's work of looking each row's digest up, and the dict it makes is small
# (about 20 MB for 100,000 digests). Otherwise each chunk's digests are looked up.
READ_ALL_HELD_UP_TO = 250_000


def read_all_up_to(source: ImportFile) -> int:
    """How many held digests an import of this file reads at once at most (READ_ALL_HELD_UP_TO)."""
    return min(READ_ALL_HELD_UP_TO, 4 * source.lines(up_to=READ_ALL_HELD_UP_TO // 4))


def _prepared_batches(engine: Engine, source: ImportFile, plan: Plan, written: Callable[[], int]) -> Iterator[Batch]:
    """Validated batches in file order (_batches). Digests are looked up on bare connections of the
    import's own, as workers do: cheaper than through SQLAlchemy, and with SQLite's small default
    page cache the digest index's pages are not kept in this process as well as in the writer's.

    The account's digests are read at once (read_all_up_to), in a thread of its own while the first
    chunks are parsed, and the rows of each chunk looked up in what it read; when the account holds
    too many, that thread gives up after counting them, and each chunk's rows are looked up."""
    if plan.database is None:
        raise ValueError("the plan names no database")
    if not plan.look_up or plan.digest_seed is None:
        yield from _batches(source, plan, nothing_held, written)
        return
    database = plan.database
    idle: queue.SimpleQueue[Any] = queue.SimpleQueue()  # connections not in a look-up now
    opened: list[Any] = []

    def known(digests: list[str]) -> dict[str, str]:
        # One connection a look-up in flight (LOOKUPS_AHEAD), opened when first needed.
        try:
            raw = idle.get_nowait()
        except queue.Empty:
            raw = forms.connect(database)
            opened.append(raw)
        try:
            return forms.unchanged_digests(raw, plan.dialect, plan.account_id, digests)
        finally:
            idle.put(raw)

    from concurrent.futures import ThreadPoolExecutor

    before_read = written()  # none: no batch is written before the first one is looked up
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assent-import-held") as reading:
            everything = reading.submit(_read_held, database, plan, read_all_up_to(source))

            def found(digests: list[str]) -> dict[str, str]:
                held = everything.result()
                return known(digests) if held is None else {d: held[d] for d in digests if d in held}

            def seen_by_found() -> int:
                # A batch looked up in the digests read at once saw the batches written before that
                # read, never those written since, which _import_batch looks up again. Until the read
                # is done, a batch may still be: it is taken to have seen as few.
                if everything.done() and everything.exception() is None and everything.result() is None:
                    return written()  # the read gave up: each chunk is looked up as it is handed out
                return before_read

            # The first chunk, which decides whether workers start, is looked up on its own: the
            # rest is parsed while the account's digests are read. Workers look their chunks up.
            yield from _batches(source, plan, found, written, first_known=known, seen_by_known=seen_by_found)
    finally:
        for raw in opened:
            raw.close()


def _read_held(database: DriverTarget, plan: Plan, up_to: int) -> dict[str, str] | None:
    """Every digest the account holds, with its profile; None (after counting no further) when the
    account holds more than `up_to`."""
    raw = forms.connect(database)
    try:
        if up_to <= 0 or forms.held_digest_count(raw, plan.dialect, plan.account_id, up_to) > up_to:
            return None
        return forms.held_digests(raw, plan.dialect, plan.account_id)
    finally:
        raw.close()


def _first_batch(first: tuple[datetime, ReadChunk, RawChunk, int], plan: Plan) -> Batch:
    now, read, chunk, seen = first
    return now, work_out(read, plan, now), chunk, seen


# Look-ups in flight at once while a file is read in this process, each on a connection of its own:
# on PostgreSQL the probes of one are as long as this process's parsing of the next chunks, and
# two share them between the database's cores.
LOOKUPS_AHEAD = 2
# Chunks parsed at most ahead of the one worked out next, while its look-up is not done.
PARSED_AHEAD = 8


def _looked_up_ahead(
    chunks: Iterator[RawChunk], plan: Plan, known: Lookup, written: Callable[[], int]
) -> Iterator[Batch]:
    """Batches worked out in this process, in file order, each chunk's digests looked up in a thread
    of their own while this one parses the next chunks and works out the one before: the look-up is
    mostly waiting for the database (the driver lets go of the interpreter meanwhile), and most of
    a re-import's time. At most LOOKUPS_AHEAD look-ups at a time; while the oldest one is not done,
    the next chunks are parsed (PARSED_AHEAD at most)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=LOOKUPS_AHEAD, thread_name_prefix="assent-import-lookup") as lookups:
        ahead: list[tuple[datetime, Future[ReadChunk], RawChunk, int]] = []
        for chunk in chunks:
            read = parse_chunk(chunk, plan)
            now, seen = utcnow(), written()  # before the look-up starts, as _batches says
            ahead.append((now, lookups.submit(look_up, read, plan, known), chunk, seen))
            del read
            if len(ahead) > LOOKUPS_AHEAD and (ahead[0][1].done() or len(ahead) > PARSED_AHEAD):
                yield _worked_out(ahead.pop(0), plan)
        while ahead:
            yield _worked_out(ahead.pop(0), plan)


def _worked_out(ahead: tuple[datetime, Future[ReadChunk], RawChunk, int], plan: Plan) -> Batch:
    now, looking, chunk, seen = ahead
    return now, work_out(looking.result(), plan, now), chunk, seen


def _batches(
    source: ImportFile,
    plan: Plan,
    known: Lookup,
    written: Callable[[], int],
    first_known: Lookup | None = None,
    seen_by_known: Callable[[], int] | None = None,
) -> Iterator[Batch]:
    """Validated batches in file order, from worker processes when that pays.

    Without a number of workers given, the first chunk is read here first: if most of its rows are
    unchanged (a re-import), the rest most likely is too, and costs too little to be worth workers.
    Otherwise the workers start on the next chunks while this process works the first one out, so
    that their start-up (each imports its modules) overlaps it.

    Each batch carries `written()` as it was before its digests were looked up (when its chunk was
    handed out): the batches the writer had committed by then, which that look-up saw. The first
    chunk is looked up with `first_known` when given; a chunk this process looks up with `known`
    carries `seen_by_known()` instead, when given: what a look-up in a read made earlier saw."""
    options = plan.options
    workers = options.workers
    # The first batches are smaller (RAMP_FROM): the writer starts on the first one sooner, and the
    # workers' first results come back sooner, while the later, full-sized batches are worked out.
    chunks = source.chunks(options.batch_size, start=options.batch_size // RAMP_FROM)
    first: tuple[datetime, ReadChunk, RawChunk, int] | None = None
    if workers is None:
        cpus = os.cpu_count() or 1
        workers = 0
        if worker_count(cpus, source.size):
            chunk = next(chunks, None)
            if chunk is None:
                return
            seen = written()
            read = read_chunk(chunk, plan, first_known or known)
            first = (utcnow(), read, chunk, seen)
            mostly_unchanged = 2 * read.held_rows() > len(read.records)
            if not mostly_unchanged:
                workers = worker_count(cpus, source.size - chunk.end)
    if workers <= 0:
        if first is not None:
            yield _first_batch(first, plan)
            first = None  # this generator lives as long as the import: the chunk is not kept
        yield from _looked_up_ahead(chunks, plan, known, seen_by_known or written)
        return
    # Imported only when workers start: a small file or a re-import never pays for loading them.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=worker_start) as pool:
        in_flight: list[tuple[datetime, Future, RawChunk, int]] = []

        def submit(chunk: RawChunk) -> None:
            now, seen = utcnow(), written()
            in_flight.append((now, pool.submit(prepare_chunk_packed, chunk, plan, now), chunk, seen))

        if first is not None:
            for chunk in itertools.islice(chunks, workers):  # each submit starts a worker
                submit(chunk)
            yield _first_batch(first, plan)
            first = None
        for chunk in chunks:
            submit(chunk)
            if len(in_flight) > workers:  # bounded: the file is never all in memory
                now, fut, chunk, seen = in_flight.pop(0)
                yield now, fut.result(), chunk, seen
        for now, fut, chunk, seen in in_flight:
            yield now, fut.result(), chunk, seen


# --- writing (main process) ----------------------------------------------------------------


def _import_batch(
    conn: Connection,
    plan: Plan,
    now: datetime,
    prepared: list[Prepared | Rejected | Known],
    report: BatchReport,
    rejects: RejectsFile,
    stale: Set[str] = frozenset(),
    chunk: RawChunk | None = None,
) -> set[str]:
    """One batch, inside the caller's transaction; returns the ids of the profiles it looked up or
    created on the careful way (those it may have written).

    Its Known rows were found unchanged when the batch was read, in one snapshot (one statement),
    and are taken as unchanged without a second look-up: a write by anyone else since then can be
    ordered after the row, which changed nothing then. Only this import's own later rows must come
    after it; `stale` names the profiles of the batches written after that look-up, whose rows are
    looked up again here. A row rejected here is written to the rejects file with its cells as read
    from `chunk` (the batch's text, parsed again only then), so that it can be fixed and imported again."""
    if all(type(item) is Rejected or (type(item) is Known and item.profile_id not in stale) for item in prepared):
        # Nothing to write (a re-import's batches, mostly): every row unchanged when it was read, or
        # rejected as read. No lock taken, no statement run.
        report.unchanged += sum(type(item) is Known for item in prepared)
        for item in prepared:
            if type(item) is Rejected:
                report.rejected += 1
                rejects.write(item)  # in line order, as the batch is
        return set()
    # First: it takes the account's write lock. A file import sends no confirmation emails: rows
    # joining a double opt-in list stay pending, as they always have; its changes do go to webhooks.
    recorder = Recorder(conn, plan.account_id, hooks=WITHOUT_CONFIRMATIONS)
    good: list[Prepared] = []
    rejected: list[Rejected] = []  # written in line order once the batch is done, wherever each was caught
    known = [item for item in prepared if isinstance(item, Known)]
    again = [k.digest for k in known if k.profile_id in stale]
    unchanged = profile_store.unchanged_imports(conn, plan.account_id, again) if again else {}
    held: dict[str, list[Known]] = {}  # profile id -> its unchanged rows
    for item in prepared:
        if isinstance(item, Known):
            pid = unchanged.get(item.digest) if item.profile_id in stale else item.profile_id
            if pid is not None:
                held.setdefault(pid, []).append(item)
                continue
            item = _prepare_known(item, plan, chunk)  # the profile changed since: the row goes the careful way
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            good.append(item)
    # Rows that share no identifier with another row of the batch try their worked-out profile
    # first; the insert itself tells which ones match no stored profile.
    counts = Counter([r.email for r in good] + [r.phone_number for r in good] + [r.external_id for r in good])
    repeated = {v for v, n in counts.items() if n > 1 and v is not None}
    # A row naming an erased, opted-out person goes the careful way, which refuses it (privacy/tombstones.py).
    # The pairs are made only when the account has a tombstone at all (most have none).
    erased = Tombstones(conn, plan.account_id, ((f, v) for r in good for f in IDENTIFIERS if (v := getattr(r, f))))
    candidates = [r for r in good if r.as_new is not None]
    if repeated:
        candidates = [
            r
            for r in candidates
            if r.email not in repeated and r.phone_number not in repeated and r.external_id not in repeated
        ]
    if erased.erased:
        candidates = [
            r for r in candidates if erased.first_erased((f, v) for f in IDENTIFIERS if (v := getattr(r, f))) is None
        ]
    fresh = [r.as_new for r in candidates if r.as_new is not None]  # all of them: the filter is for the type checker
    # While no row of the import has met a stored profile, its new ones most likely all are.
    likely_all = not known and report.updated == 0 and report.unchanged == 0
    # The recorder appends the new profiles' events first, in this order, after the head it locked:
    # each row gets the seq of its profile's last event, as it will be if every one is inserted.
    seq, profile_rows = recorder.seq, []
    for n in fresh:
        seq += len(n.events)
        profile_rows.append(forms.with_import_seq(n.profile, seq))
    ids = [n.profile_id for n in fresh]
    inserted = bulk.insert_new_profiles(conn, profile_rows, plan.account_id, ids, likely_all=likely_all)
    del profile_rows
    # Otherwise the events of those not inserted never come, and those of the rest come sooner than
    # their rows say: their digests are recorded again below, with the head after the batch.
    all_inserted = len(inserted) == len(fresh)
    careful = [r for r in good if r.as_new is None or r.as_new.profile_id not in inserted]
    batch = ProfileBatch(conn, plan.account_id, careful)
    batch.new_rows = [n for n in fresh if n.profile_id in inserted]  # in the order their seqs were counted
    # An unchanged row of a profile that another row of the batch names is applied too, in its place.
    for pid in [pid for pid in held if pid in batch.by["id"]]:
        for k in held.pop(pid):
            item = _prepare_known(k, plan, chunk)
            if isinstance(item, Rejected):
                rejected.append(item)
            else:
                good.append(item)
    good.sort(key=lambda r: r.line)
    report.unchanged += sum(len(rows) for rows in held.values())

    def consent(state: ProfileState, row: Prepared) -> RowConsent:
        return consent_events(state, row, plan, now)

    digests: dict[str, str] = {}  # profile id -> the digest of the last row it took (careful way)
    late: list[Rejected] = []  # rows rejected here, whose `raw` is the validated row until replaced below
    for row in good:
        if row.as_new is not None and row.as_new.profile_id in inserted:
            report.created += 1
            report.subscribed += row.as_new.subscribed
            report.pending += row.as_new.pending
            if not all_inserted and row.digest is not None:
                digests[row.as_new.profile_id] = row.digest
            continue
        kept_before = report.kept_opt_outs
        try:
            pid = batch.apply(row, consent, now, plan.proof, report)
        except DomainError as e:
            late.append(Rejected(row.line, e.field, str(e), row.raw()))
            continue
        # A row whose subscription an opt-out kept from applying leaves no digest: each import of it
        # works it out again and counts the opt-out it keeps, however often the file is imported.
        if row.digest is not None and report.kept_opt_outs == kept_before:
            digests[pid] = row.digest
        else:
            digests.pop(pid, None)
    report.events += batch.write(recorder, now)
    profile_store.set_import_digests(conn, plan.account_id, digests, recorder.seq)
    if late and chunk is not None:
        lines = {r.line for r in late}
        as_read = {line: record for line, record in records(chunk) if line in lines}
        for r in late:
            r.raw = as_read.get(r.line, r.raw)
    rejected += late
    report.rejected += len(rejected)
    for item in sorted(rejected, key=lambda r: r.line):
        rejects.write(item)
    return set(batch.by["id"])


def _prepare_known(k: Known, plan: Plan, chunk: RawChunk | None) -> Prepared | Rejected:
    header, delimiter = (chunk.header, chunk.delimiter) if chunk is not None else ([], ",")
    item = prepare_row(k.line, row_record(header, delimiter, k.record), plan.default_region)
    if isinstance(item, Prepared):
        item.digest = k.digest
    return item


class _Writer:
    """Writes batches in a thread of its own, one transaction each, in order, while the caller works
    out the next batch: the driver's time (it lets go of the interpreter while the database works)
    overlaps the next batch's Python. One batch waits at most; a failed write stops the import.

    A batch a worker packed is unpacked by the caller (put), and a written batch's objects are freed
    there too, not in the writer's thread: that thread is the import's critical path, and this work
    (a tenth of it) overlaps the database's instead."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        report: ImportReport,
        rejects: RejectsFile,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.engine, self.plan, self.report, self.rejects, self.progress = engine, plan, report, rejects, progress
        self.queue: queue.Queue[Unpacked | None] = queue.Queue(maxsize=1)
        self.room = threading.Semaphore(1)  # released as the writer takes a batch from the queue
        self.done: list[list[Prepared | Rejected | Known]] = []  # written batches' rows, freed by put
        self.failure: BaseException | None = None
        self.written = 0  # batches committed (read from the reading thread: see _batches)
        self.touched: dict[int, set[str]] = {}  # batch number -> the profiles it may have written
        self.thread = threading.Thread(target=self._run, name="assent-import-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self.thread.start()
        return self

    def put(self, batch: Batch) -> None:
        # Unpacked only once the queue has room (the writer took the batch before): two batches
        # are held as objects at most, the one being written and this one.
        while not self.room.acquire(timeout=0.1):
            if self.failure is not None:
                raise self.failure
        self.done.clear()
        now, packed, chunk, seen = batch
        unpacked = (now, decode_results(packed) if isinstance(packed, bytes) else packed, chunk, seen)
        del batch, packed
        while self.failure is None:
            with suppress(queue.Full):
                self.queue.put(unpacked, timeout=0.1)
                return
        raise self.failure

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self.failure is None:
            self.queue.put(None)  # the end: after the batches before it are written
        self.thread.join()
        if self.failure is not None and error is None:
            raise self.failure

    def _run(self) -> None:
        try:
            with bulk_connection(self.engine) as conn:
                while (batch := self.queue.get()) is not None:
                    self.room.release()
                    now, prepared, chunk, seen = batch
                    del batch
                    # Batches are read in order, so no later one saw fewer batches written than this one.
                    for number in [n for n in self.touched if n < seen]:
                        del self.touched[number]
                    stale = set().union(*self.touched.values())
                    with conn.begin():
                        touched = _import_batch(conn, self.plan, now, prepared, self.report, self.rejects, stale, chunk)
                    self.touched[self.written] = touched
                    self.written += 1
                    self.report.rows += len(prepared)
                    if self.progress:
                        self.progress(len(prepared), chunk.end)
                    self.done.append(prepared)
                    del prepared, chunk  # not held here while the next batch is awaited
        except BaseException as e:  # noqa: BLE001 — handed to the importing thread, which raises it
            self.failure = e


ANALYZE_AFTER = 10_000  # profiles created or changed: past this, an import refreshes the planner's statistics


@dataclass
class ImportReport(BatchReport):
    """The counts, how the file was read, and the first rejected rows (to show on screen)."""

    file: dict[str, Any] = field(default_factory=dict)  # ImportFile.describe()
    first_rejected: list[Rejected] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(BatchReport)}


def _require_identifier_column(source: ImportFile) -> None:
    if source.columns is None or source.columns.has_identifier():
        return
    seen = ", ".join(repr(excerpt(c.header)) for c in source.columns.columns)
    raise DomainError(
        "file",
        f"no column is an email, phone_number or external_id, so no row could be matched to a profile; "
        f"the header has {seen}; accepted names (any case, spaces or _): {accepted_identifier_headers()}",
    )


def import_profiles(
    engine: Engine,
    path: str | Path,
    options: ImportOptions,
    progress: Callable[[int, int], None] | None = None,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> ImportReport:
    """Import a file; returns the counts.

    `on_file` is told how the file is read (encoding, delimiter, each column's field) before any row
    is written; a CSV file without an identifier column is refused then. `progress` is called after
    each batch with its number of rows and the bytes of the file read so far."""
    path = Path(path)
    if path.is_dir():
        raise DomainError("file", "is a directory: name a CSV or NDJSON file in it", str(path))
    if not path.is_file():
        raise DomainError("file", "no such file", str(path))
    fmt = detect_format(path, options.format)
    if options.encoding:
        codec_name(options.encoding)  # an unknown name is refused before anything is read
    with ImportFile(path, fmt, options.encoding) as source:
        _require_identifier_column(source)
        with read_transaction(engine) as conn:
            account = load_account(conn, options.account_id)
            list_id = options.list_id
            opt_in = load_list(conn, account.id, list_id).opt_in_process if list_id else OptInProcess.SINGLE
            look_up = profile_store.holds_import_digests(conn, account.id)
        plan = Plan(
            options=options,
            dialect=engine.dialect.name,
            default_region=account.default_region,
            opt_in=opt_in,
            proof=Proof(source=options.method_detail or path.name, actor="import"),
            database=driver_target(engine),
            digest_seed=digest_seed(source, options, account.default_region, opt_in),
            look_up=look_up,
        )
        report = ImportReport(file=source.describe())
        if on_file:
            on_file(report.file)
        rejects = RejectsFile(options.rejects_path, fmt)
        # A batch holds tens of thousands of small objects alive; the cyclic collector would walk them
        # over and over for nothing (nothing here makes cycles), costing a quarter of the import.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with _Writer(engine, plan, report, rejects, progress) as writer:
                for batch in _prepared_batches(engine, source, plan, lambda: writer.written):
                    writer.put(batch)
                    del batch  # not held while the next one is worked out
        finally:
            rejects.close()
            if gc_was_enabled:
                gc.enable()
        report.first_rejected = rejects.first
    if report.created + report.updated >= ANALYZE_AFTER:
        with bulk_connection(engine) as conn, conn.begin():
            bulk.analyze_after_load(conn)
    return report
