"""Keep-alive connections are spread over the server processes.

`assent serve --workers N` runs N processes that accept connections from one listening socket; a
client's keep-alive connection stays with the process that accepted it for as long as it lives. A
few long-lived connections (a brand's sync client, an SDK's pool) could thus gather on one process,
held to one core by Python's interpreter lock while another idled: 4 bulk subscribe clients on 2
processes were often split 3 to 1, and the one process capped the whole.

Each process publishes how many connections it has served in the last second (a small file per
process in a directory `assent serve` makes for them: ASSENT_CONNECTIONS_DIR). Every CHECK_EVERY
responses on a connection, a process that has at least two more busy connections than the least
busy other process asks that connection to close (its response says `Connection: close`); the
client opens a new one, which the less busy process tends to accept first (a busy one's event
loop waits for the interpreter lock). A balanced spread is left alone. Without the directory (one
process) nothing is done.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import CONNECTIONS_DIR_ENV, settings

DIRECTORY_ENV = CONNECTIONS_DIR_ENV
CHECK_EVERY = 20  # responses on a connection between looks at the other processes
BUSY_SECONDS = 1.0  # a connection served within this long is busy; a count older than twice it is stale
_RECORD = struct.Struct("<dq")  # when (time.time()), busy connections


def announce() -> None:
    """Publish that this process serves, with no busy connection yet (a server process's start-up
    calls it): until it does, the others cannot count it as the least busy."""
    directory = settings().connections_dir
    if directory:
        Spread(Path(directory)).crowded(time.monotonic())


class Spread:
    """This process's busy connections, published beside the other processes' in `directory`."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self.path = directory / str(pid if pid is not None else os.getpid())
        self.fd: int | None = None
        self.seen: dict[tuple[str, int], float] = {}  # a connection's (client address, port) -> last served

    def served(self, key: tuple[str, int], now: float) -> None:
        self.seen[key] = now

    def crowded(self, now: float) -> bool:
        """Publish this process's busy connections; whether it has two or more beyond the least
        busy other process's."""
        since = now - BUSY_SECONDS
        self.seen = {k: t for k, t in self.seen.items() if t >= since}
        mine = len(self.seen)
        self._publish(mine)
        others = self._others(time.time())
        return bool(others) and mine >= min(others) + 2

    def _publish(self, busy: int) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(self.fd, _RECORD.pack(time.time(), busy), 0)

    def _others(self, wall: float) -> list[int]:
        counts = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if name == self.path.name:
                continue
            try:
                os.kill(int(name), 0)  # a process that ended (a restarted worker) counts for nothing
            except (ValueError, ProcessLookupError):
                continue
            except PermissionError:
                pass
            try:
                with open(self.directory / name, "rb") as f:
                    at, busy = _RECORD.unpack(f.read(_RECORD.size))
            except (OSError, struct.error):
                continue
            counts.append(busy if wall - at <= 2 * BUSY_SECONDS else 0)  # quiet that long: none busy
        return counts


class ConnectionBalancing:
    """ASGI middleware: a crowded process closes connections so that they spread (see above)."""

    def __init__(self, app: ASGIApp, directory: str | None = None) -> None:
        self.app = app
        directory = directory if directory is not None else settings().connections_dir
        self.spread = Spread(Path(directory)) if directory else None
        self.responses: dict[tuple[str, int], int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if not client or self.spread is None:  # not HTTP, no peer address, or a lone process
            await self.app(scope, receive, send)
            return
        key = (client[0], client[1])
        now = time.monotonic()
        self.spread.served(key, now)
        n = self.responses.get(key, 0) + 1
        self.responses[key] = n
        if n % CHECK_EVERY or not self._crowded(now):
            await self.app(scope, receive, send)
            return
        self.spread.seen.pop(key, None)  # it leaves
        self.responses.pop(key, None)

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)

    def _crowded(self, now: float) -> bool:
        assert self.spread is not None
        crowded = self.spread.crowded(now)
        self.responses = {k: n for k, n in self.responses.items() if k in self.spread.seen}  # gone ones
        return crowded
