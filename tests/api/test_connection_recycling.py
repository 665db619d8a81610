"""A keep-alive connection is closed after connections.REQUESTS responses (its last says
`Connection: close`), so that the clients of `assent serve --workers N` spread again over the
processes; other connections are counted apart, and a client's HTTP library reconnects."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from assent.wire import connections

REQUEST = b"GET /api/no-such-thing HTTP/1.1\r\nHost: test\r\nAccept: application/json\r\n\r\n"


def _response(sock: socket.socket, buffered: bytearray) -> bytes:
    """One whole response's head from the connection (its bodies are small and length-delimited)."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before answering"
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    buffered[:] = rest[length:]
    return head.lower()


def test_a_connection_is_closed_after_its_last_allowed_response_and_others_are_counted_apart(server):
    address = urlsplit(server.base_url)
    one = socket.create_connection((address.hostname, address.port))
    other = socket.create_connection((address.hostname, address.port))
    one_read, other_read = bytearray(), bytearray()
    try:
        for n in range(1, connections.REQUESTS + 1):
            one.sendall(REQUEST)
            head = _response(one, one_read)
            assert head.startswith(b"http/1.1 404")
            assert (b"connection: close" in head) is (n == connections.REQUESTS), n
            if n == 1:
                other.sendall(REQUEST)
                assert b"connection: close" not in _response(other, other_read)
        assert one.recv(1) == b""  # the server closed it after that response
        other.sendall(REQUEST)  # the other connection, one response in, stays open
        assert b"connection: close" not in _response(other, other_read)
    finally:
        one.close()
        other.close()


def test_httpx_reconnects_by_itself(api):
    for _ in range(connections.REQUESTS + 5):
        assert api.get("/api/lists").status_code == 200
