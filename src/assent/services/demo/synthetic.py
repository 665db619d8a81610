"""Deterministic synthetic profiles, for the demo and the benchmarks."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Tim", "Frances", "Donald"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds", "Perlman", "Lee"]
CITIES = [
    ("Portland", "OR", "US", "America/Los_Angeles"),
    ("Austin", "TX", "US", "America/Chicago"),
    ("Boston", "MA", "US", "America/New_York"),
    ("Denver", "CO", "US", "America/Denver"),
]
HEADER = [
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "city",
    "region",
    "country",
    "timezone",
    "loyalty_tier",
    "email_consent",
    "sms_consent",
]
AREA_CODES = ["206", "212", "303", "312", "415", "503", "512", "617", "646", "702", "713", "917"]


def phone(i: int) -> str:
    """A valid, distinct US number for every i below 7.2 million."""
    exchange = 230 + (i // 10000) % 720  # 230..949, skipping nothing phonenumbers rejects in these area codes
    return f"+1{AREA_CODES[i % len(AREA_CODES)]}{exchange:03d}{i % 10000:04d}"


def rows(n: int, seed: int = 7, invalid_ratio: float = 0.0, consent_mix: bool = False) -> Iterator[list[str]]:
    """n rows in HEADER order; about `invalid_ratio` of them carry a malformed email or phone."""
    rng = random.Random(seed)
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city = rng.choice(CITIES)
        email, number = f"{first.lower()}.{last.lower()}.{i}@example.com", phone(i)
        if invalid_ratio and rng.random() < invalid_ratio:
            if rng.random() < 0.5:
                email = f"{first.lower()}.{i}@@example"
            else:
                number = f"+1{i % 1000:03d}"
        email_consent = sms_consent = ""
        if consent_mix:
            r = rng.random()
            email_consent = "SUBSCRIBED" if r < 0.6 else "UNSUBSCRIBED" if r < 0.7 else "NEVER_SUBSCRIBED"
            sms_consent = "SUBSCRIBED" if rng.random() < 0.3 else ""
        tier = rng.choice(["bronze", "silver", "gold"])
        yield [email, number, f"cust-{i:08d}", first, last, *city, tier, email_consent, sms_consent]


def write_csv(path: str | Path, n: int, seed: int = 7, invalid_ratio: float = 0.0, consent_mix: bool = False) -> Path:
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows(n, seed, invalid_ratio, consent_mix))
    return path
