"""`assent webhooks` as a real console script on SQLite and PostgreSQL, and a deliverer process
killed with SIGKILL in the middle of a delivery: restarted, it delivers the rest, nothing lost,
repeats only as at-least-once allows (the same webhook-id)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.profiles.locator import Locator
from assent.store.db import make_engine
from tests.cli.test_cli import ASSENT, assent, assent_json
from tests.webhooks.receiver import Receiver, running_receiver, wait_for

TOPIC = "event:klaviyo.subscribed_to_email_marketing"


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    monkeypatch.setenv("ASSENT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ASSENT_WEBHOOK_TIMEOUT", "2")
    with running_receiver() as r:
        yield r


@pytest.fixture
def brand(db_url):
    engine = make_engine(db_url)
    account_id = accounts.create_account(engine, "Webhook brand", "US").account.id
    yield engine, account_id
    engine.dispose()


def _subscribe(engine, account_id: str, *emails: str) -> None:
    for email in emails:
        consent.subscribe(engine, account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)])


def test_webhooks_cli_creates_lists_delivers_and_deletes(db_url, brand, receiver):
    engine, account_id = brand
    made = assent_json(
        "webhooks", "create", "--account", account_id, "--url", receiver.url, "--topic", TOPIC, db=db_url
    )
    assert made["secret"].startswith("whsec_") and made["topics"] == [TOPIC]
    _subscribe(engine, account_id, "cli@example.com")
    [listed] = assent_json("webhooks", "list", "--account", account_id, db=db_url)
    assert (listed["id"], listed["enabled"], listed["queued"]) == (made["id"], True, 1)
    assert assent_json("webhooks", "deliver", "--once", db=db_url)["sent"] == 1
    [message] = receiver.verified(made["secret"])
    assert message["data"]["profile"]["email"] == "cli@example.com"
    assert assent_json("webhooks", "list", "--account", account_id, db=db_url)[0]["queued"] == 0
    human = assent("webhooks", "list", "--account", account_id, db=db_url, check=True).stdout
    assert made["id"] in human and "enabled" in human
    assent("webhooks", "delete", "--account", account_id, made["id"], db=db_url, check=True)
    assert assent_json("webhooks", "list", "--account", account_id, db=db_url) == []


def test_webhooks_cli_refuses_a_bad_url_in_one_line(db_url, brand):
    _, account_id = brand
    result = assent(
        "webhooks", "create", "--account", account_id, "--url", "http://example.com/x", "--topic", TOPIC, db=db_url
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: endpoint_url: must be https") and result.stderr.count("\n") == 1


def test_kill_9_of_the_deliverer_mid_delivery_then_a_restart_delivers_the_rest(db_url, brand, receiver):
    engine, account_id = brand
    made = assent_json(
        "webhooks", "create", "--account", account_id, "--url", receiver.url, "--topic", TOPIC, db=db_url
    )
    emails = [f"k{i}@example.com" for i in range(6)]
    _subscribe(engine, account_id, *emails)
    receiver.hang_on = 3  # the third message gets no answer: the deliverer is killed while it waits
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    process = subprocess.Popen([ASSENT, "webhooks", "deliver", "--interval", "0.2", "--db", db_url], env=env)
    try:
        wait_for(lambda: len(receiver.received) >= 3, what="the third delivery to arrive")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    receiver.hang_on = None
    receiver.release.set()

    def everything_arrived() -> bool:
        assent("webhooks", "deliver", "--once", db=db_url, check=True)
        return {m["data"]["profile"]["email"] for m in receiver.verified(made["secret"])} == set(emails)

    # The killed deliverer's lease on the endpoint runs out (twice the timeout and 5 s), then a new one takes over.
    wait_for(everything_arrived, timeout=120, what="every message after the restart")
    messages = receiver.verified(made["secret"])
    seqs = [m["data"]["seq"] for m in messages]
    first_arrivals = list(dict.fromkeys(seqs))
    assert first_arrivals == sorted(first_arrivals) and len(first_arrivals) == len(emails)  # in ledger order
    assert len(seqs) - len(first_arrivals) <= 1  # only the message in flight when killed came twice
    for message, headers in zip(messages, (r.headers for r in receiver.received), strict=True):
        assert headers["webhook-id"] == message["data"]["id"]  # a repeat carries the same id
    assert assent_json("webhooks", "list", "--account", account_id, db=db_url)[0]["queued"] == 0
    assert json.loads(assent("webhooks", "deliver", "--once", "--json", db=db_url, check=True).stdout)["sent"] == 0


def test_a_file_import_queues_its_consent_changes_too(db_url, brand, receiver, tmp_path):
    # New profiles of a file import arrive at the recorder precomputed (events already encoded).
    engine, account_id = brand
    made = assent_json(
        "webhooks", "create", "--account", account_id, "--url", receiver.url, "--topic", TOPIC, db=db_url
    )
    _subscribe(engine, account_id, "known@example.com")  # an existing profile, not precomputed
    csv = tmp_path / "people.csv"
    csv.write_text("email,first_name\nnew1@example.com,One\nnew2@example.com,Two\nknown@example.com,Known\n")
    assent("profiles", "import", str(csv), "--account", account_id, "--subscribe", "email", db=db_url, check=True)
    assent("webhooks", "deliver", "--once", db=db_url, check=True)
    messages = receiver.verified(made["secret"])
    assert [m["data"]["profile"]["email"] for m in messages] == [
        "known@example.com",
        "new1@example.com",
        "new2@example.com",
    ]
    seqs = [m["data"]["seq"] for m in messages]
    assert seqs == sorted(seqs) and all(m["type"] == TOPIC for m in messages)
    assert all(m["timestamp"].endswith("+00:00") for m in messages)
