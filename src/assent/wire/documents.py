"""Building JSON:API responses: encoding, links, sparse fieldsets."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from .errors import ApiError

MEDIA_TYPE = "application/vnd.api+json"
encode = msgspec.json.Encoder().encode


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(document), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def no_content(status: int = 202) -> Response:
    return Response(status_code=status)


def error_response(errors: list[ApiError]) -> Response:
    status = errors[0].status
    headers: dict[str, str] = {}
    for e in errors:
        headers.update(e.headers)
    return json_response({"errors": [e.as_json() for e in errors]}, status, headers)


def sparse(attributes: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Keep only the requested attributes; dotted names keep one leaf of a nested object."""
    if not fields:
        return attributes
    out: dict[str, Any] = {}
    for name in fields:
        head, _, rest = name.partition(".")
        if head not in attributes:
            continue
        if not rest or not isinstance(attributes[head], dict):
            out[head] = attributes[head]
            continue
        source, target = attributes[head], out.setdefault(head, {})
        parts = rest.split(".")
        for part in parts[:-1]:
            if not isinstance(source, dict) or part not in source:
                break
            source = source[part]
            target = target.setdefault(part, {})
        else:
            if isinstance(source, dict) and parts[-1] in source:
                target[parts[-1]] = source[parts[-1]]
    return out
