"""Rate limits per API key and operation: a burst window (1 s) and a steady one (60 s), fixed
windows as Klaviyo counts them (aligned on the clock, so every process agrees where they start).

The counters are shared by every server process (the database, or Redis: assent.server picks).
Asking the shared store on every request would cost a round trip (a database write) per request,
so each process claims part of a window's budget at a time — a sixteenth of the limit, at least
one request — and spends it locally. The shared total never passes the limit, so N processes
never allow more than the limit between them; what is given up is the other side: budget a
process claimed but did not spend in a window (at most a sixteenth of the limit per process) is
refused to the others until the window ends. With small limits a claim is one request: exact.

ASSENT_RATE_LIMIT_SCALE multiplies Klaviyo's published limits (default 100: far above them);
0 or "off" turns limiting off."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import partial

import anyio.to_thread

from ..config import settings
from ..services.shared.ratelimits import Claim, LocalWindows, Windows
from .errors import ApiError

log = logging.getLogger("assent.api.ratelimit")

SHARE = 16  # a process claims 1/SHARE of a window's limit at a time
WINDOWS = (1, 60)  # burst, steady


@dataclass(slots=True)
class _Lease:
    """This process's share of one window: what it claimed, spent, and the total all claimed."""

    window: int  # start, in Unix seconds
    granted: int = 0
    used: int = 0
    total: int = 0
    exhausted: bool = False  # the shared budget is gone: refuse without asking again


@dataclass(frozen=True, slots=True)
class Allowance:
    limit: int
    remaining: int
    reset: int  # seconds until the last window starts over

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class NeedsClaim(Exception):
    """Raised by a non-blocking take that would have to ask the shared store (call it again in a
    worker thread, blocking)."""


class Throttled(ApiError):
    def __init__(self, retry: float, detail: str | None = None) -> None:
        self.retry = max(1, math.ceil(retry))
        s = "s" if self.retry > 1 else ""
        super().__init__(
            429, "throttled", detail or f"Request was throttled. Expected available in {self.retry} second{s}.",
            headers={"Retry-After": str(self.retry)},
        )  # fmt: skip


class RateLimiter:
    def __init__(self, scale: float | None = None, windows: Windows | None = None, clock=time.time) -> None:
        self.scale = settings().rate_limit_scale if scale is None else scale
        self.windows = windows or LocalWindows()
        self.clock = clock
        self.leases: dict[tuple[str, str, int], _Lease] = {}
        self.lock = threading.Lock()
        self.store_failed_at = 0.0

    def limits(self, burst: int, steady: int) -> tuple[int, int]:
        return max(1, math.floor(burst * self.scale)), max(1, math.floor(steady * self.scale))

    def hit(
        self, key_id: str, operation: str, burst: int, steady: int, *, scope: str = "", block: bool = True
    ) -> Allowance | None:
        """Count one request; raises Throttled (a 429 ApiError) when a window is full, NeedsClaim
        when `block` is false and the shared store must be asked. None when limits are off."""
        if self.scale <= 0:
            return None
        limits = self.limits(burst, steady)
        return self.take(scope, f"{key_id}:{operation}", tuple(zip(WINDOWS, limits, strict=True)), block=block)

    def take(self, scope: str, bucket: str, windows: tuple[tuple[int, int], ...], *, block: bool = True) -> Allowance:
        """One request against each (seconds, limit) window of `bucket`; the last window's
        allowance, or Throttled."""
        now = self.clock()
        with self.lock:
            leases = [self._lease(scope, bucket, seconds, now) for seconds, _ in windows]
            short = [i for i, lease in enumerate(leases) if lease.used >= lease.granted and not lease.exhausted]
        if short:
            if not block:
                raise NeedsClaim
            self._claim(scope, bucket, windows, leases, short)
        with self.lock:
            over = [i for i, lease in enumerate(leases) if lease.used >= lease.granted]
            if over:
                raise Throttled(max(leases[i].window + windows[i][0] - now for i in over))
            for lease in leases:
                lease.used += 1
            last, (seconds, limit) = leases[-1], windows[-1]
            remaining = max(0, limit - last.total) + last.granted - last.used
            return Allowance(limit, max(0, remaining), max(0, math.ceil(last.window + seconds - now)))

    def _lease(self, scope: str, bucket: str, seconds: int, now: float) -> _Lease:
        window = int(now // seconds) * seconds
        key = (scope, bucket, seconds)
        lease = self.leases.get(key)
        if lease is None or lease.window != window:
            if len(self.leases) > 50_000:  # keep memory bounded: drop leases of finished windows
                self.leases = {k: v for k, v in self.leases.items() if v.window + k[2] > now}
            lease = self.leases[key] = _Lease(window)
        return lease

    def _claim(
        self, scope: str, bucket: str, windows: tuple[tuple[int, int], ...], leases: list[_Lease], short: list[int]
    ) -> None:
        wants = {i: max(1, windows[i][1] // SHARE) for i in short}
        claims: list[Claim] = [(scope, f"{bucket}:{windows[i][0]}", leases[i].window, wants[i]) for i in short]
        try:
            totals = self.windows.claim(claims)
        except Exception as e:  # noqa: BLE001 — a store that is away must not take the API down
            # Fail open: count in this process alone until the store answers again.
            if time.monotonic() - self.store_failed_at > 60:
                self.store_failed_at = time.monotonic()
                log.warning("rate-limit store unavailable, counting per process: %s", e)
            totals = [leases[i].total + wants[i] for i in short]
        with self.lock:
            for i, total in zip(short, totals, strict=True):
                lease, limit = leases[i], windows[i][1]
                granted = max(0, min(wants[i], limit - (total - wants[i])))
                lease.granted += granted
                lease.total = max(lease.total, total)
                lease.exhausted = granted == 0


async def take(limiter: RateLimiter, scope: str, bucket: str, windows: tuple[tuple[int, int], ...]) -> Allowance:
    """RateLimiter.take from the event loop: on the loop while the process's claimed budget lasts,
    in a worker thread when the shared store must be asked (a database write must not block the loop)."""
    try:
        return limiter.take(scope, bucket, windows, block=False)
    except NeedsClaim:
        return await anyio.to_thread.run_sync(partial(limiter.take, scope, bucket, windows))
