"""`assent stream` into NATS JetStream (nats-py): each ledger event a message on one subject,
with `Nats-Msg-Id: <account_id>-<seq>` (JetStream drops a repeat of an id within the stream's
duplicate window) and an `Assent-Seq` header.

The cursor is the stream itself: the last message on the subject says which seq was acknowledged
last, so resuming needs no bookkeeping elsewhere and cannot disagree with what the stream holds.
Messages are published one at a time, each acknowledged before the next: a failure can never leave
a later seq stored after a missing one.

The interface (last_published, publish, close) is the one a Kafka adapter would implement too;
docs/stream.md says how.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import nats
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from ..domain import DomainError
from ..domain.stream import BrokerUnavailable, StreamMessage

SEQ_HEADER = "Assent-Seq"
MSG_ID_HEADER = "Nats-Msg-Id"
_UNAVAILABLE = (NatsError, OSError, asyncio.TimeoutError)


async def _quiet(_: Exception) -> None:
    """Connection errors surface as BrokerUnavailable; the client's own logging would print tracebacks."""


async def _nothing() -> None:
    pass


class JetStreamPublisher:
    def __init__(self, url: str, subject: str, stream: str, timeout: float = 5.0) -> None:
        if not url.startswith(("nats://", "tls://")):
            raise DomainError("to", "a NATS URL is nats://host:4222", url)
        self.url, self.subject, self.stream_name, self.timeout = url, subject, stream, timeout
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, self.timeout * 2))
        except _UNAVAILABLE as e:
            self._drop()
            raise BrokerUnavailable(f"NATS at {self.url}: {str(e) or type(e).__name__}") from None

    def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):  # a connection already gone needs no closing
                self._loop.run_until_complete(asyncio.wait_for(nc.close(), 2))

    async def _connected(self) -> Any:
        if self._js is None:
            nc = await nats.connect(
                self.url, connect_timeout=self.timeout, allow_reconnect=False, max_reconnect_attempts=1,
                error_cb=_quiet, disconnected_cb=_nothing, closed_cb=_nothing,
            )  # fmt: skip
            js = nc.jetstream(timeout=self.timeout)
            try:
                self.stream_name = await js.find_stream_name_by_subject(self.subject)
            except NotFoundError:
                await js.add_stream(name=self.stream_name, subjects=[self.subject])
            self._nc, self._js = nc, js
        return self._js

    def last_published(self) -> int:
        """The seq of the last message on the subject (0 when there is none)."""

        async def last() -> int:
            js = await self._connected()
            try:
                msg = await js.get_last_msg(self.stream_name, self.subject)
            except NotFoundError:
                return 0
            return int((msg.headers or {}).get(SEQ_HEADER, 0))

        return int(self._run(last()))

    def publish(self, messages: Sequence[StreamMessage]) -> None:
        """Publish in order, each acknowledged (stored, or recognised as a duplicate) before the next."""

        async def send() -> None:
            js = await self._connected()
            for m in messages:
                headers = {MSG_ID_HEADER: m.msg_id, SEQ_HEADER: str(m.seq)}
                await js.publish(self.subject, m.body, timeout=self.timeout, headers=headers)

        self._run(send())

    def close(self) -> None:
        self._drop()
        self._loop.close()
