"""Klaviyo's push tokens: `POST /api/push-tokens` (create or update), `GET /api/push-tokens`,
`GET /api/push-tokens/{id}`, `DELETE /api/push-tokens/{id}`, and the token's profile (`GET
/api/push-tokens/{id}/profile` and `/relationships/profile`, where its links point). The bodies are Klaviyo's
PushTokenCreateQuery; the public `/client/push-tokens` and `/client/push-token-unregister` take
the same bodies and live in web/push_tokens.py. Push marketing consent follows the tokens."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..domain import DomainError, Proof
from ..domain.push_tokens import VENDOR_NAMES, EnablementStatus, Platform
from ..services.profiles import pages as profile_pages
from ..services.push import tokens as service
from ..services.push.tokens import PushToken
from ..wire.documents import json_response, no_content, sparse
from ..wire.errors import not_found
from ..wire.push_tokens import PushTokenCreateQuery, answer, device_of, owner_of
from .filters import FieldRule
from .lists import PROFILE_FIELDS
from .operation import Call, Operation, Param
from .related import linkage, related_profile
from .resources import profile_resource
from .suppressions import checked_cursor

# --- responses ------------------------------------------------------------------------------------


TOKEN_FIELDS = ("created", "token", "enablement_status", "platform", "vendor", "background", "recorded_date",
                "metadata")  # fmt: skip


def token_resource(call: Call, token: PushToken) -> dict[str, Any]:
    base = call.base_url
    return {
        "type": "push-token",
        "id": token.id,
        "attributes": sparse(
            {
                "created": token.created.isoformat(),
                "token": token.token,
                "enablement_status": token.enablement_status.value,
                "platform": token.platform.value,
                "vendor": VENDOR_NAMES[token.vendor],
                "background": token.background.value,
                "recorded_date": token.recorded.isoformat(),
                "metadata": token.metadata,
            },
            call.checked_fields("push-token", TOKEN_FIELDS),
        ),
        "relationships": {
            "profile": {
                "data": {"type": "profile", "id": token.profile_id},
                "links": {
                    "self": f"{base}/api/push-tokens/{token.id}/relationships/profile/",
                    "related": f"{base}/api/push-tokens/{token.id}/profile/",
                },
            }
        },
        "links": {"self": f"{base}/api/push-tokens/{token.id}/"},
    }


def _included(call: Call, tokens: list[PushToken], fields: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for profile_id in dict.fromkeys(t.profile_id for t in tokens):
        view, _ = profile_pages.one_profile(call.engine, call.account_id, profile_id)
        resource = profile_resource(view, call.base_url)
        resource["attributes"] = sparse(resource["attributes"], fields)
        out.append(resource)
    return out


_EQUALS = frozenset({"equals"})
FILTERS = {
    "id": FieldRule(_EQUALS, "string"),
    "profile.id": FieldRule(_EQUALS, "string"),
    "enablement_status": FieldRule(_EQUALS, "enum", frozenset(e.value for e in EnablementStatus)),
    "platform": FieldRule(_EQUALS, "enum", frozenset(p.value for p in Platform)),
}


# --- handlers -------------------------------------------------------------------------------------


def post_push_token(call: Call) -> Response:
    body: PushTokenCreateQuery = call.body
    attrs = body.data.attributes
    try:
        service.register(call.engine, call.account_id, owner_of(attrs.profile), device_of(attrs),
                         proof=Proof(source="push tokens API", actor=f"api key {call.key.id}"))  # fmt: skip
    except DomainError as e:
        raise answer(e) from None
    return no_content(202)


def get_push_tokens(call: Call) -> Response:
    conditions = [(c.op, c.field, c.value) for c in call.filter(FILTERS)]
    size = call.page_size(20, 100)
    include = call.include(("profile",))
    fields = call.checked_fields("profile", PROFILE_FIELDS)
    cursor = checked_cursor(call, ("text",))  # the listing's key is the id
    found, page = service.page(
        call.engine, call.account_id, conditions, size=size,
        after=cursor.after if cursor else None, before=cursor.before if cursor else None,
    )  # fmt: skip
    doc: dict[str, Any] = {"data": [token_resource(call, t) for t in found], "links": call.page_links(page)}
    if include:
        doc["included"] = _included(call, found, fields)
    return json_response(doc)


def _token(call: Call) -> PushToken:
    try:
        return service.get(call.engine, call.account_id, call.path["id"])
    except DomainError:
        raise not_found("push token", call.path["id"]) from None


def get_push_token(call: Call) -> Response:
    include = call.include(("profile",))
    fields = call.checked_fields("profile", PROFILE_FIELDS)
    token = _token(call)
    doc: dict[str, Any] = {"data": token_resource(call, token), "links": {"self": call.self_link()}}
    if include:
        doc["included"] = _included(call, [token], fields)
    return json_response(doc)


def get_profile_for_push_token(call: Call) -> Response:
    fields = call.checked_fields("profile", PROFILE_FIELDS)
    extra = call.additional_fields("profile", ("subscriptions",))
    return related_profile(call, _token(call).profile_id, fields, extra)


def get_profile_id_for_push_token(call: Call) -> Response:
    return linkage(call, "profile", _token(call).profile_id)


def delete_push_token(call: Call) -> Response:
    try:
        service.delete(call.engine, call.account_id, call.path["id"],
                       proof=Proof(source="push tokens API", actor=f"api key {call.key.id}"))  # fmt: skip
    except DomainError:
        raise not_found("push token", call.path["id"]) from None
    return no_content(204)


_READ = ("profiles:read", "push-tokens:read")
_WRITE = ("profiles:write", "push-tokens:write")
_FIELDS = Param("fields[push-token]", "Sparse fieldset of push-token attributes")
_INCLUDE = Param("include", "profile")
OPERATIONS = [
    Operation("POST", "/api/push-tokens", "create_push_token", post_push_token, _WRITE, 75, 700,
              "Create or update a push token; push marketing consent follows its enablement status",
              body=PushTokenCreateQuery, status=202, tag="Push Tokens"),
    Operation("GET", "/api/push-tokens", "get_push_tokens", get_push_tokens, _READ, 10, 150,
              "The account's push tokens, cursor paged; filter on id, profile.id, enablement_status, platform",
              params=(_FIELDS, _INCLUDE, Param("filter", "equals(profile.id,'…')")), tag="Push Tokens"),
    Operation("GET", "/api/push-tokens/{id}", "get_push_token", get_push_token, _READ, 10, 150,
              "One push token", params=(_FIELDS, _INCLUDE), tag="Push Tokens"),
    Operation("GET", "/api/push-tokens/{id}/profile", "get_profile_for_push_token", get_profile_for_push_token,
              _READ, 10, 150, "The profile a push token belongs to",
              params=(Param("fields[profile]", "Profile attributes to return, comma separated."),
                      Param("additional-fields[profile]", "subscriptions")), tag="Push Tokens"),
    Operation("GET", "/api/push-tokens/{id}/relationships/profile", "get_profile_id_for_push_token",
              get_profile_id_for_push_token, _READ, 10, 150, "The id of the profile a push token belongs to",
              tag="Push Tokens"),
    Operation("DELETE", "/api/push-tokens/{id}", "delete_push_token", delete_push_token, _WRITE, 3, 60,
              "Delete a push token; push marketing consent follows", status=204, tag="Push Tokens"),
]  # fmt: skip
