"""Segment counts over a large population, on SQLite and PostgreSQL: membership is computed on
read, so a count is one query over every profile of the account.

Seeds N synthetic profiles straight into the tables the compiled SQL reads (profiles with a
country and properties, email and SMS consent rows, a few suppressions, list memberships and
"Placed Order" events), the same population on each backend, then times `store.segments.count`
for a handful of definitions, among them the README's worked example ("subscribed to SMS, not to
email, ordered in the last 90 days, in the EU"). Prints the member count and the best of
--repeat runs per definition and backend. Not a test: it asserts nothing.

    python bench/segment_bench.py [--profiles 1000000] [--repeat 3] [--backends sqlite,postgresql]
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

from sqlalchemy import Engine, text

from assent.domain.segments import parse_definition
from assent.services.activity.metrics import BUILTIN_BY_ID
from assent.store import segments as compiled
from assent.store.tables import consents, events, list_members, metrics, profiles, suppressions
from harness import fresh_database

NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNT = "01BENCHSEGMENTS00000000000"
PLACED_ORDER = "BnchPO"
COUNTRIES = ["US", "US", "US", "Germany", "FR", "Canada", "NL", "United Kingdom", None]
BATCH = 20_000


def _consent(channel: str, can_receive: bool, subscription: str) -> dict[str, Any]:
    return {
        "type": "profile-marketing-consent",
        "consent": {
            "channel": channel,
            "can_receive_marketing": can_receive,
            "consent_status": {"subscription": subscription},
        },
    }


DEFINITIONS: dict[str, dict[str, Any]] = {
    "email subscribed": {"condition_groups": [{"conditions": [_consent("email", True, "subscribed")]}]},
    "in the EU": {
        "condition_groups": [
            {"conditions": [{"type": "profile-region", "in_region": True, "region": "european_union"}]}
        ]
    },
    "property vip = true": {
        "condition_groups": [
            {
                "conditions": [
                    {
                        "type": "profile-property",
                        "property": "properties['vip']",
                        "filter": {"type": "boolean", "operator": "equals", "value": True},
                    }
                ]
            }
        ]
    },
    "ordered 3+ times ever": {
        "condition_groups": [
            {
                "conditions": [
                    {
                        "type": "profile-metric",
                        "metric_id": PLACED_ORDER,
                        "measurement": "count",
                        "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 3},
                        "timeframe_filter": {"type": "date", "operator": "alltime"},
                    }
                ]
            }
        ]
    },
    "worked example (SMS, not email, ordered 90 days, EU)": {
        "condition_groups": [
            {"conditions": [_consent("sms", True, "subscribed")]},
            {"conditions": [_consent("email", True, "never_subscribed"), _consent("email", False, "any")]},
            {
                "conditions": [
                    {
                        "type": "profile-metric",
                        "metric_id": PLACED_ORDER,
                        "measurement": "count",
                        "measurement_filter": {"type": "numeric", "operator": "greater-than", "value": 0},
                        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 90, "unit": "day"},
                    }
                ]
            },
            {"conditions": [{"type": "profile-region", "in_region": True, "region": "european_union"}]},
        ]
    },
    "can receive SMS marketing (decide)": {
        "condition_groups": [{"conditions": [{"type": "assent-can-receive", "channel": "sms", "can_receive": True}]}]
    },
}


def _rows(n: int, seed: int = 7) -> Any:
    """Batches of (profiles, consents, suppressions, list members, events) rows."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {
        "profiles": [],
        "consents": [],
        "suppressions": [],
        "members": [],
        "events": [],
    }
    for i in range(n):
        pid = f"01BENCH{i:019d}"
        created = NOW - timedelta(days=rng.randrange(1, 1000))
        phone = f"+1555{i:07d}" if rng.random() < 0.4 else None
        out["profiles"].append(
            {
                "account_id": ACCOUNT,
                "id": pid,
                "email": f"p{i}@example.com",
                "phone_number": phone,
                "country": rng.choice(COUNTRIES),
                "properties": '{"vip": true}' if rng.random() < 0.05 else "{}",
                "created_at": created,
                "updated_at": created,
            }
        )
        status = rng.choices(["SUBSCRIBED", "UNSUBSCRIBED", None], [0.45, 0.1, 0.45])[0]
        if status:
            out["consents"].append(_consent_row(pid, "email", "marketing", status, created))
        if phone and rng.random() < 0.6:
            for purpose in ("marketing", "transactional"):
                out["consents"].append(_consent_row(pid, "sms", purpose, "SUBSCRIBED", created))
        if rng.random() < 0.03:
            reason = rng.choice(["HARD_BOUNCE", "USER_SUPPRESSED", "SPAM_COMPLAINT"])
            out["suppressions"].append(
                {"account_id": ACCOUNT, "profile_id": pid, "reason": reason, "created_at": created}
            )
        if rng.random() < 0.3:
            out["members"].append({"account_id": ACCOUNT, "list_id": "BnchL1", "profile_id": pid, "joined_at": created})
        for k in range(rng.choices([0, 1, 2, 4], [0.6, 0.25, 0.1, 0.05])[0]):
            at = NOW - timedelta(days=rng.randrange(0, 400))
            out["events"].append(
                {
                    "account_id": ACCOUNT,
                    "id": f"E{i:022d}{k:03d}",
                    "metric_id": PLACED_ORDER,
                    "profile_id": pid,
                    "occurred_at": at,
                    "properties": "{}",
                    "value": 50.0,
                    "value_currency": "USD",
                    "unique_id": str(k),
                    "created_at": at,
                }
            )
        if len(out["profiles"]) >= BATCH:
            yield out
            out = {k: [] for k in out}
    yield out


def _consent_row(pid: str, channel: str, purpose: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "profile_id": pid,
        "channel": channel,
        "purpose": purpose,
        "status": status,
        "consent_timestamp": at,
        "method": "API",
        "double_optin": False,
        "last_updated": at,
    }


def seed(engine: Engine, n: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            metrics.insert().values(
                account_id=ACCOUNT, id=PLACED_ORDER, name="Placed Order", created_at=NOW, updated_at=NOW
            )
        )
    tables = {
        "profiles": profiles,
        "consents": consents,
        "suppressions": suppressions,
        "members": list_members,
        "events": events,
    }
    done = 0
    for batch in _rows(n):
        with engine.begin() as conn:
            for name, table in tables.items():
                if batch[name]:
                    conn.execute(table.insert(), batch[name])
        done += len(batch["profiles"])
        print(f"\r  seeded {done:,} profiles", end="", flush=True)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print()
    return time.perf_counter() - started


def measure(engine: Engine, repeat: int) -> list[dict[str, Any]]:
    scope = compiled.Scope(ACCOUNT, NOW, engine.dialect.name, segments={}, ledger_metrics=BUILTIN_BY_ID)
    out = []
    for name, raw in DEFINITIONS.items():
        definition = parse_definition(raw)
        times, members = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            with engine.connect() as conn:
                members = compiled.count(conn, scope, definition)
            times.append(time.perf_counter() - started)
        out.append(
            {
                "definition": name,
                "members": members,
                "best_s": round(min(times), 3),
                "runs_s": [round(t, 3) for t in times],
            }
        )
        print(f"  {engine.dialect.name:10}  {name:55}  {members:>9,} members  best {min(times):7.3f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"profiles": args.profiles}
    with tempfile.TemporaryDirectory() as work:
        for backend in args.backends.split(","):
            with fresh_database(backend, Path(work), args.pg, "segbench") as engine:
                print(f"{backend}: seeding {args.profiles:,} profiles")
                seeded = seed(engine, args.profiles)
                print(f"  seeded in {seeded:.0f} s")
                results[backend] = {"seed_s": round(seeded, 1), "counts": measure(engine, args.repeat)}
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
