"""HTTP API benchmark: bulk subscribe, get-profile and full paging against a real `assent serve`.

Seeds N synthetic profiles (email subscribed) with `assent profiles import` into a fresh SQLite
database, starts `assent serve` on a loopback port with rate limits off, and measures with
concurrent keep-alive clients:

  (a) paging: every seeded profile, page[size]=100 with subscriptions, following links.next
      (bench/feed_bench.py measures it against its floor);
  (b) GET /api/profiles/{id}?additional-fields[profile]=subscriptions over random seeded ids, then
      the same load on its floor: a raw ASGI handler (bench/floor_app.py) under uvicorn with the
      same settings, over the same database, in the same run;
  (c) sustained bulk subscribe: 100-profile jobs of new emails (email marketing), in a second
      account so the paged account keeps exactly N profiles; its anchor is Klaviyo's steady limit.

Prints throughput, p50/p99 latency, CPU used by the server and by the client (they share the same
cores; server CPU per request holds up better than throughput on a busy machine), each floor or
anchor and the ratio. Not a test: it asserts nothing.

    python bench/api_bench.py [--profiles 100000] [--seconds 15] [--workers 2] [--json]
    python bench/api_bench.py --db postgresql://127.0.0.1:5432/test --phases bulk   # on PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import text

from harness import (
    Client,
    HttpxClient,
    Phase,
    RawClient,
    Server,
    api_headers,
    fmt,
    free_port,
    fresh_database,
    page_all,
    ratio,
    seed_sqlite,
    timed,
)

# Klaviyo's published steady limits (requests per minute x items per request, per second):
# bulk subscribe 700/min x 1000 profiles, get profile 700/min, get profiles 700/min x 100 profiles.
KLAVIYO = {"bulk": 700 / 60 * 1000, "get": 700 / 60, "paging": 700 / 60 * 100}
# Issue 15's goals.
TARGETS = {"bulk": 20_000, "bulk_p99_ms": 100, "get": 5_000, "get_p99_ms": 25, "paging": 30_000}
GET_PATH = "/api/profiles/{id}/?additional-fields%5Bprofile%5D=subscriptions"
_decode = msgspec.json.decode
_encode = msgspec.json.encode


async def get_phase(clients: list[Client], ids: list[str], path: str, args: argparse.Namespace, server: Server,
                    name: str) -> Phase:  # fmt: skip
    """Random seeded ids fetched by every client for warmup + seconds."""
    rng = random.Random(7)

    async def get_one(client: Client) -> tuple[int, int]:
        status, _ = await client.request("GET", path.format(id=rng.choice(ids)))
        return (1 if status == 200 else 0), status

    phase = Phase(name)
    await timed(phase, clients, get_one, args.seconds, args.warmup, server)
    await asyncio.gather(*(c.close() for c in clients))
    return phase


def subscribe_body(first: int, size: int) -> bytes:
    profiles = [
        {"type": "profile", "attributes": {"email": f"bulk.{n}@example.com",
         "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}
        for n in range(first, first + size)
    ]  # fmt: skip
    job = {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": profiles}}}
    return _encode({"data": job})


async def run_phases(args: argparse.Namespace, server: Server, floor: Server | None, paged_key: str,
                     bulk_key: str) -> dict[str, Phase]:  # fmt: skip
    make = HttpxClient if args.client == "httpx" else RawClient

    def clients(key: str, n: int, port: int) -> list[Client]:
        return [make("127.0.0.1", port, api_headers(key)) for _ in range(n)]

    phases: dict[str, Phase] = {}
    (pager,) = clients(paged_key, 1, server.port)
    first = f"/api/profiles?page%5Bsize%5D={args.page_size}&additional-fields%5Bprofile%5D=subscriptions"
    phases["paging"], bodies = await page_all(pager, server, first)
    await pager.close()
    ids = [r["id"] for body in bodies for r in _decode(body)["data"]]

    if ids and "get" in args.phases:
        phases["get"] = await get_phase(clients(paged_key, args.get_clients, server.port), ids, GET_PATH, args,
                                        server, "get")  # fmt: skip
        if floor is not None:
            floor.wait_ready()
            phases["get_floor"] = await get_phase(clients(paged_key, args.get_clients, floor.port), ids,
                                                  "/profiles/{id}", args, floor, "get_floor")  # fmt: skip

    if "bulk" in args.phases:
        counter = iter(range(0, 1 << 62, args.job_size))
        writers = clients(bulk_key, args.bulk_clients, server.port)

        async def subscribe(client: Client) -> tuple[int, int]:
            status, _ = await client.request(
                "POST", "/api/profile-subscription-bulk-create-jobs", subscribe_body(next(counter), args.job_size)
            )
            return (args.job_size if status == 202 else 0), status

        phases["bulk"] = Phase("bulk")
        await timed(phases["bulk"], writers, subscribe, args.seconds, args.warmup, server)
        await asyncio.gather(*(c.close() for c in writers))
    return phases


# --- report ------------------------------------------------------------------------------------


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows run_all.py prints: path, Assent's figure, its floor or anchor, ratio, goal."""
    p, rows = result["phases"], []
    if "bulk" in p:
        b = p["bulk"]
        on = ", PostgreSQL" if result["backend"] == "postgresql" else ""
        rows.append({"path": f"bulk subscribe over HTTP ({result['job_size']}-profile jobs, "
                             f"{result['bulk_clients']} clients{on}), profiles/s",
                     "assent": b["items_per_s"], "floor": round(KLAVIYO["bulk"]), "floor_kind": "Klaviyo steady",
                     "ratio": ratio(b["items_per_s"], KLAVIYO["bulk"]),
                     "goal": f">= {TARGETS['bulk']:,}/s, p99 <= {TARGETS['bulk_p99_ms']} ms",
                     "detail": f"p99 {fmt(b['p99_ms'])} ms"})  # fmt: skip
    if "get" in p:
        g, f = p["get"], p.get("get_floor")
        rows.append({"path": f"GET one profile, {result['get_clients']} clients, req/s", "assent": g["requests_per_s"],
                     "floor": f["requests_per_s"] if f else None, "floor_kind": "raw ASGI handler",
                     "ratio": ratio(g["requests_per_s"], f["requests_per_s"]) if f else None,
                     "goal": f">= {TARGETS['get']:,} req/s, p99 <= {TARGETS['get_p99_ms']} ms",
                     "detail": f"p99 {fmt(g['p99_ms'])} ms (floor {fmt(f['p99_ms']) if f else '-'} ms); server CPU "
                               f"{fmt(g['server_cpu_us_per_request'])} us/req "
                               f"(floor {fmt(f['server_cpu_us_per_request']) if f else '-'})"})  # fmt: skip
    return rows


def print_report(result: dict[str, Any]) -> None:
    p = result["phases"]
    print(f"assent serve --workers {result['workers']} on {result['backend']}, {result['profiles']:,} seeded profiles "
          f"(import {result['seed_seconds']} s), client: {result['client']}, {result['cpus']} CPUs shared by "
          "server and client")  # fmt: skip
    print(f"\n  {'':44} {'Assent':>10} {'floor':>10} {'ratio':>6}  goal")
    for row in figures(result):
        print(f"  {row['path'][:44]:44} {fmt(row['assent']):>10} {fmt(row['floor']):>10} {fmt(row['ratio']):>6}  "
              f"{row['goal']}\n  {'':44} {row['detail']}; floor: {row['floor_kind']}")  # fmt: skip
    pg = p["paging"]
    print(f"  paging, profiles/s (floor: bench/feed_bench.py) {fmt(pg['items_per_s']):>10}   "
          f"page p50 / p99 {fmt(pg['p50_ms'])} / {fmt(pg['p99_ms'])} ms")  # fmt: skip
    print()
    for name, ph in p.items():
        busy = (ph["server_cpu_s"] + ph["client_cpu_s"]) / ph["seconds"] if ph["seconds"] else 0
        print(f"  {name:9} {ph['requests']:>7,} requests in {ph['seconds']:6.2f} s, statuses {ph['statuses']}; "
              f"CPU s: server {ph['server_cpu_s']}, client {ph['client_cpu_s']} ({busy:.2f} of {result['cpus']} "
              "cores busy)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000, help="profiles seeded, then paged")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured length of the get and bulk phases")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured start of the get and bulk phases")
    parser.add_argument("--workers", type=int, default=2, help="server processes (the floor's too)")
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--get-clients", type=int, default=16)
    parser.add_argument("--job-size", type=int, default=100, help="profiles per bulk subscribe job")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--phases", default="get,bulk", help="comma-separated: get, bulk (paging always runs)")
    parser.add_argument("--no-floor", action="store_true", help="skip the GET floor (to run against old commits)")
    parser.add_argument("--db", metavar="URL", help="PostgreSQL server: serve a new database there (no GET floor)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.phases = set(args.phases.split(","))

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        db_url = None
        if args.db:
            engine = stack.enter_context(fresh_database("postgresql", work, args.db, "api"))
            db_url = engine.url.render_as_string(hide_password=False)
        seeded = seed_sqlite(work, args.profiles, db_url)
        if args.db:
            # Planner statistics, as autovacuum would gather them on a server that has it on.
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        server = Server.assent(seeded.db_url, free_port(), args.workers, work / "server.log")
        floor = None
        if not args.no_floor and not args.db and "get" in args.phases:
            floor = Server.floor(seeded.db_path, seeded.paged["id"], free_port(), args.workers, work / "floor.log")
        try:
            server.wait_ready()
            phases = asyncio.run(run_phases(args, server, floor, seeded.paged["api_key"], seeded.bulk["api_key"]))
        finally:
            server.stop()
            if floor is not None:
                floor.stop()

    result = {
        "backend": "postgresql" if args.db else "sqlite",
        "profiles": args.profiles,
        "seeded": seeded.report,
        "seed_seconds": round(seeded.seconds, 2),
        "workers": args.workers,
        "client": args.client,
        "cpus": os.cpu_count(),
        "bulk_clients": args.bulk_clients,
        "get_clients": args.get_clients,
        "job_size": args.job_size,
        "phases": {name: phase.as_dict() for name, phase in phases.items()},
        "targets": TARGETS,
        "klaviyo_steady": {k: round(v, 1) for k, v in KLAVIYO.items()},
    }
    result["figures"] = figures(result)
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
