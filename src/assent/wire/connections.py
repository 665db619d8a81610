"""Keep-alive connections are closed after so many requests, as nginx's `keepalive_requests` does.

`assent serve --workers N` runs N processes that accept connections from one listening socket;
a client's keep-alive connection stays with the process that accepted it for as long as it lives.
A few long-lived connections (a brand's sync client, an SDK's pool) could thus all land on one
process: that process is held to one core by Python's interpreter lock while the others idle (4
clients on 2 processes were split 3 to 1, and bulk subscribe was capped by the one process).
Each connection is asked to close (the response says `Connection: close`) after REQUESTS
responses; the client opens a new one, which the least busy process tends to accept first (a busy
one's event loop waits for the interpreter lock). A new connection costs a fraction of one request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = 100  # responses on one connection before it is closed (nginx's default was 100)
_TRACKED = 10_000  # connections counted at once; past it the counts start again (no harm)


class ConnectionRecycling:
    """ASGI middleware: the REQUESTS-th response on a connection closes it."""

    def __init__(self, app: ASGIApp, requests: int = REQUESTS) -> None:
        self.app = app
        self.requests = requests
        self.served: dict[tuple[str, int], int] = {}  # a connection's (client address, port) -> responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        if not client:
            await self.app(scope, receive, send)
            return
        key = (client[0], client[1])
        served = self.served.get(key, 0) + 1
        if served < self.requests:
            if len(self.served) >= _TRACKED:  # connections a client closed itself are never seen again
                self.served.clear()
            self.served[key] = served
            await self.app(scope, receive, send)
            return
        self.served.pop(key, None)

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)
