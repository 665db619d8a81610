"""Every benchmark in one table: path | Assent | floor | ratio | goal.

Runs bench/import_bench.py (SQLite, and PostgreSQL with --postgres), bench/api_bench.py (its bulk
subscribe on PostgreSQL too, with --postgres), bench/feed_bench.py and bench/decide_bench.py one
after another (never at once: they would share the cores), each with --json, and prints one row per
figure. `ratio` is how many times slower than its floor Assent is (1.0 = at the floor); for bulk
subscribe the floor is an anchor (Klaviyo's steady limit), for the re-import it is the first import.
Not a test: it asserts nothing.

    python bench/run_all.py [--quick] [--postgres postgresql://127.0.0.1:5432/test] [--json]

--quick uses small sizes (a few minutes on 2 cores); without it, the sizes of issue 15's table
(1M-profile imports take several minutes each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import BENCH_DIR, fmt

SIZES = {
    "quick": {"import": [20_000], "api": ["--profiles", "20000", "--seconds", "5"],
              "feed": ["--profiles", "20000", "--repeat", "2"], "decide": ["--states", "5000", "--repeat", "3"]},
    "full": {"import": [100_000, 1_000_000], "api": ["--profiles", "100000", "--seconds", "15"],
             "feed": ["--profiles", "100000", "--repeat", "3"], "decide": ["--states", "20000", "--repeat", "5"]},
}  # fmt: skip


def run_script(name: str, *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(BENCH_DIR / name), *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{name} {' '.join(args)} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
        return {"figures": [], "error": out.stderr[-3000:]}
    result = json.loads(out.stdout)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(f"  {name} {' '.join(args)}: {result['wall_seconds']} s", file=sys.stderr)
    return result


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{os.cpu_count()} CPUs {model}, Python {platform.python_version()}, {platform.system()}{load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--postgres", metavar="URL", help="also import into this PostgreSQL server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]

    print(f"on {machine()}", file=sys.stderr)
    results: dict[str, Any] = {}
    for n in sizes["import"]:
        results[f"import_sqlite_{n}"] = run_script("import_bench.py", "--profiles", str(n))
        if args.postgres:
            pg = run_script("import_bench.py", "--profiles", str(n), "--db", args.postgres)
            results[f"import_postgresql_{n}"] = pg
    results["api"] = run_script("api_bench.py", *sizes["api"])
    if args.postgres:  # bulk subscribe on PostgreSQL (the GET floor reads a SQLite file: SQLite's row has it)
        results["api_postgresql"] = run_script("api_bench.py", *sizes["api"], "--db", args.postgres, "--phases", "bulk")
    results["feed"] = run_script("feed_bench.py", *sizes["feed"])
    results["decide"] = run_script("decide_bench.py", *sizes["decide"])
    rows = [row for result in results.values() for row in result["figures"]]
    summary = {"machine": machine(), "quick": args.quick, "rows": rows, "results": results}
    if args.json:
        print(json.dumps(summary))
        return
    print(f"\nOn {summary['machine']}{' (--quick sizes)' if args.quick else ''}; ratio = times slower than the floor\n")
    print("| path | Assent | floor | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        floor = f"{fmt(row['floor'])} ({row['floor_kind']})" if row["floor"] is not None else "-"
        ratio = f"{row['ratio']}x" if row["ratio"] is not None else "-"
        print(f"| {row['path']} | {fmt(row['assent'])} ({row['detail']}) | {floor} | {ratio} | {row['goal']} |")


if __name__ == "__main__":
    main()
