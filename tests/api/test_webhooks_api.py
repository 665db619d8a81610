"""Klaviyo's webhook endpoints against a real server: the shapes (Klaviyo's schemas and the official
SDK's typed models), the checks on endpoint URLs, topics and secrets, and tenancy."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import NotFoundException
from openapi_client.models import (
    GetWebhookResponseCollectionCompoundDocument,
    GetWebhookResponseCompoundDocument,
    GetWebhookTopicResponse,
    GetWebhookTopicResponseCollection,
    PatchWebhookResponse,
    PostWebhookResponse,
)

from assent.domain.webhooks import TOPICS
from tests.api.conftest import Client
from tests.api.klaviyo_schema import assert_klaviyo_shape

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SUPPRESSED_REF = {"type": "webhook-topic", "id": "event:assent.suppressed"}
EMAIL_TOPICS = ("event:klaviyo.subscribed_to_email_marketing", "event:klaviyo.unsubscribed_from_email_marketing")


def body(url: str = "https://hooks.example.com/in?token=t0ps3cret", topics=EMAIL_TOPICS, **attributes: Any) -> dict:
    return {
        "data": {
            "type": "webhook",
            "attributes": {"name": "Consent mirror", "endpoint_url": url, "secret_key": SECRET, **attributes},
            "relationships": {"webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in topics]}},
        }
    }


def create(api: Client, **kw: Any) -> dict:
    r = api.post("/api/webhooks", json=body(**kw))
    assert r.status_code == 201, r.text
    assert_klaviyo_shape("create_webhook", r.json())
    return r.json()["data"]


@pytest.fixture
def klaviyo(server, api) -> KlaviyoAPI:
    return KlaviyoAPI(api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)


def test_webhook_crud_through_the_sdk(klaviyo):
    created = klaviyo.Webhooks.create_webhook(body(description="for the CRM"))
    assert isinstance(created, PostWebhookResponse)
    webhook_id = created.data.id
    assert created.data.attributes.enabled is True
    assert [t.id for t in created.data.relationships.webhook_topics.data] == list(EMAIL_TOPICS)

    got = klaviyo.Webhooks.get_webhook(webhook_id, include=["webhook-topics"])
    assert isinstance(got, GetWebhookResponseCompoundDocument)
    assert got.data.attributes.description == "for the CRM"
    assert sorted(t.id for t in got.included) == sorted(EMAIL_TOPICS)

    listed = klaviyo.Webhooks.get_webhooks()
    assert isinstance(listed, GetWebhookResponseCollectionCompoundDocument)
    assert [w.id for w in listed.data] == [webhook_id]

    patch = {"data": {"type": "webhook", "id": webhook_id, "attributes": {"name": "Renamed", "enabled": False}}}
    updated = klaviyo.Webhooks.update_webhook(webhook_id, patch)
    assert isinstance(updated, PatchWebhookResponse)
    assert (updated.data.attributes.name, updated.data.attributes.enabled) == ("Renamed", False)

    klaviyo.Webhooks.delete_webhook(webhook_id)
    with pytest.raises(NotFoundException):
        klaviyo.Webhooks.get_webhook(webhook_id)


def test_webhook_topics_through_the_sdk(klaviyo):
    topics = klaviyo.Webhooks.get_webhook_topics()
    assert isinstance(topics, GetWebhookTopicResponseCollection)
    assert [t.id for t in topics.data] == list(TOPICS)
    one = klaviyo.Webhooks.get_webhook_topic("event:klaviyo.subscribed_to_sms_marketing")
    assert isinstance(one, GetWebhookTopicResponse)
    with pytest.raises(NotFoundException):
        klaviyo.Webhooks.get_webhook_topic("event:klaviyo.sent_sms")


def test_every_response_fits_klaviyos_schema(api):
    made = create(api)
    r = api.get(f"/api/webhooks/{made['id']}", params={"include": "webhook-topics"})
    assert_klaviyo_shape("get_webhook", r.json())
    r = api.get("/api/webhooks", params={"include": "webhook-topics", "fields[webhook]": "name"})
    assert_klaviyo_shape("get_webhooks", r.json())
    assert set(r.json()["data"][0]["attributes"]) == {"name", "endpoint_url", "enabled"}  # the schema's required
    r = api.patch(
        f"/api/webhooks/{made['id']}",
        json={"data": {"type": "webhook", "id": made["id"], "attributes": {"description": None}}},
    )
    assert_klaviyo_shape("update_webhook", r.json())
    assert_klaviyo_shape("get_webhook_topics", api.get("/api/webhook-topics").json())
    assert_klaviyo_shape("get_webhook_topic", api.get(f"/api/webhook-topics/{TOPICS[0]}").json())


def test_endpoint_url_is_shown_truncated_to_its_origin(api):
    made = create(api, url="https://hooks.example.com:8443/in?token=t0ps3cret")
    assert made["attributes"]["endpoint_url"] == "https://hooks.example.com:8443"
    assert "t0ps3cret" not in api.get(f"/api/webhooks/{made['id']}").text


def _refused(api: Client, document: dict, pointer: str) -> dict:
    r = api.post("/api/webhooks", json=document)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["source"]["pointer"] == pointer, error
    assert api.get("/api/webhooks").json()["data"] == []  # nothing written
    return error


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.1.2.3/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[::ffff:192.168.0.1]/in",
        "https://user:pw@hooks.example.com/in",
        "not a url",
        # No name to resolve: an empty label, a label over 63 characters, port 0. They were stored,
        # and the resolver raised at every delivery round (a traceback, the round cut short).
        "https://a..example/in",
        "https://" + "a" * 64 + ".example/in",
        "https://hooks.example.com:0/in",
        # A character no host name has: stored, then retried for a day against a name nobody resolves.
        "https://exa mple.com/x",
        "https://exa\u3000mple.com/x",
        "https://exa%20mple.com/x",
        'https://ex"ample.com/x',
    ],
)
def test_endpoint_url_must_be_https_to_a_public_address(api, url):
    _refused(api, body(url=url), "/data/attributes/endpoint_url")


def test_unknown_topic_is_a_400_pointing_at_it(api):
    error = _refused(
        api, body(topics=(EMAIL_TOPICS[0], "event:klaviyo.sent_sms")), "/data/relationships/webhook-topics/data/1/id"
    )
    assert "event:klaviyo.sent_sms" in error["detail"]
    _refused(api, body(topics=()), "/data/relationships/webhook-topics/data")


@pytest.mark.parametrize(
    "secret", ["INSERT_SECRET_KEY", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_secret_key_must_be_a_standard_webhooks_secret(api, secret):
    document = body()
    document["data"]["attributes"]["secret_key"] = secret
    _refused(api, document, "/data/attributes/secret_key")


def test_patch_checks_what_it_changes_and_writes_nothing_on_error(api):
    made = create(api)
    r = api.patch(
        f"/api/webhooks/{made['id']}",
        json={"data": {"type": "webhook", "id": made["id"], "attributes": {"name": "New", "endpoint_url": "http://x"}}},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/endpoint_url"
    assert api.get(f"/api/webhooks/{made['id']}").json()["data"]["attributes"]["name"] == "Consent mirror"
    r = api.patch(
        f"/api/webhooks/{made['id']}",
        json={
            "data": {
                "type": "webhook", "id": made["id"], "attributes": {},
                "relationships": {"webhook-topics": {"data": [SUPPRESSED_REF]}},
            }
        },
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["data"]["relationships"]["webhook-topics"]["data"] == [SUPPRESSED_REF]


def test_another_accounts_webhook_is_not_found(api, other_api):
    made = create(api)
    assert other_api.get(f"/api/webhooks/{made['id']}").status_code == 404
    assert other_api.delete(f"/api/webhooks/{made['id']}").status_code == 404
    assert other_api.get("/api/webhooks").json()["data"] == []
    assert api.get(f"/api/webhooks/{made['id']}").status_code == 200
