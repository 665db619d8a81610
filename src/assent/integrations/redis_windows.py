"""Rate-limit windows in Redis (ASSENT_REDIS_URL): one pipelined round trip adds a claim to each
window's counter and reads the totals back; counters expire on their own after their window."""

from __future__ import annotations

import redis

TTL_SECONDS = 120  # longer than the longest window (60 s), so a counter outlives its window

Claim = tuple[str, str, int, int]  # scope, bucket, window_start, amount


class RedisWindows:
    def __init__(self, url: str) -> None:
        # Short timeouts: a limit is not worth holding a request for when Redis is away.
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def claim(self, claims: list[Claim]) -> list[int]:
        pipe = self.client.pipeline(transaction=False)
        for scope, bucket, window_start, amount in claims:
            key = f"assent:ratelimit:{scope}:{bucket}:{window_start}"
            pipe.incrby(key, amount)
            pipe.expire(key, TTL_SECONDS)
        return [int(total) for total in pipe.execute()[::2]]

    def close(self) -> None:
        self.client.close()
