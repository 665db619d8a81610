"""File imports started from the staff console: a CSV file uploaded, its column mapping shown, then
imported in a background thread of the server with the same engine as `assent profiles import`
(services.imports), its progress and counts kept beside the upload so any page (and any server
process on the machine) can show them, and its rejected rows kept for download.

Each import lives in its own folder under the upload directory (ASSENT_CONSOLE_UPLOAD_DIR):
`upload.csv`, `status.json` (written whole and renamed, so a reader never sees half of it) and
`rejects.csv`."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine

from ...config import settings
from ...domain import DomainError
from ..imports.importer import ImportOptions, import_profiles, parse_subscribe
from ..imports.rows import ImportFile
from ..lists.lists import get_list
from .staff import StaffUser, require_change

MAX_UPLOAD = 50 * 1024 * 1024  # a browser upload; bigger files go through `assent profiles import`
STAGED, RUNNING, DONE, FAILED = "staged", "running", "done", "failed"
_ID = re.compile(r"^[a-z0-9]{20}$")


@dataclass(frozen=True, slots=True)
class ImportStatus:
    id: str
    state: str
    file: str
    size: int
    read: int
    description: dict[str, Any]
    counts: dict[str, int]
    first_rejected: list[dict[str, Any]]
    error: str | None
    uploaded_by: str
    uploaded_at: float
    started_at: float | None
    finished_at: float | None
    has_rejects: bool

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return min(99, int(self.read * 100 / self.size)) if self.size else 0


def upload_root() -> Path:
    configured = settings().console_upload_dir
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "assent-console-imports"


def _folder(account_id: str, import_id: str) -> Path:
    if not _ID.match(import_id or "") or not re.match(r"^[0-9A-Za-z]{1,40}$", account_id):
        raise DomainError("import", "no such import", import_id)
    return upload_root() / account_id / import_id


def _write_status(folder: Path, data: dict[str, Any]) -> None:
    tmp = folder / f"status.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_bytes(msgspec.json.encode(data))
    tmp.replace(folder / "status.json")


def _read_status(folder: Path) -> dict[str, Any]:
    try:
        return msgspec.json.decode((folder / "status.json").read_bytes())
    except FileNotFoundError:
        raise DomainError("import", "no such import", folder.name) from None


def stage(user: StaffUser, filename: str, chunks: Iterable[bytes]) -> ImportStatus:
    """Keep an uploaded CSV file and read how its columns map to profile fields; nothing is imported yet."""
    require_change(user)
    name = Path(filename or "upload.csv").name[:200] or "upload.csv"
    import_id = secrets.token_hex(10)
    folder = upload_root() / user.account_id / import_id
    folder.mkdir(parents=True, exist_ok=False)
    size = 0
    with (folder / "upload.csv").open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise DomainError("file", f"upload at most {MAX_UPLOAD // (1024 * 1024)} MB here; "
                                  "use assent profiles import for bigger files")  # fmt: skip
            out.write(chunk)
    if size == 0:
        raise DomainError("file", "the file is empty")
    try:
        with ImportFile(folder / "upload.csv", "csv") as source:
            description = source.describe()
            if source.columns is not None and not source.columns.has_identifier():
                raise DomainError("file", "the file needs an email, phone_number or external_id column")
    except UnicodeError:
        raise DomainError("file", "the file could not be read as text") from None
    description["file"] = name
    _write_status(folder, {"state": STAGED, "file": name, "size": size, "read": 0, "description": description,
                           "counts": {}, "first_rejected": [], "error": None, "uploaded_by": user.email,
                           "uploaded_at": time.time(), "started_at": None, "finished_at": None})  # fmt: skip
    return status(user.account_id, import_id)


def status(account_id: str, import_id: str) -> ImportStatus:
    folder = _folder(account_id, import_id)
    d = _read_status(folder)
    return ImportStatus(import_id, d["state"], d["file"], d["size"], d["read"], d["description"], d["counts"],
                        d["first_rejected"], d["error"], d["uploaded_by"], d["uploaded_at"], d["started_at"],
                        d["finished_at"], (folder / "rejects.csv").exists())  # fmt: skip


def recent(account_id: str, limit: int = 20) -> list[ImportStatus]:
    """The account's imports, newest first."""
    root = upload_root() / account_id
    if not re.match(r"^[0-9A-Za-z]{1,40}$", account_id) or not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        try:
            out.append(status(account_id, folder.name))
        except (DomainError, OSError, msgspec.DecodeError, KeyError):
            continue
    return sorted(out, key=lambda s: s.uploaded_at, reverse=True)[:limit]


def rejects_path(account_id: str, import_id: str) -> Path | None:
    path = _folder(account_id, import_id) / "rejects.csv"
    return path if path.exists() else None


def start(engine: Engine, user: StaffUser, import_id: str, subscribe: list[str], list_id: str | None) -> ImportStatus:
    """Run a staged import in a background thread; its progress is written as it goes."""
    require_change(user)
    folder = _folder(user.account_id, import_id)
    current = _read_status(folder)
    if current["state"] != STAGED:
        raise DomainError("import", "this import has already run", import_id)
    if list_id:
        get_list(engine, user.account_id, list_id)  # an unknown list is refused here, before anything runs
    options = ImportOptions(
        account_id=user.account_id,
        format="csv",
        subscribe=tuple(parse_subscribe(",".join(subscribe))) if subscribe else (),
        list_id=list_id or None,
        method_detail=f"{current['file']} (console import by {user.email})",
        rejects_path=str(folder / "rejects.csv"),
        workers=0,  # in the server process: no process pool
        batch_size=2000,  # smaller batches than the CLI's, so the progress bar moves on a page
    )
    data = {**current, "state": RUNNING, "started_at": time.time()}
    _write_status(folder, data)
    threading.Thread(target=_run, args=(engine, folder, options, data), name=f"import-{import_id}", daemon=True).start()
    return status(user.account_id, import_id)


def _run(engine: Engine, folder: Path, options: ImportOptions, data: dict[str, Any]) -> None:
    done = {"rows": 0}

    def progress(rows: int, read: int) -> None:
        done["rows"] += rows
        data.update(read=read, counts={"rows": done["rows"]})
        _write_status(folder, data)

    try:
        report = import_profiles(engine, folder / "upload.csv", options, progress)
        data.update(state=DONE, read=data["size"], counts=report.as_dict(),
                    first_rejected=[{"line": r.line, "field": r.field, "reason": r.reason}
                                    for r in report.first_rejected])  # fmt: skip
    except DomainError as e:
        data.update(state=FAILED, error=f"{e.field}: {e.message}")
    except Exception as e:  # noqa: BLE001 — a background import reports its failure on its page
        data.update(state=FAILED, error=f"the import stopped: {type(e).__name__}")
    data["finished_at"] = time.time()
    _write_status(folder, data)
