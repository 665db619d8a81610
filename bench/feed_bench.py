"""Read benchmark: full paging of profiles with subscriptions, and the change feed, each against its
floor measured in the same run over the same database.

Seeds N synthetic profiles (email subscribed: one consent row and one ledger event each) with
`assent profiles import` into a fresh SQLite file, starts `assent serve` (rate limits off) and, with
one keep-alive client following links.next as a sync job would:

  (a) pages every profile: GET /api/profiles?page[size]=100&additional-fields[profile]=subscriptions;
  (b) reads the whole change feed: GET /api/consent-events?page[size]=1000.

Each floor runs in this process on the same file with the bare sqlite3 driver: the same keyset
scan (the page's rows, then the consents and suppressions of those profiles; or the page's ledger
rows) and a msgspec encode of the very documents Assent served, page by page. It is the cost of
reading the rows and writing the bytes, with no HTTP, no framework and no document building.
Prints Assent's rate, the floor's and the ratio (how many times slower than the floor). Not a
test: it asserts nothing.

    python bench/feed_bench.py [--profiles 100000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from harness import Phase, RawClient, Server, api_headers, fmt, free_port, page_all, ratio, seed_sqlite

TARGETS = {"paging": 30_000, "feed": 100_000, "ratio": 2.0}  # issue 15's goals
PAGING = "/api/profiles?page%5Bsize%5D={size}&additional-fields%5Bprofile%5D=subscriptions"
FEED = "/api/consent-events?page%5Bsize%5D={size}"
_decode = msgspec.json.decode
_encode = msgspec.json.encode

_PROFILES_PAGE = "SELECT * FROM profiles WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?"
# The same index probes as Assent's projection read: the page's ids as a json_each table.
_CONSENTS_OF = (
    "SELECT consents.* FROM json_each(?) AS wanted CROSS JOIN consents "
    "ON consents.account_id = ? AND consents.profile_id = wanted.value"
)
_SUPPRESSIONS_OF = (
    "SELECT suppressions.* FROM json_each(?) AS wanted CROSS JOIN suppressions "
    "ON suppressions.account_id = ? AND suppressions.profile_id = wanted.value"
)
_EVENTS_PAGE = "SELECT * FROM consent_events WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?"


def paging_floor(db: sqlite3.Connection, account_id: str, size: int, docs: list[Any]) -> tuple[float, int]:
    """Seconds to scan every profile page by keyset with its consents and suppressions, and to
    encode each of the documents Assent served; and the profiles scanned."""
    started, after, scanned = time.perf_counter(), "", 0
    for doc in docs + [None]:  # one more scan than pages: the empty one that ends the walk
        db.execute("BEGIN")
        rows = db.execute(_PROFILES_PAGE, (account_id, after, size)).fetchall()
        if rows:
            ids = _encode([r[1] for r in rows]).decode()
            db.execute(_CONSENTS_OF, (ids, account_id)).fetchall()
            db.execute(_SUPPRESSIONS_OF, (ids, account_id)).fetchall()
            after, scanned = rows[-1][1], scanned + len(rows)
        db.execute("COMMIT")
        if doc is not None:
            _encode(doc)
        if len(rows) < size:
            break
    return time.perf_counter() - started, scanned


def feed_floor(db: sqlite3.Connection, account_id: str, size: int, docs: list[Any]) -> tuple[float, int]:
    """Seconds to scan the account's ledger in pages of `size` by seq and encode Assent's documents."""
    started, after, scanned = time.perf_counter(), 0, 0
    for doc in docs + [None]:
        rows = db.execute(_EVENTS_PAGE, (account_id, after, size)).fetchall()
        if rows:
            after, scanned = rows[-1][1], scanned + len(rows)
        if doc is not None:
            _encode(doc)
        if len(rows) < size:
            break
    return time.perf_counter() - started, scanned


async def walk(server: Server, key: str, first: str, name: str) -> tuple[Phase, list[Any]]:
    client = RawClient("127.0.0.1", server.port, api_headers(key))
    try:
        phase, bodies = await page_all(client, server, first, name)
    finally:
        await client.close()
    return phase, [_decode(b) for b in bodies]


def measure(args: argparse.Namespace, server: Server, db_path: Path, account: dict[str, Any]) -> dict[str, Any]:
    """One round: Assent's walk, then its floor, for paging and for the feed (best of --repeat)."""
    db = sqlite3.connect(db_path, isolation_level=None)
    out: dict[str, Any] = {}
    try:
        for name, first, size, floor in (
            ("paging", PAGING.format(size=args.page_size), args.page_size, paging_floor),
            ("feed", FEED.format(size=args.feed_page_size), args.feed_page_size, feed_floor),
        ):
            best: dict[str, Any] | None = None
            for _ in range(args.repeat):
                phase, docs = asyncio.run(walk(server, account["api_key"], first, name))
                floor_seconds, scanned = floor(db, account["id"], size, docs)
                run = {**phase.as_dict(), "floor_seconds": round(floor_seconds, 3), "floor_items": scanned,
                       "floor_items_per_s": round(scanned / floor_seconds) if floor_seconds else 0}  # fmt: skip
                if best is None or run["items_per_s"] > best["items_per_s"]:
                    best = run
            assert best is not None
            best["ratio"] = ratio(best["items_per_s"], best["floor_items_per_s"])
            out[name] = best
    finally:
        db.close()
    return out


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    p = result["phases"]
    return [
        {"path": "full paging with subscriptions, profiles/s", "assent": p["paging"]["items_per_s"],
         "floor": p["paging"]["floor_items_per_s"], "floor_kind": "keyset scan + msgspec encode",
         "ratio": p["paging"]["ratio"], "goal": f">= {TARGETS['paging']:,}/s and <= {TARGETS['ratio']}x floor",
         "detail": f"page p99 {fmt(p['paging']['p99_ms'])} ms"},
        {"path": "change feed GET /api/consent-events, events/s", "assent": p["feed"]["items_per_s"],
         "floor": p["feed"]["floor_items_per_s"], "floor_kind": "keyset scan + msgspec encode",
         "ratio": p["feed"]["ratio"], "goal": f">= {TARGETS['feed']:,}/s and <= {TARGETS['ratio']}x floor",
         "detail": f"page p99 {fmt(p['feed']['p99_ms'])} ms"},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100, help="profiles per page (Klaviyo's maximum)")
    parser.add_argument("--feed-page-size", type=int, default=1000, help="events per change-feed page")
    parser.add_argument("--repeat", type=int, default=3, help="walks of each; the best is kept")
    parser.add_argument("--workers", type=int, default=1, help="server processes (one client uses one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seeded = seed_sqlite(work, args.profiles)
        server = Server.assent(seeded.db_url, free_port(), args.workers, work / "server.log")
        try:
            server.wait_ready()
            phases = measure(args, server, seeded.db_path, seeded.paged)
        finally:
            server.stop()

    result = {
        "backend": "sqlite",
        "profiles": args.profiles,
        "seeded": seeded.report,
        "seed_seconds": round(seeded.seconds, 2),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "phases": phases,
        "targets": TARGETS,
    }
    result["figures"] = figures(result)
    if args.json:
        print(json.dumps(result))
        return
    print(f"assent serve on SQLite, {args.profiles:,} seeded profiles (import {result['seed_seconds']} s), one "
          f"client, best of {args.repeat}, {result['cpus']} CPUs shared by server and client")  # fmt: skip
    print(f"\n  {'':48} {'Assent':>10} {'floor':>10} {'ratio':>6}  goal")
    for row in result["figures"]:
        print(f"  {row['path']:48} {fmt(row['assent']):>10} {fmt(row['floor']):>10} {fmt(row['ratio']):>6}  "
              f"{row['goal']}")  # fmt: skip
    for name, ph in phases.items():
        print(f"  {name:7} {ph['items']:>8,} items, {ph['requests']:,} requests in {ph['seconds']} s "
              f"(server CPU {ph['server_cpu_s']} s, statuses {ph['statuses']}); floor {ph['floor_items']:,} in "
              f"{ph['floor_seconds']} s")  # fmt: skip


if __name__ == "__main__":
    main()
