"""Webhook topics, endpoint URLs and secrets: the pure rules."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime

import pytest

from assent.domain import ALL_CHANNEL_PURPOSES, ConsentEvent, ConsentStatus, DomainError, EventType
from assent.domain import webhooks as w

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_consent_change_has_a_topic():
    for event_type in EventType:
        event = ConsentEvent(type=event_type, occurred_at=NOW)
        if event_type is EventType.CONSENT_CHANGED:
            continue  # needs a channel and purpose, below
        assert w.topic_of(event) in w.TOPICS, event_type


@pytest.mark.parametrize(("channel", "purpose"), ALL_CHANNEL_PURPOSES)
def test_subscribed_and_unsubscribed_per_channel_and_purpose(channel, purpose):
    def change(status):
        return ConsentEvent(
            type=EventType.CONSENT_CHANGED, occurred_at=NOW, channel=channel, purpose=purpose, status=status
        )

    on = w.topic_of(change(ConsentStatus.SUBSCRIBED))
    assert on == f"event:klaviyo.subscribed_to_{channel.value}_{purpose.value}" and on in w.TOPICS
    off = f"event:klaviyo.unsubscribed_from_{channel.value}_{purpose.value}"
    assert w.topic_of(change(ConsentStatus.UNSUBSCRIBED)) == off == w.topic_of(change(ConsentStatus.NEVER_SUBSCRIBED))


def test_double_optin_confirmed_is_its_own_topic():
    closed = ConsentEvent(type=EventType.OPTIN_CLOSED, occurred_at=NOW, outcome="confirmed")
    assert w.topic_of(closed) == w.DOUBLE_OPTIN_CONFIRMED
    assert (
        w.topic_of(ConsentEvent(type=EventType.OPTIN_CLOSED, occurred_at=NOW, outcome="cancelled"))
        == w.DOUBLE_OPTIN_CLOSED
    )


def test_unknown_topics_and_an_empty_list_are_refused():
    assert w.check_topics([w.SUPPRESSED, w.SUPPRESSED]) == (w.SUPPRESSED,)
    with pytest.raises(DomainError):
        w.check_topics([])
    with pytest.raises(DomainError):
        w.check_topics(["event:klaviyo.sent_sms"])


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "224.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_blocked(address):
    assert w.address_blocked(ipaddress.ip_address(address))


def test_public_addresses_are_not_blocked():
    assert not w.address_blocked(ipaddress.ip_address("93.184.216.34"))
    assert not w.address_blocked(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))


def test_allowed_hosts_may_use_http_and_private_addresses():
    allowed = frozenset({"127.0.0.1", "receiver.internal"})
    assert w.check_endpoint_url("http://127.0.0.1:9000/x", allowed)
    assert w.check_endpoint_url("http://receiver.internal/x", allowed)
    with pytest.raises(DomainError):
        w.check_endpoint_url("http://10.0.0.1/x", allowed)


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/in", "https://Bücher.example/in", "https://my_hooks.example.com./in",
     "https://93.184.216.34:8443/in", "https://[2606:2800:220:1:248:1893:25c8:1946]/in"],
)  # fmt: skip
def test_host_names_and_public_addresses_are_taken(url):
    assert w.check_endpoint_url(url, frozenset()) == url


@pytest.mark.parametrize("url", ["https://exa mple.com/x", "https://ex,ample.com/x", "https://ex<a>mple.com/x"])
def test_a_host_name_with_a_character_no_host_name_has_is_refused_naming_the_field(url):
    with pytest.raises(DomainError) as e:
        w.check_endpoint_url(url, frozenset())
    assert e.value.field == "endpoint_url" and "host name" in e.value.message


def test_secrets_are_standard_webhooks_secrets():
    good = "whsec_" + base64.b64encode(b"s" * 32).decode()
    assert w.check_secret(good) == good
    for bad in (
        "s" * 40,
        "whsec_" + base64.b64encode(b"s" * 8).decode(),
        "whsec_***",
        "whsec_" + base64.b64encode(b"s" * 65).decode(),
    ):
        with pytest.raises(DomainError):
            w.check_secret(bad)


def test_the_shown_url_keeps_only_the_origin():
    assert w.shown_url("https://hooks.example.com:8443/in?token=x") == "https://hooks.example.com:8443"
