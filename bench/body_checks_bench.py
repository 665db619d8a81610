"""The API's body checks in process: the CPU a JSON body's decode() spends beyond msgspec's typed
decode, per body, on the bulk subscribe body of 100 profiles (about 13 KB) that the bulk
benchmark posts. The checks are the nesting depth, the NUL search and the repeated-key check
(one untyped decode, its re-encoding and a count of colons in each text: repeated_key_check is
what it adds to every body). The collector runs at the server's threshold. Prints microseconds
per body (best of --repeat runs of --n bodies, CPU time of this one core). Not a test: it
asserts nothing. Run it on a quiet machine and say the load average with the figure.

    python bench/body_checks_bench.py [--profiles 100] [--n 2000] [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from assent.api.subscriptions import OPERATIONS
from assent.server import YOUNG_OBJECTS_BEFORE_COLLECTING
from assent.services.shared.nesting import too_deep
from assent.wire.bodies import decode, repeated_key


def body(profiles: int) -> bytes:
    data = [
        {"type": "profile", "attributes": {"email": f"bulk.{n}@example.com",
         "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}
        for n in range(profiles)
    ]  # fmt: skip
    job = {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": data}}}
    return msgspec.json.encode({"data": job})


def per_call(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Best CPU microseconds per call over `repeat` runs of `n` calls."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTING)  # as the server runs
    op = next(o for o in OPERATIONS if o.path == "/api/profile-subscription-bulk-create-jobs")
    raw = body(args.profiles)
    typed = msgspec.json.Decoder(op.body)
    untyped = msgspec.json.Decoder()
    generic = untyped.decode(raw)
    figures = {
        "body_bytes": len(raw),
        "typed_decode_us": per_call(lambda: typed.decode(raw), args.n, args.repeat),
        "decode_with_checks_us": per_call(lambda: decode(raw, op.body), args.n, args.repeat),
        "depth_check_us": per_call(lambda: too_deep(raw), args.n, args.repeat),
        "untyped_decode_us": per_call(lambda: untyped.decode(raw), args.n, args.repeat),
        "repeated_key_count_us": per_call(lambda: repeated_key(raw, generic), args.n, args.repeat),
        "repeated_key_check_us": per_call(lambda: repeated_key(raw, untyped.decode(raw)), args.n, args.repeat),
        "load_average_1m": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:24} {value:10.1f}" if isinstance(value, float) else f"{name:24} {value:10}")


if __name__ == "__main__":
    main()
