"""Assent's own link endpoint: the unsubscribe link of a message, with the List-Unsubscribe and
List-Unsubscribe-Post header values (RFC 2369, RFC 8058) a sender puts in it."""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..services.consent.changes import LOCATORS, Locator
from ..services.shared.errors import NotFound
from ..services.workflows import unsubscribe as service
from ..wire.documents import json_response
from ..wire.errors import ApiError, from_domain, invalid
from ..wire.linkage import ProfileLocator
from .operation import Call, Operation

# --- request body -----------------------------------------------------------------------------


class UnsubscribeLinkAttributes(Struct):
    profile: ProfileLocator
    list_id: str | None | UnsetType = UNSET
    message_id: str | None | UnsetType = UNSET


class UnsubscribeLinkQuery(Struct):
    type: Literal["unsubscribe-link"]
    attributes: UnsubscribeLinkAttributes


class UnsubscribeLinkCreateQuery(Struct):
    data: UnsubscribeLinkQuery


# --- response document (for the OpenAPI document; the handler builds a plain dict) -------------


class UnsubscribeLinkResponseAttributes(Struct):
    url: str
    list_unsubscribe: str  # the List-Unsubscribe header value
    list_unsubscribe_post: str  # the List-Unsubscribe-Post header value
    preferences_url: str
    profile_id: str
    list_id: str | None
    message_id: str | None


class UnsubscribeLinkResponseObject(Struct):
    type: Literal["unsubscribe-link"]
    id: str
    attributes: UnsubscribeLinkResponseAttributes
    links: dict[str, str]


class UnsubscribeLinkDocument(Struct, omit_defaults=True):
    data: UnsubscribeLinkResponseObject
    links: dict[str, str]
    meta: dict[str, list[str]] | UnsetType = UNSET


# --- POST /api/unsubscribe-links --------------------------------------------------------------

_BASE = "/data/attributes"


def post_unsubscribe_links(call: Call) -> Response:
    a: UnsubscribeLinkAttributes = call.body.data.attributes
    named = [(f, getattr(a.profile, f)) for f in LOCATORS if isinstance(getattr(a.profile, f), str)]
    if len(named) != 1:
        raise invalid(f"name the profile by exactly one of {', '.join(LOCATORS)}", pointer=f"{_BASE}/profile")
    list_id = a.list_id if isinstance(a.list_id, str) else None
    message_id = a.message_id if isinstance(a.message_id, str) else None
    try:
        made = service.unsubscribe_links(
            call.engine, call.account_id, Locator(*named[0]),
            list_id=list_id, message_id=message_id, base_url=call.base_url,
        )  # fmt: skip
    except NotFound as e:
        where = f"{_BASE}/list_id" if e.field == "list" else f"{_BASE}/profile"
        raise ApiError(404, "not_found", f"{e.field}: {e.message} (got {e.value!r})", pointer=where) from None
    except DomainError as e:
        # Errors about how the profile was named point into `profile`; the rest at their field.
        raise from_domain(e, f"{_BASE}/profile" if e.field in (*LOCATORS, "profile") else _BASE) from None
    attributes = {
        name: made[name]
        for name in (
            "url", "list_unsubscribe", "list_unsubscribe_post", "preferences_url", "profile_id", "list_id", "message_id"
        )
    }  # fmt: skip
    document: dict = {
        "data": {
            "type": "unsubscribe-link",
            "id": made["token"],
            "attributes": attributes,
            # The link is the resource: GET shows its page, POST (one-click) acts on it.
            "links": {"self": made["url"]},
        },
        "links": {"self": call.self_link()},
    }
    if made["warnings"]:
        document["meta"] = {"warnings": made["warnings"]}
    return json_response(document)


OPERATIONS = [
    Operation("POST", "/api/unsubscribe-links", "create_unsubscribe_link", post_unsubscribe_links,
              ("profiles:read",), 350, 3500,
              "The unsubscribe link of a message to a profile, with its List-Unsubscribe and "
              "List-Unsubscribe-Post (RFC 8058 one-click) header values and the preference-centre link",
              body=UnsubscribeLinkCreateQuery, response=UnsubscribeLinkDocument, tag="Assent"),
]  # fmt: skip
