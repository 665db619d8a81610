"""Klaviyo's webhook endpoints: an account's webhooks and the topics they may take.

A webhook is sent every ledger event of its topics, signed as the Standard Webhooks
specification says with the webhook's `secret_key` (a `whsec_` secret). The endpoint URL is shown
truncated to its origin, as Klaviyo does; `disabled_reason` (Assent's) says why Assent disabled a
webhook that kept failing."""

from __future__ import annotations

from collections.abc import Iterator, Set
from contextlib import contextmanager
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..domain.webhooks import TOPICS, shown_url
from ..services.shared.errors import NotFound
from ..services.webhooks import endpoints as service
from ..wire.documents import json_response, no_content, sparse
from ..wire.errors import ApiError, invalid, not_found
from .operation import Call, Operation, Param

WEBHOOK_FIELDS = ("name", "description", "endpoint_url", "enabled", "created_at", "updated_at", "disabled_reason")
TOPICS_POINTER = "/data/relationships/webhook-topics/data"

# --- request bodies ---------------------------------------------------------------------------


class TopicIdentifier(msgspec.Struct):
    type: Literal["webhook-topic"]
    id: Annotated[str, Meta(min_length=1, max_length=200)]


class TopicLinkage(msgspec.Struct):
    data: Annotated[list[TopicIdentifier], Meta(max_length=len(TOPICS))]


class WebhookRelationships(msgspec.Struct):
    webhook_topics: TopicLinkage = msgspec.field(name="webhook-topics")


class WebhookUpdateRelationships(msgspec.Struct):
    webhook_topics: TopicLinkage | UnsetType = msgspec.field(name="webhook-topics", default=UNSET)


class WebhookCreateAttributes(msgspec.Struct):
    name: str
    endpoint_url: str
    secret_key: str
    description: str | None = None


class WebhookCreateData(msgspec.Struct):
    type: Literal["webhook"]
    attributes: WebhookCreateAttributes
    relationships: WebhookRelationships


class WebhookCreateQuery(msgspec.Struct):
    data: WebhookCreateData


class WebhookUpdateAttributes(msgspec.Struct):
    name: str | None | UnsetType = UNSET
    description: str | None | UnsetType = UNSET
    endpoint_url: str | None | UnsetType = UNSET
    secret_key: str | None | UnsetType = UNSET
    enabled: bool | None | UnsetType = UNSET


class WebhookUpdateData(msgspec.Struct):
    type: Literal["webhook"]
    id: str
    attributes: WebhookUpdateAttributes
    relationships: WebhookUpdateRelationships | UnsetType = UNSET


class WebhookPartialUpdateQuery(msgspec.Struct):
    data: WebhookUpdateData


# --- response documents (for the OpenAPI document; handlers build plain dicts) ----------------


class WebhookResponseAttributes(msgspec.Struct, omit_defaults=True):
    name: str | UnsetType = UNSET
    description: str | None | UnsetType = UNSET
    endpoint_url: str | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    disabled_reason: str | None | UnsetType = UNSET


class WebhookResponseObject(msgspec.Struct):
    type: Literal["webhook"]
    id: str
    attributes: WebhookResponseAttributes
    relationships: dict[str, Any]
    links: dict[str, str]


class WebhookDocument(msgspec.Struct, omit_defaults=True):
    data: WebhookResponseObject
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class WebhookCollectionDocument(msgspec.Struct, omit_defaults=True):
    data: list[WebhookResponseObject]
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class TopicObject(msgspec.Struct):
    type: Literal["webhook-topic"]
    id: str
    links: dict[str, str]


class TopicDocument(msgspec.Struct):
    data: TopicObject
    links: dict[str, str]


class TopicCollectionDocument(msgspec.Struct):
    data: list[TopicObject]
    links: dict[str, str]


# --- shared pieces ----------------------------------------------------------------------------


@contextmanager
def _answers(call: Call) -> Iterator[None]:
    """Service errors as the API words them: an unknown webhook is a 404; a bad topic points at it."""
    try:
        yield
    except NotFound as e:
        if e.field == "webhook":
            raise not_found("webhook", str(e.value)) from None
        raise
    except DomainError as e:
        if e.field != "webhook-topics":
            raise
        refs = _topic_refs(call)
        index = next((i for i, ref in enumerate(refs) if ref.id == e.value), None)
        pointer = TOPICS_POINTER if index is None else f"{TOPICS_POINTER}/{index}/id"
        raise ApiError(400, "invalid", str(e), pointer=pointer) from None


def _topic_refs(call: Call) -> list[TopicIdentifier]:
    relationships = call.body.data.relationships
    if relationships is UNSET or relationships.webhook_topics is UNSET:
        return []
    return list(relationships.webhook_topics.data)


def _checked_fields(call: Call) -> list[str] | None:
    fields = call.fields("webhook")
    unknown = sorted({f for f in fields or () if f not in ("id", *WEBHOOK_FIELDS)})
    if unknown:
        raise invalid(
            f"fields[webhook] may name {', '.join(WEBHOOK_FIELDS)}; not {', '.join(unknown)}",
            parameter="fields[webhook]",
        )
    return fields


def _webhook_url(call: Call, webhook_id: str) -> str:
    return f"{call.base_url}/api/webhooks/{webhook_id}/"


def _topic(call: Call, topic: str) -> dict[str, Any]:
    return {
        "type": "webhook-topic",
        "id": topic,
        "links": {"self": f"{call.base_url}/api/webhook-topics/{quote(topic)}/"},
    }


def _webhook_resource(call: Call, item: service.Webhook, fields: list[str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": item.name,
        "description": item.description,
        "endpoint_url": shown_url(item.endpoint_url),
        "enabled": item.enabled,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
        "disabled_reason": item.disabled_reason,
    }
    url = _webhook_url(call, item.id)
    return {
        "type": "webhook",
        "id": item.id,
        # Klaviyo's schema requires these three, so a sparse fieldset keeps them.
        "attributes": {**{k: attributes[k] for k in ("name", "endpoint_url", "enabled")}, **sparse(attributes, fields)},
        "relationships": {
            "webhook-topics": {
                "data": [{"type": "webhook-topic", "id": t} for t in item.topics],
                "links": {"self": f"{url}relationships/webhook-topics/", "related": f"{url}webhook-topics/"},
            }
        },
        "links": {"self": url},
    }


def _with_included(call: Call, document: dict[str, Any], items: list[service.Webhook], include: Set[str]) -> Response:
    if "webhook-topics" in include:
        topics = dict.fromkeys(t for item in items for t in item.topics)
        document["included"] = [_topic(call, t) for t in topics]
    return json_response(document)


# --- /api/webhooks ----------------------------------------------------------------------------


def get_webhooks(call: Call) -> Response:
    fields = _checked_fields(call)
    include = call.include(("webhook-topics",))
    found = service.listing(call.engine, call.account_id)
    data = [_webhook_resource(call, item, fields) for item in found]
    return _with_included(call, {"data": data, "links": {"self": call.self_link()}}, found, include)


def get_webhook(call: Call) -> Response:
    fields = _checked_fields(call)
    include = call.include(("webhook-topics",))
    with _answers(call):
        found = service.get(call.engine, call.account_id, call.path["id"])
    document = {"data": _webhook_resource(call, found, fields), "links": {"self": call.self_link()}}
    return _with_included(call, document, [found], include)


def create_webhook(call: Call) -> Response:
    fields = _checked_fields(call)
    data = call.body.data
    attributes = data.attributes
    with _answers(call):
        made, _secret = service.create(
            call.engine, call.account_id, name=attributes.name, endpoint_url=attributes.endpoint_url,
            topics=[ref.id for ref in data.relationships.webhook_topics.data], secret=attributes.secret_key,
            description=attributes.description,
        )  # fmt: skip
    document = {"data": _webhook_resource(call, made, fields), "links": {"self": _webhook_url(call, made.id)}}
    return json_response(document, status=201)


def update_webhook(call: Call) -> Response:
    fields = _checked_fields(call)
    webhook_id = call.path["id"]
    data = call.body.data
    if data.id != webhook_id:
        raise invalid(f"data.id ({data.id}) must be the id in the path ({webhook_id})", pointer="/data/id")
    a = data.attributes
    changes: dict[str, Any] = {
        name: value
        for name, value in (("name", a.name), ("endpoint_url", a.endpoint_url), ("enabled", a.enabled))
        if value is not UNSET and value is not None
    }
    if a.secret_key is not UNSET and a.secret_key is not None:
        changes["secret"] = a.secret_key
    if a.description is not UNSET:
        changes["description"] = a.description
    if data.relationships is not UNSET and data.relationships.webhook_topics is not UNSET:
        changes["topics"] = [ref.id for ref in data.relationships.webhook_topics.data]
    with _answers(call):
        updated = service.update(call.engine, call.account_id, webhook_id, **changes)
    return json_response(
        {"data": _webhook_resource(call, updated, fields), "links": {"self": _webhook_url(call, webhook_id)}}
    )


def delete_webhook(call: Call) -> Response:
    with _answers(call):
        service.delete(call.engine, call.account_id, call.path["id"])
    return no_content(204)


# --- /api/webhook-topics ----------------------------------------------------------------------


def get_webhook_topics(call: Call) -> Response:
    _check_topic_fields(call)
    return json_response({"data": [_topic(call, t) for t in TOPICS], "links": {"self": call.self_link()}})


def get_webhook_topic(call: Call) -> Response:
    _check_topic_fields(call)
    topic = call.path["id"]
    if topic not in TOPICS:
        raise not_found("webhook-topic", topic)
    return json_response({"data": _topic(call, topic), "links": {"self": call.self_link()}})


def _check_topic_fields(call: Call) -> None:
    unknown = [f for f in call.fields("webhook-topic") or () if f != "id"]
    if unknown:
        raise invalid(f"fields[webhook-topic] may name id; not {', '.join(unknown)}", parameter="fields[webhook-topic]")


# --- the operation table ----------------------------------------------------------------------

_READ = ("webhooks:read",)
_WRITE = ("webhooks:write",)
_P_FIELDS = Param("fields[webhook]", "Attributes to return, comma separated: " + ", ".join(WEBHOOK_FIELDS) + ".")
_P_INCLUDE = Param("include", "webhook-topics: the topics as included resources.")
_P_TOPIC_FIELDS = Param("fields[webhook-topic]", "id (a topic has no other attribute).")

OPERATIONS: list[Operation] = [
    Operation(
        "GET", "/api/webhooks", "get_webhooks", get_webhooks, _READ, 1, 15, "Get the account's webhooks",
        params=(_P_FIELDS, _P_INCLUDE), response=WebhookCollectionDocument, tag="Webhooks",
    ),
    Operation(
        "POST", "/api/webhooks", "create_webhook", create_webhook, _WRITE, 1, 15,
        "Create a webhook: every event of its topics is sent to it, signed with its secret (Standard Webhooks)",
        body=WebhookCreateQuery, status=201, params=(_P_FIELDS,), response=WebhookDocument, tag="Webhooks",
    ),
    Operation(
        "GET", "/api/webhooks/{id}", "get_webhook", get_webhook, _READ, 1, 15, "Get a webhook",
        params=(_P_FIELDS, _P_INCLUDE), response=WebhookDocument, tag="Webhooks",
    ),
    Operation(
        "PATCH", "/api/webhooks/{id}", "update_webhook", update_webhook, _WRITE, 1, 15,
        "Update a webhook (enabling it again sends what was queued for it, from where it stopped)",
        body=WebhookPartialUpdateQuery, params=(_P_FIELDS,), response=WebhookDocument, tag="Webhooks",
    ),
    Operation(
        "DELETE", "/api/webhooks/{id}", "delete_webhook", delete_webhook, _WRITE, 1, 15,
        "Delete a webhook and what was still queued for it", status=204, tag="Webhooks",
    ),
    Operation(
        "GET", "/api/webhook-topics", "get_webhook_topics", get_webhook_topics, _READ, 1, 15,
        "Get the topics a webhook may take", params=(_P_TOPIC_FIELDS,), response=TopicCollectionDocument,
        tag="Webhooks",
    ),
    Operation(
        "GET", "/api/webhook-topics/{id}", "get_webhook_topic", get_webhook_topic, _READ, 1, 15,
        "Get a webhook topic", params=(_P_TOPIC_FIELDS,), response=TopicDocument, tag="Webhooks",
    ),
]  # fmt: skip
