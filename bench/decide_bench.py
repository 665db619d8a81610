"""decide() in process: decisions per second per core over a realistic mix of states and sends.

Builds a deterministic population of profile states shaped like a real audience (most email
profiles never subscribed or subscribed, some unsubscribed; a few suppressed for each reason; a
share with SMS consent, marketing or transactional only; list memberships, list suppressions and
pending double opt-ins) and a mix of sends (email campaigns and flows, transactional email, SMS,
push and WhatsApp, a share to a list, a share under a policy that requires explicit consent). Then
it calls decide() on every (state, send) pair and counts CPU time on the one core it runs on.
Prints decisions/s/core (best of --repeat), the spread of the runs and the verdicts' mix. Not a
test: it asserts nothing.

There is no floor to measure: nothing cheaper gives the same answer with its reasons.

    python bench/decide_bench.py [--states 20000] [--sends 16] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from assent.domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from assent.domain.channels import SuppressionReason
from assent.domain.decisions import Policy, Send, Via, decide

GOAL = 500_000  # issue 15: decisions/s/core
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
LISTS = [f"L{i:02d}" for i in range(8)]
S, U, N = ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED, ConsentStatus.NEVER_SUBSCRIBED


def _pick(rng: random.Random, weighted: dict[Any, float]) -> Any:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def make_state(rng: random.Random, n: int) -> ProfileState:
    at = NOW - timedelta(days=rng.randrange(1, 2000))
    consents: dict[tuple[Channel, Purpose], ChannelConsent] = {}
    email = f"p{n}@example.com" if rng.random() < 0.95 else None
    phone = f"+1555{n:07d}" if rng.random() < 0.35 else None
    status = _pick(rng, {N: 0.45, S: 0.45, U: 0.10})
    if email and status is not N:
        consents[(Channel.EMAIL, Purpose.MARKETING)] = ChannelConsent(status, at, "API", None, None, False, at)
    if phone:
        sms = _pick(rng, {"none": 0.4, "marketing": 0.4, "transactional": 0.1, "unsubscribed": 0.1})
        if sms == "marketing":
            for purpose in (Purpose.MARKETING, Purpose.TRANSACTIONAL):
                consents[(Channel.SMS, purpose)] = ChannelConsent(S, at, "SMS", None, None, False, at)
        elif sms == "transactional":
            consents[(Channel.SMS, Purpose.TRANSACTIONAL)] = ChannelConsent(S, at, "SMS", None, None, False, at)
        elif sms == "unsubscribed":
            for purpose in (Purpose.MARKETING, Purpose.TRANSACTIONAL):
                consents[(Channel.SMS, purpose)] = ChannelConsent(U, at, "SMS", None, None, False, at)
        if rng.random() < 0.1:
            consents[(Channel.WHATSAPP, Purpose.MARKETING)] = ChannelConsent(S, at, "API", None, None, False, at)
    if rng.random() < 0.15:
        consents[(Channel.PUSH, Purpose.MARKETING)] = ChannelConsent(S, at, "API", None, None, False, at)
    suppressions = {}
    if rng.random() < 0.04:
        suppressions[rng.choice(list(SuppressionReason))] = at
    lists = {name: at for name in rng.sample(LISTS, rng.choice((0, 0, 1, 1, 2, 3)))}
    list_suppressions = {}
    if rng.random() < 0.03:
        list_suppressions[rng.choice(LISTS)] = ListSuppression("UNSUBSCRIBE", at)
    pending = {}
    if rng.random() < 0.03:
        pending[(Channel.EMAIL, Purpose.MARKETING, rng.choice(LISTS))] = PendingOptIn(at, "API")
    return ProfileState(
        MappingProxyType(consents), MappingProxyType(suppressions), MappingProxyType(list_suppressions),
        MappingProxyType(lists), MappingProxyType(pending), email, phone,
    )  # fmt: skip


def make_sends(rng: random.Random, n: int) -> list[Send]:
    strict = Policy(email_campaigns_require_explicit_consent=True)
    shapes = [
        (Channel.EMAIL, Purpose.MARKETING, Via.CAMPAIGN), (Channel.EMAIL, Purpose.MARKETING, Via.FLOW),
        (Channel.EMAIL, Purpose.TRANSACTIONAL, Via.FLOW), (Channel.SMS, Purpose.MARKETING, Via.CAMPAIGN),
        (Channel.SMS, Purpose.TRANSACTIONAL, Via.FLOW), (Channel.PUSH, Purpose.MARKETING, Via.CAMPAIGN),
        (Channel.WHATSAPP, Purpose.MARKETING, Via.CAMPAIGN),
    ]  # fmt: skip
    sends = []
    for i in range(n):
        channel, purpose, via = shapes[i % len(shapes)]
        list_id = rng.choice(LISTS) if purpose is Purpose.MARKETING and rng.random() < 0.4 else None
        policy = strict if rng.random() < 0.25 else Policy()
        sends.append(Send(channel, NOW, purpose, via, list_id, policy))
    return sends


def run(states: list[ProfileState], sends: list[Send]) -> tuple[float, Counter]:
    """CPU seconds for decide() on every pair, and the verdicts."""
    verdicts: Counter = Counter()
    started = time.process_time()
    for send in sends:
        for state in states:
            verdicts[decide(state, send).verdict] += 1
    return time.process_time() - started, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=20_000)
    parser.add_argument("--sends", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = random.Random(15)
    states = [make_state(rng, n) for n in range(args.states)]
    sends = make_sends(rng, args.sends)
    decisions = len(states) * len(sends)
    rates, verdicts = [], Counter()
    for _ in range(args.repeat):
        seconds, verdicts = run(states, sends)
        rates.append(decisions / seconds)
    best = max(rates)
    result = {
        "decisions_per_run": decisions,
        "runs": args.repeat,
        "decisions_per_s_per_core": round(best),
        "spread": [round(min(rates)), round(max(rates))],
        "verdicts": {str(k): v for k, v in sorted(verdicts.items())},
        "goal": GOAL,
        "ratio_to_goal": round(best / GOAL, 2),
    }
    result["figures"] = [{
        "path": "decide() in process, decisions/s/core", "assent": result["decisions_per_s_per_core"], "floor": None,
        "floor_kind": "none", "ratio": None, "goal": f">= {GOAL:,}/s/core",
        "detail": f"runs {result['spread'][0]:,}-{result['spread'][1]:,}",
    }]  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    print(f"decide() over {args.states:,} states x {args.sends} sends = {decisions:,} decisions per run, "
          f"{args.repeat} runs on one core")  # fmt: skip
    print(f"  {best:,.0f} decisions/s/core (runs {min(rates):,.0f} - {max(rates):,.0f}); goal >= {GOAL:,} "
          f"({result['ratio_to_goal']}x the goal); floor: none (nothing cheaper gives the same answer)")  # fmt: skip
    print(f"  verdicts: {result['verdicts']}")


if __name__ == "__main__":
    main()
