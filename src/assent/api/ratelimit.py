"""Rate limits per API key and operation: a burst window (1 s) and a steady one (60 s), fixed
windows as Klaviyo counts them. Counters live in the server process (each worker its own).

ASSENT_RATE_LIMIT_SCALE multiplies Klaviyo's published limits (default 100: far above them);
0 or "off" turns limiting off."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from .errors import ApiError


def scale_from_env() -> float:
    raw = os.environ.get("ASSENT_RATE_LIMIT_SCALE", "100").strip().lower()
    if raw in ("off", "none", ""):
        return 0.0
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise ValueError(f"ASSENT_RATE_LIMIT_SCALE must be a number or 'off', not {raw!r}") from None


@dataclass(slots=True)
class _Window:
    start: float = 0.0
    count: int = 0


@dataclass(frozen=True, slots=True)
class Allowance:
    limit: int
    remaining: int
    reset: int  # seconds until the steady window starts over

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, scale: float | None = None, clock=time.monotonic) -> None:
        self.scale = scale_from_env() if scale is None else scale
        self.clock = clock
        self.windows: dict[tuple[str, str, int], _Window] = {}

    def limits(self, burst: int, steady: int) -> tuple[int, int]:
        return max(1, math.floor(burst * self.scale)), max(1, math.floor(steady * self.scale))

    def hit(self, key_id: str, operation: str, burst: int, steady: int) -> Allowance | None:
        """Count one request; raises a 429 ApiError when a window is full. None when limits are off."""
        if self.scale <= 0:
            return None
        burst, steady = self.limits(burst, steady)
        now = self.clock()
        retry = 0.0
        counted = []
        for seconds, limit in ((1, burst), (60, steady)):
            w = self.windows.get((key_id, operation, seconds))
            if w is None:
                w = self.windows[(key_id, operation, seconds)] = _Window(now, 0)
            if now - w.start >= seconds:
                w.start, w.count = now, 0
            if w.count >= limit:
                retry = max(retry, w.start + seconds - now)
            counted.append(w)
        if retry:
            seconds = max(1, math.ceil(retry))
            raise ApiError(
                429,
                "throttled",
                f"Request was throttled. Expected available in {seconds} second{'s' if seconds > 1 else ''}.",
                headers={"Retry-After": str(seconds)},
            )
        for w in counted:
            w.count += 1
        steady_window = counted[1]
        reset = max(0, math.ceil(steady_window.start + 60 - now))
        return Allowance(steady, steady - steady_window.count, reset)
