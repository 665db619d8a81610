"""Reading import files and validating their rows: pure work that runs in worker processes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from ..domain import Channel, DomainError
from ..domain.identity import normalize_email, normalize_phone
from ..store.ledger import EncodedEvent
from ..store.tables import PROFILE_FIELDS
from .clock import parse_time

IDENTIFIERS = ("email", "phone_number", "external_id")
ATTRIBUTE_FIELDS = tuple(f for f in PROFILE_FIELDS if f not in IDENTIFIERS)
CONSENT_COLUMNS = {"email_consent": Channel.EMAIL, "sms_consent": Channel.SMS}
RESERVED = {"email_consent", "sms_consent", "consented_at", "properties", "id"}

_YES = {"subscribed", "true", "yes", "y", "1", "t"}
# "false" is a box left unticked: that is no consent, not an opt-out (only explicit opt-in counts).
_NO_OPT_IN = {"never_subscribed", "false", "no", "n", "0", "f"}
_OPT_OUT = {"unsubscribed"}

Record = tuple[int, dict[str, Any]]  # (line number, the row as read)


class NewProfile(msgspec.Struct, array_like=True):
    """Everything a row writes when it creates a profile, worked out in a worker (imports.plan_new)."""

    profile_id: str
    profile: Any  # the profiles row in imports.PROFILE_COLUMNS order, as bulk.ready_rows makes it
    events: list[EncodedEvent]
    projection: dict[str, list[Any]]  # projection rows by table name, likewise
    subscribed: bool
    pending: bool


class Prepared(msgspec.Struct, array_like=True, tag="p"):
    """A valid row: identifiers normalised, consent columns read."""

    line: int
    email: str | None
    phone_number: str | None
    external_id: str | None
    attributes: dict[str, str]
    properties: dict[str, Any]
    consent: dict[Channel, str]  # "in", "out" or "none", per channel whose consent column has a value
    consented_at: datetime | None
    as_new: NewProfile | None = None
    id: str | None = None  # a stored profile's id, when the row names one (API jobs do)

    def raw(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "phone_number": self.phone_number,
            "external_id": self.external_id,
            **self.attributes,
        }


class Rejected(msgspec.Struct, array_like=True, tag="r"):
    line: int
    field: str
    reason: str
    raw: Any


# Workers send their results as MessagePack: several times cheaper than pickling objects.
encode_results = msgspec.msgpack.Encoder().encode
decode_results = msgspec.msgpack.Decoder(list[Prepared | Rejected]).decode


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
            elif value in _NO_OPT_IN:
                consent[channel] = "none"  # stated, so the row's word overrides --subscribe
            elif value:
                raise DomainError(column, "must be SUBSCRIBED, UNSUBSCRIBED, NEVER_SUBSCRIBED, true or false", value)
        consented = _text(record.get("consented_at"))
        consented_at = parse_time(consented, "consented_at") if consented else None
        attributes = {k: v for k in ATTRIBUTE_FIELDS if (v := _text(record.get(k))) is not None}
        for k, v in (("external_id", external_id), *attributes.items()):
            if v is not None and "\x00" in v:  # no database keeps a NUL in a text column
                raise DomainError(k, "contains a NUL character", v)
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


def detect_format(path: Path, fmt: str | None) -> str:
    fmt = (fmt or ("ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else "csv")).lower()
    if fmt not in ("csv", "ndjson"):
        raise DomainError("format", "must be csv or ndjson", fmt)
    return fmt


class RawChunk(msgspec.Struct, array_like=True):
    """A run of whole records as text, cut from the file by the main process and parsed by a worker."""

    fmt: str
    header: list[str]
    first_line: int  # the file's line number of the chunk's first line
    text: str


def _csv_header(f: IO[str], path: Path) -> tuple[list[str], int]:
    lines = [f.readline()]
    while lines[-1] and sum(line.count('"') for line in lines) % 2:  # a header cell spanning lines
        lines.append(f.readline())
    header = next(csv.reader(lines), None)
    if not header or not any(h.strip() for h in header):
        raise DomainError("file", "the CSV file has no header row", str(path))
    return [h.strip() for h in header], len(lines)


def raw_chunks(path: Path, fmt: str, size: int) -> Iterator[RawChunk]:
    """The file in chunks of about `size` records, cut only between records.

    Cutting needs no parsing: in CSV a line ends a record when the quotes seen so far are balanced
    (quotes inside fields are doubled), and NDJSON has one record per line. Workers do the parsing."""
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    with path.open(newline="", encoding=encoding, errors="replace") as f:
        header, line_no = _csv_header(f, path) if fmt == "csv" else ([], 0)
        lines: list[str] = []
        first, records, quotes = line_no + 1, 0, 0
        for line in f:
            line_no += 1
            lines.append(line)
            if fmt == "csv":
                quotes += line.count('"')
                if quotes % 2:
                    continue  # inside a quoted field that goes on on the next line
            records += 1
            if records >= size:
                yield RawChunk(fmt, header, first, "".join(lines))
                lines, first, records, quotes = [], line_no + 1, 0, 0
        if lines:
            yield RawChunk(fmt, header, first, "".join(lines))


def records(chunk: RawChunk) -> Iterator[Record]:
    """The chunk's rows with their line numbers; a line that is not a JSON object becomes an error row."""
    if chunk.fmt == "csv":
        reader = csv.reader(io.StringIO(chunk.text, newline=""))
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a cell over the size limit: that row is rejected, the rest goes on
                yield chunk.first_line + reader.line_num - 1, {"__error__": f"unreadable CSV: {e}"}
                continue
            if any(row):
                yield chunk.first_line + reader.line_num - 1, dict(zip(chunk.header, row, strict=False))
    decoder = msgspec.json.Decoder()
    for n, raw in enumerate(chunk.text.split("\n"), start=chunk.first_line):
        if not raw.strip():
            continue
        try:
            record = decoder.decode(raw)
        except msgspec.DecodeError as e:
            record = {"__error__": f"not valid JSON: {e}", "__raw__": raw.strip()}
        if not isinstance(record, dict):
            record = {"__error__": "not a JSON object", "__raw__": record}
        yield n, record


class RejectsFile:
    """Rejected rows with their line and reason, in the input's format; created on the first one."""

    def __init__(self, path: str | None, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.file: IO[str] | None = None
        self.writer: Any = None

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
            entry = {"line": r.line, "field": r.field, "reason": r.reason, "row": raw}
            self.file.write(msgspec.json.encode(entry).decode() + "\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
