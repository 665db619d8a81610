"""The text encoding of an import file, and marking the bytes that don't decode.

A byte-order mark says UTF-8, UTF-16 or UTF-32 outright; UTF-16 without one shows as NUL bytes
between ASCII letters. Any other file is read as UTF-8, and with `--encoding NAME` the lines that
are not valid UTF-8 are read in NAME instead (valid UTF-8 is almost never an accident in a legacy
encoding, so a file saved by Excel in cp1252 reads right either way). Bytes that decode in neither
are never replaced: each becomes a lone surrogate U+DC00+byte, which no decoder makes from valid
input, so the row holding them is found after parsing and rejected with its line, showing them.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ...domain import DomainError

UNDECODABLE = "assent-undecodable"  # the codec error handler below
_MARKS = re.compile("[\udc00-\udcff]")


def _mark(e: UnicodeError) -> tuple[str, int]:
    if not isinstance(e, UnicodeDecodeError):
        raise e
    return "".join(chr(0xDC00 + b) for b in e.object[e.start : e.end]), e.end


codecs.register_error(UNDECODABLE, _mark)


def undecodable(text: str) -> bool:
    return _MARKS.search(text) is not None


def shown(text: str) -> str:
    """The text with each undecodable byte written as \\xNN, as a person can read it."""
    return _MARKS.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def bad_bytes(text: str, most: int = 4) -> str:
    found = [f"0x{ord(c) - 0xDC00:02X}" for c in _MARKS.findall(text)[:most]]
    return " ".join(found)


def codec_name(name: str) -> str:
    try:
        codec = codecs.lookup(name).name
        "".encode(codec)  # a codec that is no text encoding (rot13, base64...) refuses str
    except LookupError:
        message = "is not a known text encoding (e.g. utf-8, cp1252, latin-1, utf-16)"
        raise DomainError("encoding", message, name) from None
    try:  # bytes that don't decode are marked, never lost: a codec that cannot mark them is refused
        b"\xff\xfe\xfd".decode(codec, UNDECODABLE)
    except UnicodeError:
        raise DomainError(
            "encoding", "is not an encoding files are read in (e.g. utf-8, cp1252, utf-16)", name
        ) from None
    return codec


def _ascii_compatible(codec: str) -> bool:
    """Whether ASCII text (and so the delimiters, quotes and line ends) is the same bytes in it."""
    sample = '\r\n",;\t|azAZ09 @+-.'
    try:
        return sample.encode(codec) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        return False


_BOMS = (  # longest first: UTF-32-LE's mark begins with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class Encoding:
    codec: str
    fallback: str | None = None  # for lines that are not valid in `codec`
    bom: int = 0  # length of the byte-order mark to skip

    @property
    def ascii_compatible(self) -> bool:
        return _ascii_compatible(self.codec)

    @property
    def tried(self) -> str:
        """What bytes that don't decode are not, for a message."""
        return f"{self.codec} or {self.fallback}" if self.fallback else self.codec

    @property
    def label(self) -> str:
        name = self.codec + (" with BOM" if self.bom else "")
        return f"{name}, else {self.fallback}" if self.fallback else name


def detect_encoding(head: bytes, requested: str | None = None) -> Encoding:
    """The encoding of a file that starts with `head`; `requested` is the user's --encoding."""
    wanted = codec_name(requested) if requested else None
    fallback = wanted if wanted not in (None, "utf-8", "utf-8-sig") and _ascii_compatible(wanted) else None
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return Encoding(codec, fallback if codec == "utf-8" else None, bom=len(bom))
    sample = head[: min(len(head), 64) & ~1]
    big_endian = len(sample) >= 4 and not any(sample[0::2]) and all(sample[1::2])
    if wanted in ("utf-16", "utf-32"):
        # These read their byte order from a mark the file does not have: its NUL bytes tell it,
        # else little-endian, as Windows writes them.
        if wanted == "utf-32":
            quads = head[: min(len(head), 64) & ~3]
            big_endian = len(quads) >= 4 and not any(quads[0::4]) and all(quads[3::4])
        return Encoding(f"{wanted}-{'be' if big_endian else 'le'}")
    if wanted and not _ascii_compatible(wanted):
        return Encoding(wanted)  # UTF-16 without a mark, EBCDIC...: only the user can say
    if len(sample) >= 4 and not any(sample[1::2]) and all(sample[0::2]):
        return Encoding("utf-16-le")
    if big_endian:
        return Encoding("utf-16-be")
    return Encoding("utf-8", fallback)
