"""Erasure tombstones as the write paths see them.

The tombstone of an identifier is its HMAC under the installation's erasure key
(`ASSENT_ERASURE_KEY`, else a random key made once and kept in the database's `settings` table),
so the database holds no address of an erased person, yet a write that names one is recognised.

The rule: a tombstoned identifier is never added to a profile (created, or filled in) except by a
new explicit consent of the person's own — a signup form, an SMS opt-in keyword from the number.
Such a write lifts the tombstone; every other write (file and API imports, bulk subscribe, profile
create, events) is refused with `erased_identifier`, and an opt-out of it is already held.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from ...config import settings
from ...domain.erasure import TOMBSTONE_FIELDS, ErasedIdentifier, tombstone_digest
from ...store import accounts as account_store
from ...store import erasure as store


def erasure_key(conn: Connection) -> bytes:
    configured = settings().erasure_key
    if configured:
        return configured.encode()
    return account_store.setting_or_create(conn, "erasure_key", lambda: secrets.token_hex(32)).encode()


Pair = tuple[str, str]  # (field, normalised value)


class Tombstones:
    """The tombstones among some identifiers, looked up once (one query, none when the account
    has no tombstone at all)."""

    def __init__(
        self, conn: Connection, account_id: str, pairs: Iterable[Pair], *, any_held: bool | None = None
    ) -> None:
        """`any_held`: whether the account has any tombstone, when the caller has read it already
        (ledger.job_start); else it is asked here."""
        self.conn, self.account_id = conn, account_id
        self.digests: dict[Pair, str] = {}
        self.erased: set[Pair] = set()
        self.lifted: set[str] = set()
        pairs = iter(pairs)  # read only when the account has a tombstone: bulk paths pass a generator
        first = next(pairs, None)
        if first is None or not (store.has_tombstones(conn, account_id) if any_held is None else any_held):
            return
        wanted = {(f, v) for f, v in itertools.chain([first], pairs) if f in TOMBSTONE_FIELDS and v}
        if wanted:
            key = erasure_key(conn)
            self.digests = {p: tombstone_digest(key, account_id, *p) for p in wanted}
            found = store.tombstoned(conn, account_id, self.digests.values())
            self.erased = {p for p, d in self.digests.items() if d in found}

    def first_erased(self, pairs: Iterable[Pair]) -> Pair | None:
        return next((p for p in pairs if p in self.erased), None) if self.erased else None

    def check(self, pairs: Iterable[Pair], *, new_consent: bool) -> None:
        """Refuse adding an erased identifier, unless this is a new explicit consent, which lifts it."""
        pairs = list(pairs)
        erased = self.first_erased(pairs)
        if erased is None:
            return
        if not new_consent:
            raise ErasedIdentifier(erased[0], value=erased[1])
        for p in pairs:
            if p in self.erased:
                self.lifted.add(self.digests[p])

    def write(self) -> int:
        """Remove the tombstones lifted by new consent (in the caller's transaction)."""
        n = store.remove_tombstones(self.conn, self.account_id, self.lifted)
        self.lifted = set()
        return n


def add(conn: Connection, account_id: str, pairs: Iterable[Pair], at: datetime) -> int:
    key = erasure_key(conn)
    rows = [(tombstone_digest(key, account_id, f, v), f) for f, v in pairs if f in TOMBSTONE_FIELDS and v]
    return store.add_tombstones(conn, account_id, rows, at)


def is_erased(conn: Connection, account_id: str, field: str, value: str) -> bool:
    return bool(Tombstones(conn, account_id, [(field, value)]).erased)
