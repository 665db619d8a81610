"""The console's opt-out analytics over a large ledger, on SQLite and PostgreSQL.

Seeds N consent events spread over the last 400 days, in time order as a ledger grows, into one
account's ledger, straight into the table the analytics read (subscribes, unsubscribes with a
reason, a note and a message id, and suppressions by reason; the hash chain is not what is
measured), with "Received Email" events and recorded message sends for a tenth of them. Then it
times `services.console.analytics.report` — the page's whole read: counts per period, reasons,
opt-outs and sends per message — for 30 days per day, 90 days per week and a year per week, and
prints the best of --repeat runs per range and backend. Not a test: it asserts nothing.

    python bench/analytics_bench.py [--events 1000000] [--repeat 3] [--backends sqlite,postgresql]
                                    [--pg postgresql://127.0.0.1:5432/test] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, text

from assent.services.accounts import accounts
from assent.services.console import analytics
from assent.store.tables import consent_events, events, message_sends, metrics
from harness import fresh_database

NOW = datetime.now(UTC).replace(microsecond=0)
RECEIVED = "BnchRE"
BATCH = 20_000
SPAN_SECONDS = 400 * 86400  # the ledger's events spread over the last 400 days
REASONS = ["too_many", "not_relevant", "never_signed_up", "other", None]
RANGES = [("30 days per day", 30, "day"), ("90 days per week", 90, "week"), ("365 days per week", 365, "week")]
_encode = msgspec.json.encode


def _rows(account_id: str, n: int, seed: int = 11) -> Any:
    """Batches of (consent events, events, message sends) rows, in ledger order."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {"ledger": [], "events": [], "sends": []}
    for seq in range(1, n + 1):
        # The ledger is appended as things happen: its sequence follows time (a few seconds of jitter).
        at = NOW - timedelta(seconds=max(0, (n - seq) * SPAN_SECONDS // n + rng.randrange(-5, 5)))
        pid = f"01BP{seq % (n // 3 + 1):022d}"
        message = f"<m{rng.randrange(200)}@brand>"
        kind = rng.choices(["sub", "unsub", "suppress"], [0.7, 0.25, 0.05])[0]
        if kind == "sub":
            row = ("profile.subscribed", "Subscribed to Email Marketing", {"channel": "email"})
        elif kind == "unsub":
            context = {"reason": rng.choice(REASONS), "message_id": message}
            if rng.random() < 0.1:
                context["note"] = rng.choice(["Too often", "Not for me", "Moved away"])
            row = ("profile.unsubscribed", "Unsubscribed from Email Marketing", {"context": context})
        else:
            reason = rng.choice(["HARD_BOUNCE", "SPAM_COMPLAINT", "USER_SUPPRESSED"])
            row = ("suppression.added", None, {"reason": reason})
        out["ledger"].append({
            "account_id": account_id, "seq": seq, "profile_id": pid, "occurred_at": at, "type": row[0],
            "metric": row[1], "payload": _encode(row[2]).decode(), "personal": None, "personal_digest": "0" * 64,
            "prev_hash": "0" * 64, "hash": "0" * 64,
        })  # fmt: skip
        if seq % 10 == 0:  # a send reported as an event, and one recorded through POST /api/message-sends
            out["events"].append({
                "account_id": account_id, "id": f"E{seq:025d}", "metric_id": RECEIVED, "profile_id": pid,
                "occurred_at": at, "properties": _encode({"message_id": message}).decode(), "value": None,
                "value_currency": None, "unique_id": str(seq), "created_at": at,
            })  # fmt: skip
            out["sends"].append({
                "account_id": account_id, "profile_id": f"01BS{seq:022d}", "channel": "email",
                "message_id": message, "purpose": "marketing", "sent_at": at, "recorded_at": at,
            })  # fmt: skip
        if len(out["ledger"]) >= BATCH:
            yield out
            out = {k: [] for k in out}
    yield out


def seed(engine: Engine, n: int) -> tuple[str, float]:
    started = time.perf_counter()
    account_id = accounts.create_account(engine, "Analytics bench", "US").account.id
    with engine.begin() as conn:
        conn.execute(metrics.insert().values(account_id=account_id, id=RECEIVED, name="Received Email",
                                             created_at=NOW, updated_at=NOW))  # fmt: skip
    done = 0
    for batch in _rows(account_id, n):
        with engine.begin() as conn:
            for table, rows in ((consent_events, batch["ledger"]), (events, batch["events"]),
                                (message_sends, batch["sends"])):  # fmt: skip
                if rows:
                    conn.execute(table.insert(), rows)
        done += len(batch["ledger"])
        print(f"\r  seeded {done:,} ledger events", end="", flush=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print()
    return account_id, time.perf_counter() - started


def measure(engine: Engine, account_id: str, repeat: int) -> list[dict[str, Any]]:
    out = []
    today = NOW.date()
    for name, days, every in RANGES:
        times, report = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            report = analytics.report(engine, account_id, "email", today - timedelta(days=days - 1), today, every)
            times.append(time.perf_counter() - started)
        assert report is not None
        t = report.total
        out.append({"range": name, "subscribed": t.subscribed, "unsubscribed": t.unsubscribed, "sent": t.sent,
                    "best_s": round(min(times), 3), "runs_s": [round(x, 3) for x in times]})  # fmt: skip
        print(f"  {engine.dialect.name:10}  {name:18}  {t.subscribed:>8,} subscribed  {t.unsubscribed:>8,} "
              f"unsubscribed  {t.sent:>7,} sent  best {min(times):6.3f} s")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"events": args.events}
    with tempfile.TemporaryDirectory() as work:
        for backend in args.backends.split(","):
            with fresh_database(backend, Path(work), args.pg, "analyticsbench") as engine:
                print(f"{backend}: seeding {args.events:,} ledger events")
                account_id, seconds = seed(engine, args.events)
                results[backend] = {"seed_s": round(seconds, 1), "ranges": measure(engine, account_id, args.repeat)}
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
