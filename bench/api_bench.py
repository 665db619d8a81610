"""HTTP API benchmark: bulk subscribe, get-profile and full paging against a real `assent serve`.

Seeds N synthetic profiles (email subscribed) with `assent profiles import` into a fresh SQLite
database, starts `assent serve` on a loopback port with rate limits off, and measures with
concurrent keep-alive clients:

  (a) paging: every seeded profile, page[size]=100 with subscriptions, following links.next;
  (b) GET /api/profiles/{id}?additional-fields[profile]=subscriptions over random seeded ids;
  (c) sustained bulk subscribe: 100-profile jobs of new emails (email marketing), in a second
      account so the paged account keeps exactly N profiles.

Prints throughput, p50/p99 latency, CPU used by the server and by the client (they share the same
cores), Klaviyo's published steady limits and the targets. Not a test: it asserts nothing.

    python bench/api_bench.py [--profiles 100000] [--seconds 15] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from assent.services import synthetic

REVISION = "2026-10-15"
# Klaviyo's published steady limits (requests per minute x items per request, per second):
# bulk subscribe 700/min x 1000 profiles, get profile 700/min, get profiles 700/min x 100 profiles.
KLAVIYO = {"bulk": 700 / 60 * 1000, "get": 700 / 60, "paging": 700 / 60 * 100}
TARGETS = {"bulk": 20_000, "bulk_p99_ms": 100, "get": 3_000, "get_p99_ms": 25, "paging": 30_000}
_decode = msgspec.json.decode
_encode = msgspec.json.encode


# --- a small HTTP/1.1 keep-alive client --------------------------------------------------------


class RawClient:
    """One keep-alive connection, requests one at a time. httpx costs several times more CPU per
    request than the server's own parsing, and here the client competes with the server for the
    same cores, so the default client writes and parses HTTP/1.1 by hand."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        assert self.reader is not None
        length = f"Content-Length: {len(body)}\r\n" if body is not None else ""
        self.writer.write(f"{method} {target} HTTP/1.1\r\n{self.fixed}{length}\r\n".encode() + (body or b""))
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head[9:12])
        if "transfer-encoding: chunked" in head:
            content = await self._chunks()
        else:
            start = head.find("content-length:")
            size = int(head[start + 15 : head.index("\r\n", start)]) if start >= 0 else 0
            content = await self.reader.readexactly(size) if size else b""
        if "connection: close" in head:
            await self.close()
        return status, content

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)[:-2]
            parts[-1] = parts[-1][:-2]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class HttpxClient:
    """httpx.AsyncClient behind the same interface, to compare the clients' cost (--client httpx)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=f"http://{host}:{port}", headers=headers, timeout=60)

    async def request(self, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
        response = await self.client.request(method, target, content=body)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


Client = RawClient | HttpxClient


# --- the server ----------------------------------------------------------------------------------


def assent_command() -> str:
    return shutil.which("assent", path=str(Path(sys.executable).parent)) or "assent"


def run_json(*args: str) -> Any:
    out = subprocess.run([assent_command(), *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`assent serve` as a subprocess, with rate limits off (they would cap every figure here)."""

    def __init__(self, db_url: str, port: int, workers: int, log: Path) -> None:
        env = {**os.environ, "ASSENT_RATE_LIMIT_SCALE": "off"}
        cmd = [assent_command(), "serve", "--db", db_url, "--port", str(port), "--workers", str(workers)]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = port

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"assent serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("assent serve did not start")

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes so far (Linux /proc; 0 elsewhere)."""
        return sum(_proc_cpu(pid) for pid in _descendants(self.proc.pid))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    requests: int = 0
    items: int = 0  # profiles subscribed or paged
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "items": self.items,
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "items_per_s": round(self.items / self.seconds) if self.seconds else 0,
            "p50_ms": _round(self.percentile(0.50)),
            "p99_ms": _round(self.percentile(0.99)),
            "max_ms": _round(self.percentile(1.0)),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_cpu_s": round(self.server_cpu, 2),
            "client_cpu_s": round(self.client_cpu, 2),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def timed(
    phase: Phase,
    clients: list[Client],
    step: Callable[[Client], Awaitable[tuple[int, int]]],
    seconds: float,
    warmup: float,
    server: Server,
) -> None:
    """Run `step` (one request; returns the items it handled and the status) in a loop on every
    client for warmup + seconds; only requests that start after the warm-up count."""
    started = time.perf_counter()
    measure_from, stop_at = started + warmup, started + warmup + seconds
    marks: dict[str, float] = {}  # CPU clocks when the measured part starts

    async def loop(client: Client) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            if t0 >= measure_from and not marks:
                marks["server"], marks["client"] = server.cpu_seconds(), time.process_time()
            items, status = await step(client)
            if t0 >= measure_from:
                phase.latencies.append(time.perf_counter() - t0)
                phase.requests += 1
                phase.statuses[status] += 1
                phase.items += items

    await asyncio.gather(*(loop(c) for c in clients))
    phase.seconds = time.perf_counter() - measure_from
    phase.server_cpu = server.cpu_seconds() - marks.get("server", 0.0)
    phase.client_cpu = time.process_time() - marks.get("client", 0.0)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def page_all(client: Client, server: Server, page_size: int) -> tuple[Phase, list[str]]:
    """Follow links.next from the first page to the last, one request at a time, as a sync job would."""
    phase, ids = Phase("paging"), []
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    target: str | None = f"/api/profiles?page%5Bsize%5D={page_size}&additional-fields%5Bprofile%5D=subscriptions"
    started = time.perf_counter()
    while target:
        t0 = time.perf_counter()
        status, body = await client.request("GET", target)
        phase.latencies.append(time.perf_counter() - t0)
        phase.requests += 1
        phase.statuses[status] += 1
        if status != 200:
            break
        doc = _decode(body)
        ids += [r["id"] for r in doc["data"]]
        phase.items += len(doc["data"])
        target = _target(doc["links"]["next"]) if doc["links"].get("next") else None
    phase.seconds = time.perf_counter() - started
    phase.server_cpu, phase.client_cpu = server.cpu_seconds() - cpu0, time.process_time() - client0
    return phase, ids


def subscribe_body(first: int, size: int) -> bytes:
    profiles = [
        {"type": "profile", "attributes": {"email": f"bulk.{n}@example.com",
         "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}
        for n in range(first, first + size)
    ]  # fmt: skip
    job = {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": profiles}}}
    return _encode({"data": job})


async def run_phases(args: argparse.Namespace, server: Server, paged_key: str, bulk_key: str) -> dict[str, Phase]:
    make = HttpxClient if args.client == "httpx" else RawClient
    base = {"revision": REVISION, "Accept": "application/vnd.api+json"}

    def clients(key: str, n: int) -> list[Client]:
        headers = {**base, "Authorization": f"Klaviyo-API-Key {key}", "Content-Type": "application/vnd.api+json"}
        return [make("127.0.0.1", server.port, headers) for _ in range(n)]

    phases: dict[str, Phase] = {}
    (pager,) = clients(paged_key, 1)
    phases["paging"], ids = await page_all(pager, server, args.page_size)
    await pager.close()

    if ids:
        rng = random.Random(7)
        getters = clients(paged_key, args.get_clients)

        async def get_one(client: Client) -> tuple[int, int]:
            status, _ = await client.request(
                "GET", f"/api/profiles/{rng.choice(ids)}/?additional-fields%5Bprofile%5D=subscriptions"
            )
            return (1 if status == 200 else 0), status

        phases["get"] = Phase("get")
        await timed(phases["get"], getters, get_one, args.seconds, args.warmup, server)
        await asyncio.gather(*(c.close() for c in getters))

    counter = iter(range(0, 1 << 62, args.job_size))
    writers = clients(bulk_key, args.bulk_clients)

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


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.1f}{unit}"


def print_report(result: dict[str, Any]) -> None:
    p = result["phases"]
    print(f"assent serve --workers {result['workers']} on SQLite, {result['profiles']:,} seeded profiles "
          f"(import {result['seed_seconds']} s), client: {result['client']}, {result['cpus']} CPUs shared by "
          "server and client")  # fmt: skip
    rows = []
    if "bulk" in p:
        b = p["bulk"]
        rows.append(("bulk subscribe, profiles/s", b["items_per_s"], TARGETS["bulk"], KLAVIYO["bulk"]))
        rows.append(("  POST p50 / p99 ms", f"{_fmt(b['p50_ms'])} / {_fmt(b['p99_ms'])}",
                     f"p99 <= {TARGETS['bulk_p99_ms']}", None))  # fmt: skip
    if "get" in p:
        g = p["get"]
        rows.append(("get profile, req/s", g["requests_per_s"], TARGETS["get"], KLAVIYO["get"]))
        rows.append(("  GET p50 / p99 ms", f"{_fmt(g['p50_ms'])} / {_fmt(g['p99_ms'])}",
                     f"p99 <= {TARGETS['get_p99_ms']}", None))  # fmt: skip
    pg = p["paging"]
    rows.append(("paging, profiles/s", pg["items_per_s"], TARGETS["paging"], KLAVIYO["paging"]))
    rows.append(("  page p50 / p99 ms", f"{_fmt(pg['p50_ms'])} / {_fmt(pg['p99_ms'])}", "", None))
    print(f"\n  {'':30} {'measured':>16} {'target':>14} {'Klaviyo steady':>15}")
    for name, measured, target, klaviyo in rows:
        m = measured if isinstance(measured, str) else _fmt(measured)
        t = target if isinstance(target, str) else f">= {target:,}"
        print(f"  {name:30} {m:>16} {t:>14} {_fmt(klaviyo):>15}")
    print()
    for name, ph in p.items():
        busy = (ph["server_cpu_s"] + ph["client_cpu_s"]) / ph["seconds"] if ph["seconds"] else 0
        print(f"  {name:7} {ph['requests']:>7,} requests in {ph['seconds']:6.2f} s, statuses {ph['statuses']}; "
              f"CPU s: server {ph['server_cpu_s']}, client {ph['client_cpu_s']} ({busy:.2f} of {result['cpus']} "
              "cores busy)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000, help="profiles seeded, then paged")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured length of the get and bulk phases")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured start of the get and bulk phases")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--get-clients", type=int, default=16)
    parser.add_argument("--job-size", type=int, default=100, help="profiles per bulk subscribe job")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = f"sqlite:///{work / 'assent.db'}"
        subprocess.run([assent_command(), "db", "upgrade", "--db", db], check=True, capture_output=True)
        paged = run_json("accounts", "create", "Bench paging", "--db", db)
        bulk = run_json("accounts", "create", "Bench bulk", "--db", db)
        csv_path = synthetic.write_csv(work / "profiles.csv", args.profiles)
        started = time.perf_counter()
        seeded = run_json("profiles", "import", str(csv_path), "--account", paged["id"], "--subscribe", "email",
                          "--db", db)  # fmt: skip
        seed_seconds = time.perf_counter() - started
        server = Server(db, free_port(), args.workers, work / "server.log")
        try:
            server.wait_ready()
            phases = asyncio.run(run_phases(args, server, paged["api_key"], bulk["api_key"]))
        finally:
            server.stop()

    result = {
        "backend": "sqlite",
        "profiles": args.profiles,
        "seeded": seeded,
        "seed_seconds": round(seed_seconds, 2),
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
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
