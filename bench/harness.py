"""What the benchmarks share: a raw keep-alive HTTP client, servers run as subprocesses (with
their CPU time read from /proc), timed phases with latency percentiles, seeding a SQLite database
through the real `assent` command, and the figure | floor | ratio lines every script prints.

Not a test and not part of the package: the bench scripts import it from their own folder.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import Engine, create_engine, text

import assent
from assent.services.demo import synthetic
from assent.store.db import database_url, make_engine, upgrade

BENCH_DIR = Path(__file__).resolve().parent
REVISION = "2026-10-15"
_decode = msgspec.json.decode


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


# The `assent` commands a bench starts run as an installed package runs: from bytecode compiled
# once (pip compiles it when it installs), not from source compiled again at every start, which
# PYTHONDONTWRITEBYTECODE in the environment would have them do (a fifth of a short import's time).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
compileall.compile_dir(Path(assent.__file__).parent, quiet=1)

# --- the server ----------------------------------------------------------------------------------


def assent_command() -> str:
    return shutil.which("assent", path=str(Path(sys.executable).parent)) or "assent"


# Started from a small process, a command's peak RSS is its own: a child spawned by a large
# process (vfork, or fork then exec) starts its peak at its parent's, which wait4 then reports.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
"""


@dataclass(frozen=True, slots=True)
class Measured:
    exit_code: int
    seconds: float  # wall
    cpu_seconds: float  # the command's and its children's, user and system
    peak_rss_mb: int  # the command's own peak (or its largest child's)
    stdout: bytes
    stderr: bytes


def run_measured(cmd: list[str]) -> Measured:
    """Run `cmd` and measure its wall time, CPU time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "usage"
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        started = time.perf_counter()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run([sys.executable, "-c", _LAUNCHER, str(result), *cmd], stdout=stdout, stderr=stderr,
                           check=True)  # fmt: skip
        elapsed = time.perf_counter() - started
        code, cpu, rss_kb = result.read_text().split()
        return Measured(int(code), elapsed, float(cpu), int(rss_kb) // 1024, out.read_bytes(), err.read_bytes())


def run_json(*args: str) -> Any:
    out = subprocess.run([assent_command(), *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server as a subprocess: `assent serve` with rate limits off (they would cap every figure
    here), or any other command listening on `port` (the floors' raw ASGI app)."""

    def __init__(self, cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None,
                 ready_path: str = "/api/openapi.json") -> None:  # fmt: skip
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT)
        self.port, self.ready_path = port, ready_path

    @classmethod
    def assent(cls, db_url: str, port: int, workers: int, log: Path) -> Server:
        cmd = [assent_command(), "serve", "--db", db_url, "--port", str(port), "--workers", str(workers)]
        return cls(cmd, port, log, {"ASSENT_RATE_LIMIT_SCALE": "off"})

    @classmethod
    def floor(cls, db_path: Path, account_id: str, port: int, workers: int, log: Path) -> Server:
        """bench/floor_app.py under uvicorn with `assent serve`'s settings (httptools, no access log)."""
        cmd = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH_DIR), "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
        env = {"BENCH_FLOOR_DB": str(db_path), "BENCH_FLOOR_ACCOUNT": account_id}
        return cls(cmd, port, log, env, ready_path="/ready")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.proc.args[0]} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(f"GET {self.ready_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.proc.args[0]} did not start")

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
            "p50_ms": round_or_none(self.percentile(0.50)),
            "p99_ms": round_or_none(self.percentile(0.99)),
            "max_ms": round_or_none(self.percentile(1.0)),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_cpu_s": round(self.server_cpu, 2),
            "server_cpu_us_per_request": round(self.server_cpu / self.requests * 1e6) if self.requests else None,
            "client_cpu_s": round(self.client_cpu, 2),
        }


def round_or_none(value: float | None) -> float | None:
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


def next_target(url: str) -> str:
    """The path and query of a `links.next` URL, for the raw client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


class _Links(msgspec.Struct):
    next: str | None = None


class _Page(msgspec.Struct):
    data: list[msgspec.Raw]  # checked as JSON, counted, not made into objects
    links: _Links


# What the walk reads of a page while it is timed: links.next and how many resources. Decoding the
# whole page (a 1,000-event feed page is ~650 kB) cost the one client ~20x more, in series with
# the server: it was most of the gap between the walk's wall time and the server's CPU time.
_page_decode = msgspec.json.Decoder(_Page).decode


async def page_all(client: Client, server: Server, first: str, name: str = "paging") -> tuple[Phase, list[bytes]]:
    """Follow links.next from `first` to the last page, one request at a time, as a sync job
    would; returns the phase (items = resources) and every page's body. The bodies are decoded
    in full by the caller, after the walk: a sync job's own use of the documents is not the
    server's cost (nor the floor's)."""
    phase, bodies = Phase(name), []
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    target: str | None = first
    started = time.perf_counter()
    while target:
        t0 = time.perf_counter()
        status, body = await client.request("GET", target)
        phase.latencies.append(time.perf_counter() - t0)
        phase.requests += 1
        phase.statuses[status] += 1
        if status != 200:
            break
        bodies.append(body)
        page = _page_decode(body)
        phase.items += len(page.data)
        target = next_target(page.links.next) if page.links.next else None
    phase.seconds = time.perf_counter() - started
    phase.server_cpu, phase.client_cpu = server.cpu_seconds() - cpu0, time.process_time() - client0
    return phase, bodies


# --- a seeded database ------------------------------------------------------------------------


@dataclass
class Seeded:
    db_path: Path
    db_url: str
    paged: dict[str, Any]  # the account holding the imported profiles: id, api_key, ...
    bulk: dict[str, Any]  # an empty second account for writes
    seconds: float  # the import's wall time
    report: dict[str, Any]  # the import's own report


def seed_sqlite(work: Path, profiles: int, db_url: str | None = None) -> Seeded:
    """A fresh SQLite database with `profiles` synthetic profiles imported (email subscribed,
    so each has a consent row and a ledger event) by the real `assent profiles import`; or the
    same in the empty database `db_url` (a PostgreSQL one from fresh_database)."""
    db_path = work / "assent.db"
    db = db_url or f"sqlite:///{db_path}"
    subprocess.run([assent_command(), "db", "upgrade", "--db", db], check=True, capture_output=True)
    paged = run_json("accounts", "create", "Bench paging", "--db", db)
    bulk = run_json("accounts", "create", "Bench bulk", "--db", db)
    csv_path = synthetic.write_csv(work / "profiles.csv", profiles)
    started = time.perf_counter()
    report = run_json("profiles", "import", str(csv_path), "--account", paged["id"], "--subscribe", "email",
                      "--db", db)  # fmt: skip
    seconds = time.perf_counter() - started
    if db_url:
        checkpoint(db_url)
    return Seeded(db_path, db, paged, bulk, seconds, report)


def checkpoint(db_url: str) -> None:
    """PostgreSQL: write out what the seeding left in memory, so that the phases measured next do
    not pay for it (a checkpoint falling in them would write the seeding's pages too). A user who
    may not checkpoint (PostgreSQL's pg_checkpoint role) leaves it to the server's own schedule."""
    engine = create_engine(database_url(db_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    except Exception as e:  # noqa: BLE001 - a bench without the privilege still runs
        print(f"(no CHECKPOINT before measuring: {e.__class__.__name__})", file=sys.stderr)
    finally:
        engine.dispose()


def api_headers(key: str) -> dict[str, str]:
    return {"revision": REVISION, "Accept": "application/vnd.api+json", "Authorization": f"Klaviyo-API-Key {key}",
            "Content-Type": "application/vnd.api+json"}  # fmt: skip


# --- figures -----------------------------------------------------------------------------------


def ratio(assent: float, floor: float, higher_is_better: bool = True) -> float | None:
    """How many times slower than its floor Assent is (1.0 = at the floor), whichever way the
    figure goes: rates divide floor by Assent, times Assent by floor."""
    if not assent or not floor:
        return None
    return round(floor / assent if higher_is_better else assent / floor, 2)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.1f}{unit}"


@contextmanager
def fresh_database(backend: str, work: Path, pg_url: str, label: str) -> Iterator[Engine]:
    """A new, migrated database for one bench run: a SQLite file in `work`, or a new database on
    the PostgreSQL server of `pg_url` (dropped afterwards)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{work / f'{label}.db'}")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
        return
    name = f"assent_{label}_{secrets.token_hex(3)}"
    admin = create_engine(database_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(database_url(pg_url).rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
