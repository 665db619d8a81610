"""Where rate-limit counters live, so that every server process (`--workers N`, several servers)
counts against the same budget: Redis when ASSENT_REDIS_URL is set, else the database.

A window store has one operation, `claim(claims) -> totals`: add each claim's amount to its
window's counter and answer the totals after it, whichever processes claimed."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from sqlalchemy import Engine

from ...store import ratelimits as store

log = logging.getLogger("assent.ratelimits")

Claim = tuple[str, str, int, int]  # scope (account id, or ""), bucket, window_start (Unix s), amount
PURGE_EVERY = 60.0  # seconds between removals of finished windows from the database


class Windows(Protocol):
    def claim(self, claims: list[Claim]) -> list[int]: ...


class LocalWindows:
    """Counters in this process only (a single process, or tests)."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str, int], int] = {}
        self.lock = threading.Lock()

    def claim(self, claims: list[Claim]) -> list[int]:
        with self.lock:
            if len(self.totals) > 100_000:
                newest = max(w for _, _, w in self.totals)
                self.totals = {k: v for k, v in self.totals.items() if k[2] >= newest - 120}
            out = []
            for scope, bucket, window, amount in claims:
                key = (scope, bucket, window)
                self.totals[key] = self.totals.get(key, 0) + amount
                out.append(self.totals[key])
            return out


class DatabaseWindows:
    """Counters in the database's rate_limit_windows table; finished windows are purged now and then."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.next_purge = 0.0

    def claim(self, claims: list[Claim]) -> list[int]:
        totals = store.claim(self.engine, claims)
        now = time.time()
        if now >= self.next_purge:
            self.next_purge = now + PURGE_EVERY
            store.purge(self.engine, int(now) - 120)
        return totals

