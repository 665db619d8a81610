"""Rate limits hold across server processes: `assent serve --workers 2` (two processes answering
on one port) allows no more than the limit between them, with the counters in the database (SQLite
and PostgreSQL) or in Redis (ASSENT_REDIS_URL). Today's per-process counters would let each
worker allow the whole limit.

Windows are aligned on the clock, so each round of concurrent requests is judged against the
number of whole seconds it spanned (the burst window is one second)."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assent.services.accounts import accounts
from assent.services.shared.ratelimits import DatabaseWindows, LocalWindows
from assent.store.db import make_engine, upgrade
from tests.api.conftest import REVISION

REDIS_URL = os.environ.get("ASSENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCALE = 0.04  # GET /api/profiles: Klaviyo's 75/s and 700/min become 3/s and 28/min
BURST = 3
ROUNDS = 3
CONCURRENT = 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as e:
        message = f"Redis is not reachable at {REDIS_URL} ({e}); start it or set ASSENT_TEST_REDIS_URL."
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def two_workers(request, tmp_path: Path):
    """(base URL, API key) of `assent serve --workers 2` with low limits, counters in the store named."""
    env = {**os.environ, "ASSENT_RATE_LIMIT_SCALE": str(SCALE)}
    env.pop("ASSENT_REDIS_URL", None)
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
    else:
        url = f"sqlite:///{tmp_path / 'assent.db'}"
    if request.param == "redis":
        _redis_or_skip()
        env["ASSENT_REDIS_URL"] = REDIS_URL
    engine = make_engine(url)
    upgrade(engine)
    key = accounts.create_account(engine, "Two workers", "US").api_key
    engine.dispose()
    port = _free_port()
    assent = str(Path(sys.executable).with_name("assent"))
    args = [assent, "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base, key
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _get(base: str, key: str) -> tuple[int, float]:
    # A new connection each time, so the kernel hands requests to both worker processes.
    headers = {"Authorization": f"Klaviyo-API-Key {key}", "revision": REVISION}
    r = httpx.get(f"{base}/api/profiles", headers=headers, timeout=30)
    assert r.status_code in (200, 429), r.text
    return r.status_code, time.time()


def test_the_rate_limit_holds_across_two_worker_processes(two_workers) -> None:
    base, key = two_workers
    _get(base, key)  # both workers warm; this one is counted too
    allowed_total = 1
    with ThreadPoolExecutor(CONCURRENT) as pool:
        for _ in range(ROUNDS):
            time.sleep(1.05 - time.time() % 1)  # start just after a second begins
            started = time.time()
            results = list(pool.map(lambda _: _get(base, key), range(CONCURRENT)))
            finished = max(at for _, at in results)
            seconds = math.floor(finished) - math.floor(started) + 1
            allowed = sum(1 for status, _ in results if status == 200)
            assert 1 <= allowed <= BURST * seconds, (allowed, seconds)
            allowed_total += allowed
    # And the steady window (28 a minute) counts every process's requests too.
    assert allowed_total <= 28


def test_a_process_claims_a_share_and_never_passes_the_shared_limit() -> None:
    """Two limiters (two processes) on one store: between them, exactly the limit per window."""
    from assent.wire.ratelimit import RateLimiter, Throttled

    store = LocalWindows()
    now = [1000.0]
    first, second = (RateLimiter(scale=1, windows=store, clock=lambda: now[0]) for _ in range(2))
    allowed = 0
    for i in range(200):
        try:
            (first if i % 2 else second).take("acct", "bucket", ((60, 100),))
            allowed += 1
        except Throttled as e:
            assert e.retry == 20  # the window started at 960 and ends at 1020
    assert allowed <= 100
    assert allowed >= 100 - 2 * (100 // 16)  # at most one unspent share per process
    now[0] = 1021.0  # a new window
    first.take("acct", "bucket", ((60, 100),))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_database_windows_add_up_claims_of_all_processes(backend, request, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}" if backend == "sqlite" else request.getfixturevalue("pg_database")
    engine = make_engine(url)
    if backend == "sqlite":
        upgrade(engine)
    one, two = DatabaseWindows(engine), DatabaseWindows(engine)
    scope, now = os.urandom(6).hex(), int(time.time())
    assert one.claim([(scope, "k:op:1", now, 2), (scope, "k:op:60", now - now % 60, 2)]) == [2, 2]
    assert two.claim([(scope, "k:op:1", now, 3)]) == [5]
    assert one.claim([(scope, "k:op:60", now - now % 60, 1), (scope, "k:op:1", now + 1, 1)]) == [3, 1]
    engine.dispose()


def test_an_unreachable_store_counts_per_process_instead_of_failing_requests(caplog) -> None:
    from assent.integrations.redis_windows import RedisWindows
    from assent.wire.ratelimit import RateLimiter, Throttled

    limiter = RateLimiter(scale=1, windows=RedisWindows(f"redis://127.0.0.1:{_free_port()}/0"), clock=lambda: 600.0)
    with caplog.at_level("WARNING"):
        limiter.take("acct", "bucket", ((60, 2),))
        limiter.take("acct", "bucket", ((60, 2),))
        with pytest.raises(Throttled):
            limiter.take("acct", "bucket", ((60, 2),))
    assert any("rate-limit store unavailable" in r.getMessage() for r in caplog.records)
