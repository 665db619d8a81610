"""A real webhook receiver: an HTTP server on a loopback port that records what it gets and can
be told to fail, hang past the sender's timeout, redirect, answer at length, or recover."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    url: str
    mode: str = "ok"  # ok, fail, hang, redirect, huge
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)  # ends a hang
    huge_written: int = 0
    hang_on: int | None = None  # hang on this request (1 = the first), whatever the mode

    def verified(self, secret: str) -> list[dict]:
        """Every body received, each checked with the Standard Webhooks verifier."""
        hook = standardwebhooks.Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.received]

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            receiver.arrived.set()
            mode = receiver.mode
            if mode == "hang" or receiver.hang_on == len(receiver.received):
                receiver.release.wait(30)
                return
            if mode == "fail":
                self._answer(503, b"down for maintenance")
            elif mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif mode == "huge":
                self.send_response(200)
                self.send_header("Content-Length", str(200 * 1024 * 1024))
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    for _ in range(3200):
                        self.wfile.write(chunk)
                        receiver.huge_written += len(chunk)
                except OSError:
                    pass
            else:
                self._answer(204, b"")

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    return Handler


@contextmanager
def running_receiver(host: str = "127.0.0.1") -> Iterator[Receiver]:
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    receiver = Receiver(f"http://{host}:{port}/hook")
    server = ThreadingHTTPServer((host, port), _handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_for(condition, timeout: float = 60.0, what: str = "the condition") -> None:
    """Poll until `condition()` holds (no timing is asserted: the deadline only ends a hung test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
