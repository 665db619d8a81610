"""Audience exports to a file: the allowed profiles' ids and addresses (NDJSON, CSV), ad audience
customer lists (Meta, Google: normalised and SHA-256 hashed), and direct mail (names and postal
addresses).

An export is streamed from one query in profile id order and written a batch at a time, so it
never holds more than a batch of rows. It is resumable: the rows go to `<path>.partial`, and after
each batch a checkpoint `<path>.partial.json` records the last profile id written and the file's
length. Run again with the same audience, format and path, an interrupted export truncates the
partial file to the last checkpoint and carries on after that id; a finished one is renamed to
`<path>` in one step, so `<path>` is never half written. Re-running a finished export writes it
again from the start (the same file, when nothing changed in between).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import msgspec
from sqlalchemy import Connection, Engine

from ...domain import Channel, DomainError, Purpose, Send
from ...domain.audiences import AdConsent
from ...store import audiences as store
from ..accounts import settings
from ..accounts.accounts import Account
from .resolution import AudienceCount, AudienceQuery, Rulebook, allowed, count, send_rulebook

BATCH = 10_000


def _ad_rulebook(conn: Connection, account: Account, send: Send) -> store.Rules:
    policy = AdConsent(settings.get(conn, account.id, "ad_audience_consent"))
    return store.ad_rules(account.id, account.default_region, policy)


def _postal_rulebook(conn: Connection, account: Account, send: Send) -> store.Rules:
    # Direct mail is no electronic message: the jurisdiction packs (and message frequency caps) do not apply.
    policy = replace(send.policy, jurisdictions=(), frequency_caps=())
    postal = Send(Channel.POSTAL, send.now, Purpose.MARKETING, send.via, send.list_id, policy)
    return store.postal_rules(account.id, postal)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def meta_email(email: str) -> str:
    """Meta's normalisation of an email before hashing: trimmed, lowercased."""
    return email.strip().lower()


def meta_phone(phone: str) -> str:
    """Meta's: digits only, with the country code, no '+' and no leading zeros."""
    return "".join(ch for ch in phone if ch.isdigit()).lstrip("0")


def google_phone(phone: str) -> str:
    """Google's: E.164, '+' and digits (profiles keep their numbers in E.164 already)."""
    return "+" + "".join(ch for ch in phone if ch.isdigit()).lstrip("0")


def _hashed(value: object, normalise: Callable[[str], str]) -> str:
    return _sha256(normalise(value)) if isinstance(value, str) and value.strip() else ""


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    columns: tuple[str, ...]  # profile columns read, `id` first
    header: tuple[str, ...] | None  # CSV header; None for NDJSON
    row: Callable[[Sequence[object]], Sequence[object]]
    rulebook: Rulebook = send_rulebook


_POSTAL_COLUMNS = ("id", "first_name", "last_name", "address1", "address2", "city", "region", "zip", "country")
FORMATS = {
    f.name: f
    for f in (
        Format("ndjson", ("id", "email", "phone_number"), None, lambda r: r),
        Format("csv", ("id", "email", "phone_number"), ("id", "email", "phone_number"), lambda r: r),
        Format("meta", ("id", "email", "phone_number"), ("email", "phone"),
               lambda r: (_hashed(r[1], meta_email), _hashed(r[2], meta_phone)), _ad_rulebook),
        Format("google", ("id", "email", "phone_number"), ("Email", "Phone"),
               lambda r: (_hashed(r[1], meta_email), _hashed(r[2], google_phone)), _ad_rulebook),
        Format("postal", _POSTAL_COLUMNS, ("profile_id", *_POSTAL_COLUMNS[1:]), lambda r: r, _postal_rulebook),
    )
}  # fmt: skip
ALIASES = {"direct-mail": "postal"}


def parse_format(value: str) -> Format:
    name = ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in FORMATS:
        raise DomainError("format", f"must be one of {', '.join([*FORMATS, *ALIASES])}", value)
    return FORMATS[name]


@dataclass(frozen=True, slots=True)
class ExportReport:
    format: str
    path: str
    written: int  # rows in the file
    resumed: int  # of them, rows an earlier interrupted run had written
    audience: AudienceCount  # who was allowed, and who was left out and why
    left_out: int = field(default=0)


def _fingerprint(account_id: str, q: AudienceQuery, fmt: Format) -> str:
    spec = {"account": account_id, "format": fmt.name, "query": msgspec.to_builtins(q)}
    if q.at is None:
        spec["query"]["at"] = None
    return _sha256(json.dumps(spec, sort_keys=True, default=str))


def _encode(fmt: Format, rows: Sequence[Sequence[object]]) -> bytes:
    if fmt.header is None:
        return b"".join(msgspec.json.encode(dict(zip(fmt.columns, r, strict=True))) + b"\n" for r in rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(fmt.row(r) for r in rows)
    return buf.getvalue().encode()


def _header(fmt: Format) -> bytes:
    if fmt.header is None:
        return b""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fmt.header)
    return buf.getvalue().encode()


class _Checkpoint:
    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path, self.fingerprint = path, fingerprint

    def read(self) -> tuple[str | None, int, int] | None:
        """(last id, bytes, rows) of an interrupted run of this same export, or None."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.fingerprint:
            return None
        return saved.get("after"), int(saved.get("bytes", 0)), int(saved.get("rows", 0))

    def write(self, after: str | None, size: int, rows: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "after": after, "bytes": size, "rows": rows}))
        os.replace(tmp, self.path)


def export(
    engine: Engine,
    account_id: str,
    q: AudienceQuery,
    fmt: Format,
    path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
    started: Callable[[AudienceCount, int], None] | None = None,
) -> ExportReport:
    """Write the audience to `path` in `fmt`, resuming an interrupted run of the same export.
    `started(count, rows already written)` is called once the counts are known (to size a
    progress bar); `progress(n)` after each batch of n rows."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    checkpoint = _Checkpoint(target.with_name(target.name + ".partial.json"), _fingerprint(account_id, q, fmt))
    audience = count(engine, account_id, q, fmt.rulebook)
    saved = checkpoint.read() if partial.exists() else None
    after, written = None, 0
    f: BinaryIO
    if saved is not None and partial.stat().st_size >= saved[1]:
        after, size, written = saved
        f = partial.open("r+b")
        f.truncate(size)
        f.seek(size)
    else:
        f = partial.open("wb")
        f.write(_header(fmt))
    resumed = written
    if started is not None:
        started(audience, resumed)
    with f:
        batch: list[Sequence[object]] = []

        def flush() -> None:
            nonlocal written
            f.write(_encode(fmt, batch))
            f.flush()
            os.fsync(f.fileno())
            written += len(batch)
            checkpoint.write(str(batch[-1][0]), f.tell(), written)
            if progress is not None:
                progress(len(batch))
            batch.clear()

        for row in allowed(engine, account_id, q, after, fmt.columns, fmt.rulebook):
            batch.append(row)
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
    os.replace(partial, target)
    checkpoint.path.unlink(missing_ok=True)
    return ExportReport(fmt.name, str(target), written, resumed, audience, audience.denied)
