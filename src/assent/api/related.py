"""What a resource's relationship links answer: the related profile (`…/{id}/profile`) and a
to-one linkage (`…/{id}/relationships/…`), shared by push tokens and events."""

from __future__ import annotations

from starlette.responses import Response

from ..services.profiles import pages as profile_pages
from ..wire.documents import json_response, sparse
from .operation import Call
from .resources import profile_resource


def related_profile(call: Call, profile_id: str, fields: list[str] | None, extra: set[str]) -> Response:
    """The profile as GET /api/profiles/{id} shows it, `fields` and `extra` already checked."""
    view, _ = profile_pages.one_profile(
        call.engine, call.account_id, profile_id, subscriptions="subscriptions" in extra
    )
    resource = profile_resource(view, call.base_url)
    resource["attributes"] = sparse(resource["attributes"], fields)
    return json_response({"data": resource, "links": {"self": call.self_link()}})


def linkage(call: Call, resource_type: str, resource_id: str) -> Response:
    return json_response({"data": {"type": resource_type, "id": resource_id}, "links": {"self": call.self_link()}})
