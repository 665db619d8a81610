"""`assent stream` into the real NATS JetStream server (ASSENT_TEST_NATS_URL, default
nats://127.0.0.1:4222): every ledger event once, in seq order, with the seq as message id; killed
with SIGKILL mid-run and restarted, the stream has no gap and no duplicate; with the broker gone
mid-follow and back, the same.

Each test makes its own stream with a de-duplication window of 100 ms (the server's least), so a resume that
published a seq twice would show as a duplicate here rather than be hidden by the server."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
from urllib.parse import urlsplit

import nats
import pytest

from assent.domain import Channel, Purpose
from assent.integrations.nats_stream import JetStreamPublisher
from assent.services.consent import changes as consent
from assent.services.consent import ledger_events
from assent.services.consent.changes import Locator
from assent.services.outbound import stream
from tests.cli.test_cli import ASSENT, assent

from .proxy import Proxy
from .test_sync_crash import _wait, source  # noqa: F401 — the seeded SQLite source fixture

NATS_URL = os.environ.get("ASSENT_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats(coro_fn):
    async def run():
        nc = await nats.connect(NATS_URL, connect_timeout=5, allow_reconnect=False)
        try:
            return await coro_fn(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


@pytest.fixture
def subject():
    """A subject of its own and a stream over it with a tiny de-duplication window; deleted after."""
    name = f"ASSENT_TEST_{secrets.token_hex(4).upper()}"
    subject = f"assent.test.{name.lower()}"
    try:
        _nats(lambda js: js.add_stream(name=name, subjects=[subject], duplicate_window=0.1))
    except (OSError, nats.errors.NoServersError, nats.errors.TimeoutError) as e:
        message = f"NATS JetStream is not reachable at {NATS_URL} ({e!r}); set ASSENT_TEST_NATS_URL"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield subject
    _nats(lambda js: js.delete_stream(name))


def _published(subject: str) -> list[tuple[int, str, dict]]:
    """(Assent-Seq, Nats-Msg-Id, body) of every message on the subject, in stream order."""

    async def read(js):
        name = await js.find_stream_name_by_subject(subject)
        info = await js.stream_info(name)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
            msg = await js.get_msg(name, seq)
            out.append((int(msg.headers["Assent-Seq"]), msg.headers["Nats-Msg-Id"], json.loads(msg.data)))
        return out

    return _nats(read)


def test_stream_publishes_every_event_once_in_order_with_its_seq_as_message_id(engine, account_id, subject):
    for i in range(3):
        locator = Locator("email", f"s{i}@example.com")
        consent.subscribe(engine, account_id, locator, [(Channel.EMAIL, Purpose.MARKETING)])
    publisher = JetStreamPublisher(NATS_URL, subject, "unused")
    try:
        report = stream.stream(engine, account_id, publisher)
        assert report.published == 3 and report.resumed_after == 0 and report.last_seq == 3
        again = stream.stream(engine, account_id, publisher)  # nothing new: nothing published
        assert again.published == 0 and again.resumed_after == 3
        consent.unsubscribe(engine, account_id, Locator("email", "s1@example.com"), Channel.EMAIL)
        later = stream.stream(engine, account_id, publisher)
        assert later.resumed_after == 3 and later.last_seq == ledger_events.head_seq(engine, account_id)
    finally:
        publisher.close()
    messages = _published(subject)
    head = ledger_events.head_seq(engine, account_id)
    assert [m[0] for m in messages] == list(range(1, head + 1))
    assert [m[1] for m in messages] == [f"{account_id}-{seq}" for seq in range(1, head + 1)]
    first = messages[0][2]
    assert first["seq"] == 1 and first["account_id"] == account_id and first["type"] == "consent.changed"
    assert first["metric"] == "Subscribed to Email Marketing" and first["channel"] == "email"


def test_stream_command_refuses_an_unreachable_broker_in_one_line(engine, account_id, db_url):
    result = assent("stream", "--account", account_id, "--to", "nats://127.0.0.1:1", db=db_url)
    assert result.returncode == 1 and result.stderr.startswith("error: NATS at nats://127.0.0.1:1")
    assert len(result.stderr.splitlines()) == 1
    bad = assent("stream", "--account", account_id, "--to", "http://127.0.0.1:4222", db=db_url)
    assert bad.returncode == 1 and bad.stderr.startswith("error: to")


def test_kill_9_mid_stream_then_restart_leaves_no_gap_and_no_duplicate(source, subject):  # noqa: F811
    engine, url, account_id = source
    head = ledger_events.head_seq(engine, account_id)
    proc = _start_stream(url, account_id, subject)
    _wait(lambda: _last(subject) > 200 or proc.poll() is not None, what="the streamer to publish")
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = _last(subject)
    assert 0 < stopped_at < head
    time.sleep(0.2)  # past the de-duplication window: a seq published again would be stored again
    result = assent("stream", "--account", account_id, "--to", NATS_URL, "--subject", subject, "--json", db=url)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["resumed_after"] == stopped_at and report["last_seq"] == head
    messages = _published(subject)
    assert [m[0] for m in messages] == list(range(1, head + 1))  # every seq once, in order


def _last(subject: str) -> int:
    async def last(js):
        name = await js.find_stream_name_by_subject(subject)
        try:
            msg = await js.get_last_msg(name, subject)
        except nats.js.errors.NotFoundError:
            return 0
        return int(msg.headers["Assent-Seq"])

    return _nats(last)


def _start_stream(url: str, account_id: str, subject: str, to: str = NATS_URL) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    return subprocess.Popen([ASSENT, "stream", "--account", account_id, "--to", to, "--subject", subject,
                             "--db", url, "--follow", "--poll", "0.05"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def test_follow_rides_out_a_broker_outage_with_no_gap_and_no_duplicate(source, subject):  # noqa: F811
    """The broker goes away mid-follow (connections cut, new ones refused) while consent keeps
    changing, then comes back: the streamer waits, asks the broker where it stands, and goes on."""
    engine, url, account_id = source
    parts = urlsplit(NATS_URL)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 4222))
    proxy.start()
    proc = _start_stream(url, account_id, subject, to=f"nats://127.0.0.1:{proxy.port}")
    try:
        head = ledger_events.head_seq(engine, account_id)
        _wait(lambda: _last(subject) == head or proc.poll() is not None, what="the first pass")
        assert proc.poll() is None, proc.communicate()
        proxy.stop()
        for e in ledger_events.events_after(engine, account_id, 100, 5).events:
            consent.unsubscribe(engine, account_id, Locator("id", e.profile_id), Channel.EMAIL)
        time.sleep(1.0)
        later = ledger_events.head_seq(engine, account_id)
        assert _last(subject) == head < later  # nothing went out while the broker was away
        time.sleep(0.2)  # past the de-duplication window: a seq published again would be stored again
        proxy.start()
        _wait(lambda: _last(subject) == later, what="the streamer to catch up after the outage")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        proxy.stop()
    assert proc.returncode == 0, err
    assert [m[0] for m in _published(subject)] == list(range(1, later + 1))  # every seq once, in order
