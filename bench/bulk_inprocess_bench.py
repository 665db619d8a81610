"""Bulk subscribe in process: CPU per profile of 100-profile jobs through the ASGI app, no network.

Creates a fresh database (SQLite in a temporary directory, or the empty PostgreSQL database given
with --db) and an account, starts the app's lifespan (as `assent serve` does: the collector's
start-up freeze, the background loops), then sends --jobs POST
/api/profile-subscription-bulk-create-jobs requests of --job-size new emails (email marketing)
straight to the app, one after another, and prints the CPU time per profile of the whole process
(handler threads included) and the wall time. It isolates what bench/api_bench.py's bulk phase
spends per profile in the server from the HTTP clients sharing the cores. Best of --repeat runs,
with their spread. Not a test: it asserts nothing.

    python bench/bulk_inprocess_bench.py [--jobs 100] [--job-size 100] [--repeat 3] [--db URL] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from api_bench import subscribe_body
from assent.server import create_app
from assent.services.accounts import accounts
from assent.store.db import make_engine, upgrade
from assent.wire.ratelimit import RateLimiter
from harness import api_headers

PATH = "/api/profile-subscription-bulk-create-jobs"
Message = MutableMapping[str, Any]


async def post(app: Callable[..., Awaitable[None]], headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """One POST straight to the ASGI app; its status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    status: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def measure(db_url: str, jobs: int, size: int, repeat: int) -> list[tuple[float, float, int]]:
    """(CPU us per profile, wall us per profile, profiles not accepted) for each run."""
    engine = make_engine(db_url)
    upgrade(engine)
    new = accounts.create_account(engine, "Bench bulk in process")
    app = create_app(engine, limiter=RateLimiter(scale=0))
    headers = [(k.lower().encode(), v.encode()) for k, v in api_headers(new.api_key).items()]
    runs = []
    first = 0
    async with app.router.lifespan_context(app):
        for _ in range(3):  # warm up: caches, the key look-up, first statements
            await post(app, headers, subscribe_body(first, size))
            first += size
        for _ in range(repeat):
            bodies = [subscribe_body(first + i * size, size) for i in range(jobs)]
            first += jobs * size
            refused = 0
            cpu, wall = time.process_time(), time.perf_counter()
            for body in bodies:
                refused += size if await post(app, headers, body) != 202 else 0
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            n = jobs * size
            runs.append((cpu / n * 1e6, wall / n * 1e6, refused))
    engine.dispose()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--job-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="an empty, migrated or migratable database URL (default: a fresh SQLite file)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        db_url = args.db or f"sqlite:///{Path(work) / 'assent.db'}"
        runs = asyncio.run(measure(db_url, args.jobs, args.job_size, args.repeat))
    cpu = [r[0] for r in runs]
    wall = [r[1] for r in runs]
    result = {
        "backend": db_url.split(":", 1)[0],
        "profiles_per_run": args.jobs * args.job_size,
        "job_size": args.job_size,
        "cpu_us_per_profile": round(min(cpu), 1),
        "cpu_spread": [round(min(cpu), 1), round(max(cpu), 1)],
        "wall_us_per_profile": round(min(wall), 1),
        "refused": sum(r[2] for r in runs),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"bulk subscribe in process ({result['backend']}): {args.repeat} runs of {args.jobs} jobs x "
          f"{args.job_size} new profiles")  # fmt: skip
    print(f"  CPU {result['cpu_us_per_profile']} us/profile (runs {min(cpu):.1f} - {max(cpu):.1f}), "
          f"wall {result['wall_us_per_profile']} us/profile; refused {result['refused']}")  # fmt: skip


if __name__ == "__main__":
    main()
