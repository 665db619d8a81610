"""Webhook delivery end to end, on SQLite and PostgreSQL: consent changes queued in their own
transaction, sent to a real HTTP receiver signed as Standard Webhooks says (checked with the
`standardwebhooks` verifier), in ledger order per endpoint, retried with backoff through failures
and timeouts, and the endpoint disabled with its reason after the retry horizon. The deliverer's
clock is injected, so a day of retries runs at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from assent.domain import Channel, Purpose
from assent.domain.webhooks import TOPICS
from assent.integrations import webhook_sender
from assent.services.consent import changes as consent
from assent.services.profiles.locator import Locator
from assent.services.shared.clock import utcnow
from assent.services.webhooks import delivery, endpoints
from tests.webhooks.receiver import Receiver, running_receiver

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]
SUBSCRIBED = "event:klaviyo.subscribed_to_email_marketing"
UNSUBSCRIBED = "event:klaviyo.unsubscribed_from_email_marketing"


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    monkeypatch.setenv("ASSENT_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("ASSENT_WEBHOOK_TIMEOUT", "1")
    with running_receiver() as r:
        yield r


class Clock:
    """The deliverer's time: starts now, moves only when told."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _webhook(engine, account_id, url, topics=(SUBSCRIBED, UNSUBSCRIBED)) -> tuple[str, str]:
    made, secret = endpoints.create(engine, account_id, name="mirror", endpoint_url=url, topics=topics)
    return made.id, secret


def _deliver(engine, clock=None) -> delivery.Round:
    return delivery.deliver_all(engine, now=clock or utcnow, sender=webhook_sender.send_configured)


def _subscribe(engine, account_id, email):
    return consent.subscribe(engine, account_id, Locator("email", email), EMAIL)


def _unsubscribe(engine, account_id, email):
    return consent.unsubscribe(engine, account_id, Locator("email", email), Channel.EMAIL)


def test_a_consent_change_is_delivered_signed_and_verifiable(engine, account_id, receiver):
    webhook_id, secret = _webhook(engine, account_id, receiver.url)
    change = _subscribe(engine, account_id, "ada@example.com")
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 1  # queued with the change
    _deliver(engine)
    [message] = receiver.verified(secret)
    assert message["type"] == SUBSCRIBED
    data = message["data"]
    assert (data["channel"], data["purpose"], data["status"]) == ("email", "marketing", "SUBSCRIBED")
    assert data["profile"] == {"id": change.profile_id, "email": "ada@example.com"}
    assert receiver.received[0].headers["webhook-id"] == data["id"] == f"msg_{account_id}_{data['seq']}"
    assert receiver.received[0].headers["content-type"] == "application/json"
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0


def test_a_tampered_body_or_another_secret_fails_verification(engine, account_id, receiver):
    import standardwebhooks

    _, secret = _webhook(engine, account_id, receiver.url)
    _subscribe(engine, account_id, "bob@example.com")
    _deliver(engine)
    got = receiver.received[0]
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(got.body.replace("SUBSCRIBED", "UNSUBSCRIBED"), got.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(endpoints.new_secret()).verify(got.body, got.headers)


def test_only_the_webhooks_topics_are_sent(engine, account_id, receiver):
    _, secret = _webhook(engine, account_id, receiver.url, topics=(UNSUBSCRIBED,))
    _subscribe(engine, account_id, "cy@example.com")
    _unsubscribe(engine, account_id, "cy@example.com")
    _deliver(engine)
    assert [m["type"] for m in receiver.verified(secret)] == [UNSUBSCRIBED]


def test_a_disabled_webhook_gets_nothing_queued(engine, account_id, receiver):
    webhook_id, _ = _webhook(engine, account_id, receiver.url)
    endpoints.update(engine, account_id, webhook_id, enabled=False)
    _subscribe(engine, account_id, "dee@example.com")
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0


def test_every_topic_can_be_subscribed_and_suppression_is_delivered(engine, account_id, receiver):
    _, secret = _webhook(engine, account_id, receiver.url, topics=TOPICS)
    _subscribe(engine, account_id, "eve@example.com")
    consent.suppress(engine, account_id, Locator("email", "eve@example.com"))
    consent.unsuppress(engine, account_id, Locator("email", "eve@example.com"))
    _deliver(engine)
    types = [m["type"] for m in receiver.verified(secret)]
    assert types == [SUBSCRIBED, "event:assent.suppressed", "event:assent.unsuppressed"]


def test_failures_are_retried_with_backoff_and_later_events_wait_in_seq_order(engine, account_id, receiver):
    webhook_id, secret = _webhook(engine, account_id, receiver.url)
    receiver.mode = "fail"
    for name in ("f1", "f2", "f3"):
        _subscribe(engine, account_id, f"{name}@example.com")
    clock = Clock()
    done = _deliver(engine, clock)
    assert len(receiver.received) == 1  # the first failed; the others wait behind it
    assert done.failed >= 1
    waiting = endpoints.get(engine, account_id, webhook_id, with_queue=True)
    assert waiting.queued == 3 and waiting.last_error.startswith("HTTP 503")
    assert clock.now + delivery.FIRST_RETRY / 2 <= waiting.next_attempt_at <= clock.now + delivery.FIRST_RETRY * 1.1
    receiver.mode = "ok"
    _deliver(engine, clock)  # not due yet: nothing is tried
    assert len(receiver.received) == 1
    clock.now = waiting.next_attempt_at
    _deliver(engine, clock)
    messages = receiver.verified(secret)
    seqs = [m["data"]["seq"] for m in messages]
    assert seqs[0] == seqs[1] and seqs[1:] == sorted(seqs[1:]) and len(set(seqs)) == 3
    assert receiver.ids()[0] == receiver.ids()[1]  # the retry has the same webhook-id
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0


def test_retry_delays_double_with_jitter_up_to_an_hour():
    import random

    rng = random.Random(7)
    for attempts in range(1, 40):
        full = min(delivery.MAX_RETRY_DELAY, delivery.FIRST_RETRY * 2 ** (attempts - 1))
        delay = delivery.retry_delay(attempts, rng)
        assert full / 2 <= delay <= full
    assert len({delivery.retry_delay(3, rng) for _ in range(20)}) > 1  # jitter


def test_a_timeout_is_a_failure_and_the_message_is_sent_again_with_the_same_id(engine, account_id, receiver):
    webhook_id, secret = _webhook(engine, account_id, receiver.url)
    receiver.mode = "hang"
    _subscribe(engine, account_id, "slow@example.com")
    clock = Clock()
    _deliver(engine, clock)
    waiting = endpoints.get(engine, account_id, webhook_id, with_queue=True)
    assert waiting.queued == 1 and "no answer within 1 s" in waiting.last_error
    receiver.release.set()
    receiver.mode = "ok"
    clock.now = waiting.next_attempt_at
    _deliver(engine, clock)
    assert len(receiver.received) == 2 and receiver.ids()[0] == receiver.ids()[1]
    assert len({m["data"]["seq"] for m in receiver.verified(secret)}) == 1


def test_the_endpoint_is_disabled_with_its_reason_after_failing_for_the_retry_horizon(engine, account_id, receiver):
    webhook_id, secret = _webhook(engine, account_id, receiver.url)
    receiver.mode = "fail"
    _subscribe(engine, account_id, "gone@example.com")
    clock = Clock()
    start = clock.now
    attempts = 0
    while endpoints.get(engine, account_id, webhook_id).enabled:
        _deliver(engine, clock)
        attempts += 1
        state = endpoints.get(engine, account_id, webhook_id, with_queue=True)
        if state.enabled:
            assert clock.now - start < delivery.RETRY_HORIZON  # still retrying inside the horizon
            clock.now = state.next_attempt_at
        assert attempts < 200
    assert clock.now - start >= delivery.RETRY_HORIZON
    assert attempts >= 20  # exponential backoff, capped at an hour: many tries over the day
    disabled = endpoints.get(engine, account_id, webhook_id, with_queue=True)
    assert disabled.disabled_reason and "HTTP 503" in disabled.disabled_reason
    assert disabled.queued == 1  # nothing is lost: the message stays queued
    # Fixed and enabled again, it resumes where it stopped.
    receiver.mode = "ok"
    endpoints.update(engine, account_id, webhook_id, enabled=True)
    assert endpoints.get(engine, account_id, webhook_id).disabled_reason is None
    clock.now += delivery.MAX_RETRY_DELAY
    _deliver(engine, clock)
    assert receiver.verified(secret)[-1]["data"]["profile"]["email"] == "gone@example.com"
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0


def test_redirects_are_not_followed(engine, account_id, receiver):
    webhook_id, _ = _webhook(engine, account_id, receiver.url)
    receiver.mode = "redirect"
    _subscribe(engine, account_id, "moved@example.com")
    _deliver(engine)
    assert [r.path for r in receiver.received] == ["/hook"]
    assert "redirects are not followed" in endpoints.get(engine, account_id, webhook_id, with_queue=True).last_error


def test_a_huge_answer_is_not_read_whole(engine, account_id, receiver):
    webhook_id, _ = _webhook(engine, account_id, receiver.url)
    receiver.mode = "huge"
    _subscribe(engine, account_id, "big@example.com")
    _deliver(engine)
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0  # a 200 is success
    assert receiver.huge_written < 200 * 1024 * 1024  # the sender hung up after its bounded read


def test_a_name_resolving_to_a_loopback_address_is_refused_at_connect_time(engine, account_id, receiver, monkeypatch):
    # The URL passes when set (a name, https); the address it resolves to is checked when connecting.
    port = receiver.url.split(":")[2].split("/")[0]
    webhook_id, _ = _webhook(engine, account_id, f"https://localhost:{port}/hook")
    _subscribe(engine, account_id, "ssrf@example.com")
    _deliver(engine)
    assert receiver.received == []
    error = endpoints.get(engine, account_id, webhook_id, with_queue=True).last_error
    assert error.startswith("refused: localhost resolves to") and "ASSENT_WEBHOOK_ALLOW_HOSTS" in error


def test_a_change_that_rolls_back_queues_nothing(engine, account_id, receiver):
    from assent.domain import ProfileState, replay
    from assent.domain import transitions as t
    from assent.services.shared.recorder import Recorded, recording

    webhook_id, _ = _webhook(engine, account_id, receiver.url)
    profile_id = _subscribe(engine, account_id, "rb@example.com").profile_id
    _deliver(engine)
    state = ProfileState(email="rb@example.com")
    events = t.unsubscribe(state, Channel.EMAIL, Purpose.MARKETING, now=utcnow())
    with pytest.raises(RuntimeError), recording(engine, account_id) as rec:
        rec.record([Recorded(profile_id, replay(events, state), events)])
        raise RuntimeError("roll back")
    assert endpoints.get(engine, account_id, webhook_id, with_queue=True).queued == 0
    assert len(receiver.received) == 1


def test_signatures_match_the_specifications_test_vector():
    # The Standard Webhooks specification's example: secret, id, timestamp, body and signature.
    headers = webhook_sender.signed_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        '{"test": 2432232314}',
        now=datetime.fromtimestamp(1614265330, tz=UTC),
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_a_bulk_jobs_events_are_queued_for_the_webhooks_enabled_when_it_writes(engine, account_id, receiver):
    # A bulk job looks the enabled webhooks up with the ledger lock (on PostgreSQL in the lock's
    # round trip): one made after the job was worked out, before it locked, still gets its events.
    from assent.services.consent.bulk import ConsentItem, subscribe_profiles
    from assent.services.profiles.batch import ProfileBatch

    made: list[str] = []
    prepare = ProfileBatch.prepare

    def prepare_then_make(self, *args, **kwargs):
        prepared = prepare(self, *args, **kwargs)
        if not made:
            made.append(_webhook(engine, account_id, receiver.url)[0])
        return prepared

    items = [ConsentItem(None, f"bulk{i}@example.com", None, tuple(EMAIL)) for i in range(3)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ProfileBatch, "prepare", prepare_then_make)
        report = subscribe_profiles(engine, account_id, items)
    assert report.events == 3
    assert endpoints.get(engine, account_id, made[0], with_queue=True).queued == 3
    other = _webhook(engine, account_id, receiver.url, topics=(UNSUBSCRIBED,))[0]
    subscribe_profiles(engine, account_id, [ConsentItem(None, "late@example.com", None, tuple(EMAIL))])
    assert endpoints.get(engine, account_id, made[0], with_queue=True).queued == 4
    assert endpoints.get(engine, account_id, other, with_queue=True).queued == 0


def test_a_stored_host_name_no_resolver_can_look_up_is_a_failed_attempt_and_the_round_goes_on(
    engine, account_id, receiver
):
    """An endpoint stored before such names were refused ("a..example": an empty label): the
    resolver raised UnicodeError, which ended the delivery round with a traceback each time."""
    from sqlalchemy import update

    from assent.store.db import write_transaction
    from assent.store.tables import webhooks as webhooks_table

    broken, _ = _webhook(engine, account_id, "https://hooks.example.com/in")
    with write_transaction(engine) as conn:
        conn.execute(update(webhooks_table).where(webhooks_table.c.account_id == account_id,
                                                  webhooks_table.c.id == broken)
                     .values(endpoint_url="https://a..example/in"))  # fmt: skip
    working, _ = _webhook(engine, account_id, receiver.url)
    _subscribe(engine, account_id, "label@example.com")
    _deliver(engine)
    assert len(receiver.received) == 1
    assert endpoints.get(engine, account_id, working, with_queue=True).queued == 0
    error = endpoints.get(engine, account_id, broken, with_queue=True).last_error
    assert error.startswith("cannot resolve a..example")
