"""Consent text versions: stored once, never changed, referenced by signup forms and pages.

A signup that names a stored version records the version and the digest of its text on every
event it writes (`attested`), so a consent proof shows the exact words, covered by the chain."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ...domain import Proof
from ...domain.consent_texts import check_language, check_text, check_version, text_digest
from ...store import consent_texts as store
from ...store.db import read_transaction, write_transaction
from ...store.rows import AnyRow
from ..accounts.accounts import load_account
from ..shared.clock import utcnow
from ..shared.errors import Conflict, NotFound
from ..shared.ids import new_id


@dataclass(frozen=True, slots=True)
class ConsentText:
    id: str
    version: str
    text: str
    language: str | None
    sha256: str
    created_at: datetime


class DuplicateVersion(Conflict):
    code = "duplicate_consent_text"

    def __init__(self, version: str, existing_id: str) -> None:
        super().__init__(
            "version", f"a consent text with this version exists ({existing_id}); a new wording needs a new version",
            version,
        )  # fmt: skip
        self.existing_id = existing_id


def _text(row: AnyRow) -> ConsentText:
    return ConsentText(row.id, row.version, row.text, row.language, row.sha256, row.created_at)


def create(engine: Engine, account_id: str, *, version: str, text: str, language: str | None = None) -> ConsentText:
    """Store a new version. Refuses a version name already taken, whatever its text: a stored
    version is never replaced."""
    values = {"version": check_version(version), "text": check_text(text), "language": check_language(language)}
    try:
        with write_transaction(engine) as conn:
            load_account(conn, account_id)
            existing = store.by_version(conn, account_id, version)
            if existing is not None:
                raise DuplicateVersion(version, existing.id)
            text_id = new_id()
            store.add(conn, {"account_id": account_id, "id": text_id, "sha256": text_digest(text),
                             "created_at": utcnow(), **values})  # fmt: skip
            return _text(_load(conn, account_id, text_id))
    except IntegrityError:  # the same version stored meanwhile by another writer
        with read_transaction(engine) as conn:
            row = store.by_version(conn, account_id, version)
        if row is None:
            raise
        raise DuplicateVersion(version, row.id) from None


def _load(conn: Connection, account_id: str, text_id: str) -> AnyRow:
    row = store.get(conn, account_id, text_id)
    if row is None:
        raise NotFound("consent-text", "no such consent text", text_id)
    return row


def get(engine: Engine, account_id: str, text_id: str) -> ConsentText:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return _text(_load(conn, account_id, text_id))


def listing(engine: Engine, account_id: str) -> list[ConsentText]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [_text(r) for r in store.listing(conn, account_id)]


def by_version(conn: Connection, account_id: str, version: str) -> ConsentText | None:
    row = store.by_version(conn, account_id, version) if version else None
    return None if row is None else _text(row)


def attested(engine: Engine, account_id: str, proof: Proof) -> Proof:
    """The proof with its consent text's digest when it names a stored version. A version that is
    not stored is kept as given (a form may predate its stored wording); its proof then has no text."""
    if not proof.consent_text_version:
        return proof
    with read_transaction(engine) as conn:
        found = by_version(conn, account_id, proof.consent_text_version)
    return proof if found is None else replace(proof, consent_text_sha256=found.sha256)
