"""Delivering queued webhook messages: in `seq` order per endpoint, at least once, retried with
exponential backoff and jitter, and the endpoint disabled (with the reason shown) once its
oldest message has failed for RETRY_HORIZON.

One deliverer at a time sends to an endpoint: it leases the webhook (a time-limited claim in the
database, so a deliverer killed mid-send is replaced once the lease runs out) and sends its
queued messages one by one, the next only after the one before was taken. A message is deleted
from the queue after the endpoint answered 2xx; a crash between the answer and the delete sends
it again, with the same `webhook-id`, which is what receivers deduplicate on.

The HTTP sender is an adapter handed in by the composition (integrations/webhook_sender.py), as
the outbox's SMTP sender is. Time comes from `now` (injectable), so tests run a day of retries
without waiting for it."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ...config import settings
from ...store import webhooks as store
from ...store.db import read_transaction, write_transaction
from ..shared.background import BackgroundLoop
from ..shared.clock import utcnow
from .queue import message_id

log = logging.getLogger("assent.webhooks")

RETRY_HORIZON = timedelta(hours=24)  # a message failing this long disables its endpoint
FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY_DELAY = timedelta(hours=1)
BATCH = 50  # messages of one endpoint sent per lease

# Sends one signed message: (endpoint URL, secret, message id, body) -> None when taken, else why not.
Sender = Callable[[str, str, str, str], "str | None"]
Clock = Callable[[], datetime]
_sender: Sender | None = None


def use_sender(sender: Sender) -> None:
    """Set how this process sends webhooks (the composition does, at start)."""
    global _sender
    _sender = sender


def retry_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long after its `attempts`-th failure a message is tried again: doubling from 5 s up to
    an hour, each delay drawn between half and all of it (jitter, so endpoints that came back are
    not hit by every deliverer at once). About 30 attempts fit in the 24 h before disabling."""
    full = min(MAX_RETRY_DELAY, FIRST_RETRY * 2 ** min(attempts - 1, 20))
    return full * (0.5 + (rng or random).random() / 2)


def lease(now: datetime) -> datetime:
    # Longer than one send can take (connect and answer, each within the timeout).
    return now + timedelta(seconds=2 * settings().webhook_timeout + 5)


@dataclass(slots=True)
class Round:
    """What one delivery round did."""

    sent: int = 0
    failed: int = 0
    disabled: int = 0
    busy: int = 0  # endpoints with more queued than one lease sends


def deliver(
    engine: Engine, *, now: Clock = utcnow, sender: Sender | None = None, rng: random.Random | None = None
) -> Round:
    """Send what is due to every endpoint not leased to another deliverer."""
    send = sender or _sender
    done = Round()
    if send is None:
        log.warning("webhooks: deliveries are queued but no sender is set up in this process")
        return done
    with read_transaction(engine) as conn:
        due = store.due(conn, now())
    for row in due:
        _deliver_to(engine, row.account_id, row.id, now, send, rng, done)
    return done


def _deliver_to(
    engine: Engine, account_id: str, webhook_id: str, now: Clock, send: Sender, rng: random.Random | None, done: Round
) -> None:
    t = now()
    with write_transaction(engine) as conn:
        hook = store.claim(conn, account_id, webhook_id, t, lease(t))
        if hook is None:
            return  # another deliverer has it, or it was just disabled
        queued = store.head(conn, account_id, webhook_id, BATCH)
    try:
        for item in queued:
            if item.next_attempt_at > now():
                return  # the oldest waits for its retry, and the rest wait behind it
            error = send(hook.endpoint_url, hook.secret, message_id(account_id, item.seq), item.payload)
            t = now()
            with write_transaction(engine) as conn:
                if error is None:
                    store.delivered(conn, account_id, webhook_id, item.seq)
                    store.extend(conn, account_id, webhook_id, lease(t))
                    done.sent += 1
                    continue
                since = item.failing_since or t
                attempts = item.attempts + 1
                store.failed(
                    conn, account_id, webhook_id, item.seq, next_attempt_at=t + retry_delay(attempts, rng),
                    failing_since=since, error=error[:1000],
                )  # fmt: skip
                done.failed += 1
                log.info("webhook %s: message %s failed (attempt %d): %s", webhook_id, item.seq, attempts, error)
                if t - since >= RETRY_HORIZON:
                    reason = (
                        f"disabled at {t.isoformat(timespec='seconds')}: event {item.seq} failed {attempts} times "
                        f"since {since.isoformat(timespec='seconds')}; last error: {error[:300]}"
                    )
                    store.change(
                        conn, account_id, webhook_id, {"enabled": False, "disabled_reason": reason, "updated_at": t}
                    )
                    done.disabled += 1
                    log.warning("webhook %s %s", webhook_id, reason)
            return
        if len(queued) == BATCH:
            done.busy += 1
    finally:
        with write_transaction(engine) as conn:
            store.extend(conn, account_id, webhook_id, None)


def deliver_all(engine: Engine, *, now: Clock = utcnow, sender: Sender | None = None) -> Round:
    """Rounds until nothing more is due now (what waits for a retry stays queued)."""
    total = Round()
    while True:
        done = deliver(engine, now=now, sender=sender)
        total.sent += done.sent
        total.failed += done.failed
        total.disabled += done.disabled
        if not done.busy:
            return total


class Deliverer(BackgroundLoop):
    """Delivers queued webhook messages in the background while the server runs; `wake()` after
    a commit that queued some, so they go out at once. Retries come due on the interval."""

    thread_name = "assent-webhooks"
    failure = "webhook delivery failed"

    def __init__(self, engine: Engine, interval: float = 2.0) -> None:
        super().__init__(interval, _deliverers, log)
        self.engine = engine

    def step(self) -> bool:
        return deliver(self.engine).busy > 0  # more queued than one round sends: go on at once

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)


_deliverers: set[BackgroundLoop] = set()


def wake() -> None:
    """Tell this process's deliverers that messages were queued."""
    for d in list(_deliverers):
        d.wake()
