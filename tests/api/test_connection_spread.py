"""`assent serve --workers N`: keep-alive connections spread over the processes. A process with two
or more busy connections beyond the least busy other process asks one to close (its response says
`Connection: close`) so that the client reconnects, most likely to the less busy one; a balanced
spread is left alone, and a lone process never closes one."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assent.wire import connections
from assent.wire.connections import CHECK_EVERY, ConnectionBalancing


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _other(directory: Path, busy: int, *, age: float = 0.0, pid: int | None = None) -> None:
    """Another process's record: `busy` connections, published `age` seconds ago."""
    pid = pid if pid is not None else os.getppid()  # a process that is alive
    (directory / str(pid)).write_bytes(struct.pack("<dq", time.time() - age, busy))


def _respond(app: ConnectionBalancing, port: int) -> bool:
    """One response on the connection from client port `port`: whether it asks to close."""

    heads: list[list[tuple[bytes, bytes]]] = []

    async def send(message) -> None:
        if message["type"] == "http.response.start":
            heads.append(message["headers"])

    scope = {"type": "http", "client": ("127.0.0.1", port), "method": "GET", "path": "/", "headers": []}
    asyncio.run(app(scope, None, send))
    return (b"connection", b"close") in heads[0]


def _serve(app: ConnectionBalancing, ports: list[int], rounds: int = CHECK_EVERY) -> dict[int, int]:
    """`rounds` responses on each connection, in turns; how many asked each one to close."""
    closed = dict.fromkeys(ports, 0)
    for _ in range(rounds):
        for port in ports:
            closed[port] += _respond(app, port)
    return closed


@pytest.mark.parametrize(("others", "mine", "closes"), [(0, 2, True), (0, 1, False), (1, 3, True), (1, 2, False)])
def test_a_process_busier_by_two_than_another_asks_a_connection_to_close(tmp_path, others, mine, closes):
    _other(tmp_path, others)
    app = ConnectionBalancing(_ok, directory=str(tmp_path))
    closed = _serve(app, list(range(40000, 40000 + mine)))
    assert (sum(closed.values()) > 0) is closes


def test_a_stale_record_is_a_process_with_nothing_busy_and_an_ended_one_counts_for_nothing(tmp_path):
    _other(tmp_path, 5, age=10)  # quiet for ten seconds: it has nothing busy
    app = ConnectionBalancing(_ok, directory=str(tmp_path))
    assert sum(_serve(app, [40000, 40001]).values()) > 0

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    alone = tmp_path / "alone"
    alone.mkdir()
    _other(alone, 0, pid=int(ended.stdout))
    app = ConnectionBalancing(_ok, directory=str(alone))
    assert sum(_serve(app, [40000, 40001, 40002]).values()) == 0


def test_one_process_never_closes_a_connection(tmp_path):
    app = ConnectionBalancing(_ok, directory=None)
    assert sum(_serve(app, [40000, 40001, 40002, 40003], rounds=3 * CHECK_EVERY).values()) == 0


def test_a_starting_process_announces_itself_with_nothing_busy(tmp_path, monkeypatch):
    monkeypatch.setenv(connections.DIRECTORY_ENV, str(tmp_path))
    connections.announce()
    at, busy = struct.unpack("<dq", (tmp_path / str(os.getpid())).read_bytes())
    assert busy == 0 and abs(time.time() - at) < 60


def test_a_real_server_answers_with_the_middleware_in_place(api):
    for _ in range(CHECK_EVERY + 5):
        assert api.get("/api/lists").status_code == 200
