"""Messages Assent sends itself (double opt-in confirmations and the like).

A message is written to the outbox in the same transaction as the change that calls for it, so
a confirmation is never sent for a request that rolled back, nor lost for one that committed.
Delivery happens after the commit: by SMTP when ASSENT_SMTP_URL is set, else the message is held
in the outbox for `assent outbox` to show. The sender is an adapter handed in by the composition
(assent.server: integrations.mailer), so this module knows no SMTP. Email is the only channel
Assent delivers itself; SMS messages are held for the SMS provider integration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import msgspec
from sqlalchemy import Connection, Engine

from ...config import settings
from ...store import outbox as store
from ...store.db import read_transaction, write_transaction
from .background import BackgroundLoop
from .clock import utcnow
from .ids import new_id

log = logging.getLogger("assent.outbox")
MAX_ATTEMPTS = 5
# A message taken for sending and not marked within this is taken again (at least once: a crash
# between the SMTP answer and the mark sends it twice, which beats never).
CLAIM_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Message:
    channel: str  # "email" or "sms"
    recipient: str
    kind: str  # what it is for, e.g. "doi_confirmation"
    body_text: str
    subject: str | None = None
    body_html: str | None = None
    sender: str | None = None  # "Name <address>" for email
    headers: tuple[tuple[str, str], ...] = ()


# Sends one email; answers None when it went, else why not (the message is tried again later).
Sender = Callable[[EmailMessage], "str | None"]
_sender: Sender | None = None


def use_sender(sender: Sender) -> None:
    """Set how this process sends email (the composition does, at start)."""
    global _sender
    _sender = sender


def enqueue(conn: Connection, account_id: str, message: Message, message_id: str | None = None) -> str:
    """Write the message in the caller's transaction; deliver() sends it after the commit.

    `message_id` (default: a new id) lets a caller name the message in links inside it."""
    message_id = message_id or new_id()
    headers = dict(message.headers)
    if message.sender:
        headers["From"] = message.sender
    status = "queued" if message.channel == "email" and settings().smtp_url else "held"
    store.add(
        conn,
        {
            "account_id": account_id, "id": message_id, "channel": message.channel,
            "recipient": message.recipient, "kind": message.kind, "subject": message.subject,
            "body_text": message.body_text, "body_html": message.body_html,
            "headers": msgspec.json.encode(headers).decode(), "status": status, "attempts": 0,
            "created_at": utcnow(),
        },
    )  # fmt: skip
    return message_id


def _email(row) -> EmailMessage:
    headers = msgspec.json.decode(row.headers or "{}")
    msg = EmailMessage()
    msg["From"] = headers.pop("From", formataddr(("", "no-reply@localhost")))
    msg["To"] = row.recipient
    msg["Subject"] = row.subject or ""
    msg["Message-ID"] = make_msgid(idstring=row.id)
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(row.body_text)
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    return msg


def deliver(engine: Engine, sender: Sender | None = None) -> int:
    """Send the queued email messages with `sender` (default: the one set by use_sender); returns
    how many were sent."""
    send = sender or _sender
    if not settings().smtp_url:
        return 0
    if send is None:
        log.warning("outbox: email is queued but no sender is set up in this process")
        return 0
    sent = 0
    now = utcnow()
    stale_before = now - CLAIM_TIMEOUT
    with read_transaction(engine) as conn:
        rows = store.pending(conn, stale_before)
    for row in rows:
        with write_transaction(engine) as conn:
            if not store.claim(conn, row.account_id, row.id, utcnow(), stale_before):
                continue  # another server process is sending it
        error: str | None
        try:
            message = _email(row)
        except ValueError as e:  # a header with a line break: no attempt will ever make it an email
            error, status = f"the message cannot be written as an email: {e}", "failed"
            log.warning("outbox: %s (message %s)", error, row.id)
        else:
            error = send(message)
            if error is None:
                status = "sent"
                sent += 1
            else:
                log.warning("outbox: %s", error)
                status = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "queued"
        with write_transaction(engine) as conn:
            store.mark(conn, row.account_id, row.id, status, utcnow(), error)
    return sent


def messages(engine: Engine, account_id: str | None = None, limit: int = 50) -> list[dict]:
    with read_transaction(engine) as conn:
        return [
            {
                "id": r.id, "account_id": r.account_id, "channel": r.channel, "recipient": r.recipient,
                "kind": r.kind, "subject": r.subject, "body_text": r.body_text, "status": r.status,
                "attempts": r.attempts, "last_error": r.last_error, "created_at": r.created_at.isoformat(),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                "headers": msgspec.json.decode(r.headers or "{}"),
            }
            for r in store.listing(conn, account_id, limit)
        ]  # fmt: skip


class Deliverer(BackgroundLoop):
    """Delivers queued messages in the background while the server runs; `wake()` after a commit
    that queued one, so it goes out at once. A failed round is logged; its messages stay queued."""

    thread_name = "assent-outbox"
    failure = "outbox delivery failed"

    def __init__(self, engine: Engine, interval: float = 5.0) -> None:
        super().__init__(interval, _deliverers, log)
        self.engine = engine

    def step(self) -> bool:
        deliver(self.engine)
        return False  # what was queued is sent; wait for a wake or the interval

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)


_deliverers: set[BackgroundLoop] = set()


def wake() -> None:
    """Tell this process's deliverers that messages were queued."""
    for d in list(_deliverers):
        d.wake()
