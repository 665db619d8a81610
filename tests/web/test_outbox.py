"""The outbox: a message is sent once, however many server processes deliver, and a message left
half-sent by a dead process is sent again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from assent.services.accounts import accounts
from assent.services.shared import outbox
from assent.services.shared.clock import utcnow
from assent.store.db import write_transaction
from assent.store.tables import outbox as outbox_table
from tests.web.mail import running_inbox


@pytest.fixture
def inbox(monkeypatch):
    """A fresh SMTP server per test (these count every message), and the mailer pointed at it."""
    with running_inbox() as handler:
        monkeypatch.setenv("ASSENT_SMTP_URL", f"smtp://127.0.0.1:{handler.port}")
        yield handler


def _queue(engine, account_id: str, n: int) -> list[str]:
    with write_transaction(engine) as conn:
        return [
            outbox.enqueue(conn, account_id, outbox.Message("email", f"p{i}@example.com", "test", f"body {i}", "Hi"))
            for i in range(n)
        ]


def test_each_message_is_sent_once_by_concurrent_deliverers(engine, inbox):
    account_id = accounts.create_account(engine, "Outbox brand").account.id
    _queue(engine, account_id, 10)
    threads = [threading.Thread(target=outbox.deliver, args=(engine,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m["To"] for m in inbox.messages) == sorted(f"p{i}@example.com" for i in range(10))
    mine = [m for m in outbox.messages(engine, account_id) if m["kind"] == "test"]
    assert {m["status"] for m in mine} == {"sent"} and {m["attempts"] for m in mine} == {1}


def test_a_message_left_sending_by_a_dead_deliverer_is_sent_again_later(engine, inbox):
    account_id = accounts.create_account(engine, "Outbox brand").account.id
    [message_id] = _queue(engine, account_id, 1)
    with write_transaction(engine) as conn:  # a deliverer took it, then its process died
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.account_id == account_id, outbox_table.c.id == message_id)
            .values(status="sending", claimed_at=utcnow())
        )
    assert outbox.deliver(engine) == 0  # taken recently: somebody may still be sending it
    with write_transaction(engine) as conn:
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.account_id == account_id, outbox_table.c.id == message_id)
            .values(claimed_at=utcnow() - outbox.CLAIM_TIMEOUT - timedelta(seconds=1))
        )
    assert outbox.deliver(engine) == 1
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["To"] for m in inbox.messages] == ["p0@example.com"]


def test_without_a_mailer_messages_are_held_not_lost(engine, monkeypatch):
    monkeypatch.delenv("ASSENT_SMTP_URL", raising=False)
    account_id = accounts.create_account(engine, "Outbox brand").account.id
    _queue(engine, account_id, 2)
    assert outbox.deliver(engine) == 0
    assert {m["status"] for m in outbox.messages(engine, account_id)} == {"held"}


def test_a_message_that_cannot_be_written_as_email_fails_and_the_others_go(engine, inbox):
    """A header with a line break (queued by a version that let a list name's into the Subject)
    cannot make an email: it is marked failed with the reason, and the messages after it are sent,
    where deliver() used to raise at it and leave it claimed, retried with a traceback forever."""
    account_id = accounts.create_account(engine, "Outbox brand").account.id
    with write_transaction(engine) as conn:
        bad = outbox.enqueue(
            conn, account_id, outbox.Message("email", "bad@example.com", "test", "body", "A\nBcc: x@y")
        )
    [good] = _queue(engine, account_id, 1)
    assert outbox.deliver(engine) == 1
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["To"] for m in inbox.messages] == ["p0@example.com"]
    rows = {m["id"]: m for m in outbox.messages(engine, account_id)}
    assert rows[good]["status"] == "sent"
    assert rows[bad]["status"] == "failed" and "cannot be written as an email" in rows[bad]["last_error"]
