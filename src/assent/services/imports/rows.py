"""Reading import files and validating their rows; parsing and validation run in worker processes."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import itertools
import re
from collections.abc import Generator, Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec

from ...domain import Channel, DomainError
from ...domain.errors import excerpt
from ...domain.identity import check_external_id, normalize_email, normalize_phone
from ...domain.profile import COORDINATE_BOUNDS, PROFILE_FIELDS, check_coordinate, check_lengths
from ...store.forms import EncodedEvent
from ..shared.clock import parse_time
from ..shared.nesting import MAX_DEPTH, deepest_key, too_deep
from .encoding import UNDECODABLE, bad_bytes, detect_encoding, shown, undecodable
from .headers import IDENTIFIERS, ColumnMap, map_header

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
    profile: Any  # the profiles row in store.bulk.PROFILE_ROW order, as bulk.ready_rows makes it
    events: list[EncodedEvent]
    projection: dict[str, list[Any]]  # projection rows by table name, likewise (only tables it has rows in)
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
    digest: str | None = None  # the row's import digest (row_digest), when the import keeps them

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


class Known(msgspec.Struct, array_like=True, tag="k"):
    """A row whose digest a stored profile held, with no ledger event since, when the row was read:
    it changes nothing, so it was neither validated nor worked out. The writing process takes it as
    unchanged unless the import itself wrote that profile after the look-up (then it checks again)."""

    line: int
    digest: str
    record: dict[str, Any] | list[str] | str  # a CSV row as read (row_record makes its record, if it is needed)
    profile_id: str  # the profile that holds the digest


# Workers send their results as MessagePack: several times cheaper than pickling objects.
encode_results = msgspec.msgpack.Encoder().encode
decode_results = msgspec.msgpack.Decoder(list[Prepared | Rejected | Known]).decode
_encode_record = msgspec.json.Encoder().encode


def row_digest(seed: bytes, delimiter: str, row: dict[str, Any] | list[str] | str) -> str:
    """A row's import digest: of digested_text(row), under `seed` (what else decides what the row does:
    the file's format, columns and delimiter, the options, the account's region; importer.digest_seed)."""
    hasher = _seeded(seed).copy()  # the seed fed once per import, not once per row
    hasher.update(digested_text(delimiter, row))
    return hasher.hexdigest()


def digested_text(delimiter: str, row: dict[str, Any] | list[str] | str) -> bytes:
    """What a row's digest is of: the same for the same cells, whether the row was read as its line
    (csv_rows) or by the csv module, so that a re-import finds a row unchanged whichever chunk it
    falls in. Plain cells (none holds the delimiter, a quote, a line end or a NUL, as no line read
    by csv_rows does) are their line; any other cells, their JSON array, which holds a quote that no
    plain line does; an NDJSON record, its JSON. So no two rows of different cells share it."""
    if isinstance(row, str):
        return row.encode("utf-8", "surrogatepass")
    if isinstance(row, list):
        line = delimiter.join(row)
        if line.count(delimiter) == len(row) - 1 and not _NOT_PLAIN.search(line):
            return line.encode("utf-8", "surrogatepass")
    return _encode_record(row)


_NOT_PLAIN = re.compile('["\r\n\x00]')


@functools.lru_cache(maxsize=8)
def _seeded(seed: bytes) -> Any:
    return hashlib.blake2b(seed, digest_size=16)


def text_or_none(value: Any) -> str | None:
    """A field's value as trimmed text; absent or blank is None. Shared by every way profiles come in."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


class _Layout(NamedTuple):
    """Which keys of a record are profile attributes (in ATTRIBUTE_FIELDS order) and which are
    properties (in the record's order): the same for every row of a CSV file, so worked out once."""

    attributes: tuple[str, ...]
    properties: tuple[str, ...]
    coordinates: tuple[str, ...]  # latitude and longitude, those the record has: checked as numbers


_NOT_PROPERTIES = frozenset(PROFILE_FIELDS) | RESERVED
_layouts: dict[tuple[Any, ...], _Layout] = {}


def _layout(record: dict[str, Any]) -> _Layout:
    keys = tuple(record)
    found = _layouts.get(keys)
    if found is None:
        if len(_layouts) >= 1024:  # NDJSON lines may each have keys of their own
            _layouts.clear()
        found = _layouts[keys] = _Layout(
            tuple(k for k in ATTRIBUTE_FIELDS if k in record),
            tuple(k for k in keys if k is not None and k not in _NOT_PROPERTIES),
            tuple(k for k in COORDINATE_BOUNDS if k in record),
        )
    return found


def prepare_row(line: int, record: dict[str, Any], default_region: str) -> Prepared | Rejected:
    if "__error__" in record:
        return Rejected(line, record.get("__field__", "row"), record["__error__"], record.get("__raw__"))
    try:
        email = text_or_none(record.get("email"))
        phone = text_or_none(record.get("phone_number"))
        external_id = text_or_none(record.get("external_id"))
        if email is None and phone is None and external_id is None:
            raise DomainError("email", "a row needs an email, a phone_number or an external_id")
        email = normalize_email(email) if email else None
        phone = normalize_phone(phone, default_region) if phone else None
        external_id = check_external_id(external_id) if external_id else None
        consent: dict[Channel, str] = {}
        for column, channel in CONSENT_COLUMNS.items():
            # Exports spell it "NEVER_SUBSCRIBED" or "Never Subscribed".
            value = (text_or_none(record.get(column)) or "").lower().replace(" ", "_")
            if value in _YES:
                consent[channel] = "in"
            elif value in _OPT_OUT:
                consent[channel] = "out"
            elif value in _NO_OPT_IN:
                consent[channel] = "none"  # stated, so the row's word overrides --subscribe
            elif value:
                raise DomainError(column, "must be SUBSCRIBED, UNSUBSCRIBED, NEVER_SUBSCRIBED, true or false", value)
        consented = text_or_none(record.get("consented_at"))
        consented_at = parse_time(consented, "consented_at") if consented else None
        layout = _layout(record)
        attributes = {k: v for k in layout.attributes if (v := text_or_none(record[k])) is not None}
        for k, v in (("external_id", external_id), *attributes.items()):
            if v is not None and "\x00" in v:  # no database keeps a NUL in a text column
                raise DomainError(k, "contains a NUL character", v)
        check_lengths(attributes)  # a longer cell rejects its row, naming the column
        for k in layout.coordinates:
            if (v := attributes.get(k)) is not None:
                check_coordinate(k, v)
        properties: dict[str, Any] = {}
        nested = record.get("properties")
        if isinstance(nested, dict):
            properties.update(nested)
        for k in layout.properties:
            if (v := record[k]) is not None and v != "":
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
    header: list[str | None]  # CSV: the key each column's cell gets in the record (None: not read)
    first_line: int  # the file's line number of the chunk's first line
    text: str
    delimiter: str = ","
    encoding: str = "utf-8"  # the file's, to say so of bytes that don't decode
    marked: bool = False  # the text holds bytes that didn't decode (see imports.encoding)
    end: int = 0  # bytes of the file read when the chunk was cut, for progress


DELIMITERS = ",;\t|"
# The header of a CSV rejects file (RejectsFile): importing one reads each row's `row` cell, the
# rejected row as read (a JSON object keyed as an NDJSON line is), so it can be fixed and imported again.
REJECTS_HEADER = ["line", "field", "reason", "row"]
_EXCEL_SEP = re.compile(r"sep=(.)\r?\n?", re.IGNORECASE)  # Excel's "sep=;" first line


def csv_reader(text: str, delimiter: str) -> Any:  # a csv reader; typeshed names its type privately
    """csv.reader over `text`, its cell size limit (131,072 characters by default) raised to the
    text's length: no cell can then be too large to read, so an oversized cell reaches the checks
    that name its column (check_lengths), and its row's cells are kept with the rejection."""
    if len(text) > csv.field_size_limit():
        csv.field_size_limit(len(text))
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def sniff_delimiter(header: str) -> str:
    """The delimiter that splits the header line into the most columns (a comma when none does)."""
    counts = [(len(next(csv_reader(header, d), [])), d) for d in DELIMITERS]
    best = max(n for n, _ in counts)
    return next(d for n, d in counts if n == best) if best > 1 else ","


def _split_cr(f: IO[bytes]) -> Iterator[bytes]:
    """Lines of a file whose lines end in a bare CR (old Mac spreadsheets)."""
    rest = b""
    for block in iter(lambda: f.read(1 << 16), b""):
        *lines, rest = (rest + block).split(b"\r")
        yield from (line + b"\r" for line in lines)
    if rest:
        yield rest


# Lines a chunk takes in at most to close a quoted cell that goes on past its end.
QUOTED_LINES_AT_MOST = 1_000


class ImportFile:
    """An import file open for reading: its encoding and, for CSV, its delimiter and column map,
    read from its first lines; then its records in chunks, never the whole file in memory."""

    def __init__(self, path: Path, fmt: str, encoding: str | None = None) -> None:
        self.path, self.fmt = path, fmt
        self.size = path.stat().st_size
        self.delimiter = ","
        self.columns: ColumnMap | None = None
        self.of_rejects = False  # a CSV rejects file: its rows are read from their `row` cells
        self.line_no = 0
        self._file = path.open("rb")
        try:
            head = self._file.read(1 << 16)
            self.encoding = detect_encoding(head, encoding)
            self._file.seek(self.encoding.bom)
            self._lines: Iterator[Any]
            if self.encoding.ascii_compatible:  # split and count quotes on bytes; decode a chunk at a time
                self._quote: Any = b'"'
                self._lines = _split_cr(self._file) if b"\r" in head and b"\n" not in head else iter(self._file)
            else:  # UTF-16 and the like: decode as the file is read
                self._quote = '"'
                self._lines = io.TextIOWrapper(self._file, self.encoding.codec, UNDECODABLE, newline="")
            if fmt == "csv":
                self._read_header()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> ImportFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def describe(self) -> dict[str, Any]:
        """How the file is read, for the user: encoding, and for CSV the delimiter and each column's field."""
        out: dict[str, Any] = {"file": self.path.name, "format": self.fmt, "encoding": self.encoding.label}
        if self.of_rejects:
            out["delimiter"] = self.delimiter
            out["rejects"] = True  # the rows are the `row` cells of an earlier import's rejects
        if self.columns is not None:
            out["delimiter"] = self.delimiter
            out["columns"] = [c.as_dict() for c in self.columns.columns]
        return out

    def lines(self, up_to: int) -> int:
        """How many line ends the file has, counted no further than about `up_to`: read apart from
        its records, a megabyte at a time."""
        seen = 0
        with self.path.open("rb") as f:
            while seen < up_to and (block := f.read(1 << 20)):
                seen += max(block.count(b"\n"), block.count(b"\r"))
        return seen

    def _header_line(self) -> str:
        """The next line, which holds the header (or Excel's `sep=` line) whole: a quote it opens and
        does not close would take the rest of the file into one column name."""
        line = next(self._lines, None)
        if line is None:
            return ""
        self.line_no += 1
        text, _ = self._decode([line])
        if line.count(self._quote) % 2:
            raise DomainError(
                "file",
                f"the header (line {self.line_no}) opens a quote it does not close on that line",
                excerpt(shown(text.strip())),
            )
        return text

    def _read_header(self) -> None:
        text = self._header_line()
        if sep := _EXCEL_SEP.fullmatch(text):
            self.delimiter = sep.group(1)
            text = self._header_line()
        else:
            self.delimiter = sniff_delimiter(text)
        if undecodable(text):
            raise DomainError(
                "file",
                f"the header (line {self.line_no}) is not {self.encoding.tried} text (bytes {bad_bytes(text)}); "
                "give the file's encoding with --encoding",
                excerpt(shown(text.strip())),
            )
        header = next(csv_reader(text, self.delimiter), None)
        if not header or not any(h.strip() for h in header):
            raise DomainError("file", "the CSV file has no header row", str(self.path))
        if [h.strip().lower() for h in header] == REJECTS_HEADER:
            self.of_rejects = True
            return
        self.columns = map_header(header)

    def _decode(self, lines: list[Any]) -> tuple[str, bool]:
        """The lines as text, and whether some bytes in it did not decode."""
        if not self.encoding.ascii_compatible:
            text = "".join(lines)
            return text, undecodable(text)
        data = b"".join(lines)
        try:
            return data.decode(self.encoding.codec), False  # the common case: one call for the chunk
        except UnicodeDecodeError:
            text = "".join(map(self._decode_line, lines))
            return text, undecodable(text)

    def _decode_line(self, line: bytes) -> str:
        codec, fallback = self.encoding.codec, self.encoding.fallback
        try:
            return line.decode(codec)
        except UnicodeDecodeError:
            if fallback:
                with suppress(UnicodeDecodeError):
                    return line.decode(fallback)
            return line.decode(codec, UNDECODABLE)

    def chunks(self, size: int, start: int | None = None) -> Iterator[RawChunk]:
        """The rest of the file in chunks of about `size` records (lines: a record whose quoted cell
        spans lines counts as each), cut only between records; with `start`, the first chunk has
        about that many and each next one twice as many, up to `size`.

        Cutting needs no parsing: in CSV a line ends a record when the quotes seen so far are balanced
        (quotes inside fields are doubled), and NDJSON has one record per line. Workers do the parsing."""
        is_csv, quote = self.fmt == "csv", self._quote  # a rejects file is CSV too
        header = self.columns.keys if self.columns is not None else []
        wanted = min(size, max(1, start)) if start is not None else size
        while lines := list(itertools.islice(self._lines, wanted)):  # taken whole: no loop here per line
            first = self.line_no + 1
            self.line_no += len(lines)
            if is_csv:
                quotes = quote[:0].join(lines).count(quote)
                extra = 0
                # The last record's quoted cell goes on on the next lines; past QUOTED_LINES_AT_MOST,
                # the quote is a stray one (_csv_module_cells), and the chunk is cut anyway.
                while quotes % 2 and extra < QUOTED_LINES_AT_MOST:
                    extra += 1
                    line = next(self._lines, None)
                    if line is None:
                        break
                    self.line_no += 1
                    lines.append(line)
                    quotes += line.count(quote)
            yield self._chunk(header, first, lines)
            wanted = min(size, 2 * wanted)

    def _chunk(self, header: list[str | None], first: int, lines: list[Any]) -> RawChunk:
        text, marked = self._decode(lines)
        fmt = "rejects" if self.of_rejects else self.fmt
        return RawChunk(fmt, header, first, text, self.delimiter, self.encoding.tried, marked, self._file.tell())


def _undecodable_error(key: str, text: str, encoding: str) -> str:
    return (
        f'{key}: bytes {bad_bytes(text)} are not {encoding} text (in "{excerpt(shown(text).strip())}"); '
        "give the file's encoding with --encoding"
    )


def _undecodable_row(chunk: RawChunk, row: list[str]) -> dict[str, Any] | None:
    for key, cell in zip(chunk.header, row, strict=False):
        if key is not None and undecodable(cell):
            raw = {k: shown(c) for k, c in zip(chunk.header, row, strict=False) if k is not None}
            return {"__error__": _undecodable_error(key, cell, chunk.encoding), "__field__": key, "__raw__": raw}
    return None


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _too_many_cells(delimiter: str, width: int, row: list[str]) -> dict[str, Any]:
    """A CSV row with more (non-empty) cells than the header has columns: an unquoted delimiter
    inside a cell shifts every cell after it, so no cell of it can be trusted."""
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    error = (
        f"{len(row)} cells, the header has {width}: a {name} inside a cell must be quoted, "
        "else it shifts the cells after it"
    )
    return {"__error__": error, "__raw__": {"cells": row}}


def _too_deep_line(raw: str) -> dict[str, Any]:
    """An NDJSON line nesting deeper than the API takes, refused before a parser recurses into it;
    the reason names the key whose value nests so (`properties`, or a key that would be a property)."""
    key = deepest_key(raw)
    field = "row" if key is None else excerpt(key)
    error = f"{field}: nests objects and arrays more than {MAX_DEPTH} deep (the API refuses deeper)"
    return {"__error__": error, "__field__": field, "__raw__": raw.strip()}


def _rejected_rows(chunk: RawChunk) -> Iterator[Record]:
    """The rows of a CSV rejects file, each the JSON object in its `row` cell; a row kept in another
    shape (cells that did not fit the header, a line that could not be read) says to fix the original."""
    reader = csv_reader(chunk.text, chunk.delimiter)
    for row in reader:
        if not any(row):
            continue
        line = chunk.first_line + reader.line_num - 1
        cell = row[3] if len(row) > 3 else ""
        try:
            record = msgspec.json.decode(cell)
        except msgspec.DecodeError as e:
            yield line, {"__error__": f"row: not a JSON object ({e})", "__raw__": cell}
            continue
        if not isinstance(record, dict) or set(record) in ({"cells"}, {"value"}):
            error = "row: the row could not be read as columns; fix it in the original file and import that"
            yield line, {"__error__": error, "__raw__": record}
            continue
        yield line, record


# A CSV row as read, with its line number: its line, not split yet (csv_rows), its cells, or (a row
# that can't be read) its error record.
Cells = tuple[int, str | list[str] | dict[str, Any]]


def csv_rows(chunk: RawChunk) -> Iterator[Cells]:
    """The rows of a CSV chunk with their line numbers. Rows without a non-empty cell are skipped.

    A chunk without quotes, NUL characters or a CR that does not end a line (nearly every file) has
    one row per line, whose cells are the line split at the delimiter (row_cells): what the csv
    module reads there, at a third of its cost. Its rows are their lines, split only when they are
    worked out: a re-import's rows, found unchanged, never are. Other chunks' rows are their cells as
    the csv module reads them, or the error record of a row that can't be read."""
    text = chunk.text
    if chunk.marked or '"' in text or "\x00" in text or text.count("\r") != text.count("\r\n"):
        yield from _csv_module_cells(chunk)
        return
    delimiter = chunk.delimiter
    for n, line in enumerate(text.split("\n"), start=chunk.first_line):
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip(delimiter):  # some cell is not empty
            yield n, line


def row_cells(delimiter: str, width: int, row: str | list[str] | dict[str, Any]) -> list[str] | dict[str, Any]:
    """A row of csv_rows as its cells, or as the error record of a line with more (non-empty) cells
    than the header's `width`."""
    if not isinstance(row, str):
        return row
    cells = row.split(delimiter)
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        return _too_many_cells(delimiter, width, cells)
    return cells


def csv_cells(chunk: RawChunk) -> Iterator[tuple[int, list[str] | dict[str, Any]]]:
    """The rows of a CSV chunk as their cells (csv_rows, each split)."""
    delimiter, width = chunk.delimiter, len(chunk.header)
    for n, row in csv_rows(chunk):
        yield n, row_cells(delimiter, width, row)


def row_record(header: Sequence[str | None], delimiter: str, row: str | list[str] | dict[str, Any]) -> dict[str, Any]:
    """A row as read (csv_rows, or an NDJSON record) as its record."""
    if isinstance(row, dict):
        return row
    cells = row_cells(delimiter, len(header), row)
    return cells if isinstance(cells, dict) else as_record(header, cells)


def _csv_module_cells(chunk: RawChunk) -> Iterator[Cells]:
    """The rows of a chunk as the csv module reads them. A record over several lines must close its
    quoted cell as CSV says (its closing quote followed by the delimiter or the line's end): one
    that does not is a stray quote, which would swallow the lines after it, losing their rows or
    putting them in another row's cell. Its first line is rejected, and the lines after it are read
    as rows of their own."""
    lines = io.StringIO(chunk.text, newline="").readlines()
    start = 0  # the line the reader starts at (an index into lines)
    while start < len(lines):
        start = yield from _read_cells(chunk, lines, start)


def _read_cells(chunk: RawChunk, lines: list[str], start: int) -> Generator[Cells, None, int]:
    """_csv_module_cells from lines[start]; returns where to read again after a stray quote (or
    the end)."""
    reader = csv_reader("".join(lines[start:]), chunk.delimiter)
    width = len(chunk.header)
    read = 0  # lines the reader has read
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return len(lines)
        except csv.Error as e:  # no cell is over the size limit (csv_reader); anything else rejects the row
            yield chunk.first_line + start + reader.line_num - 1, {"__error__": f"unreadable CSV: {e}"}
            read = reader.line_num
            continue
        first, read = start + read, reader.line_num  # the record's first line, and lines read after it
        record = lines[first : start + read]
        # Read leniently, a record ends inside a quoted cell only at the end of the chunk: an odd count
        # of quotes. So every record with a quote is checked strictly: over several lines, its quote
        # may close and open again; on one line, `"a@example.com"m` would be the cell a@example.comm.
        quotes = sum(line.count('"') for line in record)
        if quotes and not _closes_its_quotes(record, chunk.delimiter):
            at, raw = chunk.first_line + first, shown(lines[first].rstrip("\r\n"))
            if quotes % 2 == 0 and len(record) == 1:
                error = (
                    "a quoted cell here has text after its closing quote (a closing quote comes right before the"
                    ' delimiter or the line\'s end; a quote inside a quoted cell is written twice: "")'
                )
                yield at, {"__error__": error, "__raw__": raw}
                continue
            error = (
                "a quote opens a cell here and is never closed (a closing quote comes before the delimiter or the"
                " line's end)"
            )
            if len(record) > 1:
                end = chunk.first_line + start + read - 1
                error += f"; read as it stands, the cell would run on to line {end}: the lines after this one are"
                error += " read as rows of their own"
            yield at, {"__error__": error, "__raw__": raw}
            return first + 1
        if any(row):
            line = chunk.first_line + start + read - 1
            if chunk.marked and (bad := _undecodable_row(chunk, row)) is not None:
                yield line, bad
                continue
            if len(row) > width and any(c.strip() for c in row[width:]):
                yield line, _too_many_cells(chunk.delimiter, width, row)
                continue
            yield line, row


def _closes_its_quotes(record: list[str], delimiter: str) -> bool:
    """Whether the lines of one record read as one record in the csv module's strict mode."""
    try:
        return len(list(csv.reader(io.StringIO("".join(record), newline=""), delimiter=delimiter, strict=True))) == 1
    except csv.Error:
        return False


def as_record(header: Sequence[str | None], row: list[str]) -> dict[str, Any]:
    """A CSV row's cells as its record: keyed by the header's names, without the ignored columns."""
    record: dict[Any, str] = dict(zip(header, row, strict=False))
    if None in record:
        del record[None]
    return record


def records(chunk: RawChunk) -> Iterator[Record]:
    """The chunk's rows with their line numbers; a line that can't be read becomes an error row."""
    if chunk.fmt == "rejects":
        yield from _rejected_rows(chunk)
        return
    if chunk.fmt == "csv":
        header = chunk.header
        for line, row in csv_cells(chunk):
            yield line, row if isinstance(row, dict) else as_record(header, row)
        return
    decoder = msgspec.json.Decoder()
    for n, raw in enumerate(chunk.text.split("\n"), start=chunk.first_line):
        if not raw.strip():
            continue
        if chunk.marked and undecodable(raw):
            yield n, {"__error__": _undecodable_error("row", raw, chunk.encoding), "__raw__": shown(raw.strip())}
            continue
        # Bounded before msgspec recurses into it, as the API bounds a body (one count when shallow).
        if raw.count("{") + raw.count("[") > MAX_DEPTH and too_deep(raw.encode("utf-8", "surrogatepass")):
            yield n, _too_deep_line(raw)
            continue
        try:
            record = decoder.decode(raw)
        except msgspec.DecodeError as e:
            record = {"__error__": f"not valid JSON: {e}", "__raw__": raw.strip()}
        except RecursionError:  # unreachable after too_deep(); kept so no line can stop the import
            record = _too_deep_line(raw)
        if not isinstance(record, dict):
            record = {"__error__": "not a JSON object", "__raw__": record}
        yield n, record


class RejectsFile:
    """Rejected rows with their line and reason, in the input's format; created on the first one.
    The first few are kept to show on screen."""

    def __init__(self, path: str | None, fmt: str, keep: int = 5) -> None:
        self.path, self.fmt, self.keep = path, fmt, keep
        self.file: IO[str] | None = None
        self.writer: Any = None
        self.first: list[Rejected] = []

    def write(self, r: Rejected) -> None:
        if len(self.first) < self.keep:
            self.first.append(r)
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
