"""Assent's OpenAPI 3.1 document, generated from the operation tables and the msgspec types the
handlers decode bodies into, so it cannot drift from what the server does."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .. import __version__
from .operation import Operation

_REF = "#/components/schemas/{name}"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "status", "code", "title", "detail"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "source": {
                        "type": "object",
                        "properties": {"pointer": {"type": "string"}, "parameter": {"type": "string"}},
                    },
                    "links": {"type": "object"},
                    "meta": {"type": "object"},
                },
            },
        }
    },
}

_RESOURCE = {
    "type": "object",
    "required": ["type", "id"],
    "properties": {
        "type": {"type": "string"},
        "id": {"type": "string"},
        "attributes": {"type": "object"},
        "relationships": {"type": "object"},
        "links": {"type": "object"},
    },
}
_LINKS = {
    "type": "object",
    "properties": {
        "self": {"type": "string"},
        "next": {"type": ["string", "null"]},
        "prev": {"type": ["string", "null"]},
    },
}
DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {"oneOf": [_RESOURCE, {"type": "array", "items": _RESOURCE}, {"type": "null"}]},
        "links": _LINKS,
        "meta": {"type": "object"},
        "included": {"type": "array", "items": _RESOURCE},
    },
}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    params.append(
        {
            "name": "revision",
            "in": "header",
            "required": True,
            "description": "API revision, YYYY-MM-DD (Klaviyo's convention).",
            "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$", "default": "2026-10-15"},
        }
    )
    params += [{"name": p.name, "in": "query", "description": p.description, "schema": p.schema} for p in op.params]
    return params


def document(operations: list[Operation]) -> dict[str, Any]:
    types = sorted({t for op in operations for t in (op.body, op.response) if t is not None}, key=lambda t: t.__name__)
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    components["ErrorDocument"] = ERROR_SCHEMA
    components["Document"] = DOCUMENT_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        ok: dict[str, Any] = {"description": op.summary}
        if op.status != 204 and not (op.status == 202 and op.response is None and op.body is not None):
            name = op.response.__name__ if op.response is not None else "Document"
            ok["content"] = {"application/vnd.api+json": {"schema": {"$ref": _REF.format(name=name)}}}
        error = {
            "description": "A JSON:API error document.",
            "content": {"application/vnd.api+json": {"schema": {"$ref": _REF.format(name="ErrorDocument")}}},
        }
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _parameters(op),
            "responses": {**{str(s): ok for s in sorted({op.status, *op.also})}, "4XX": error, "5XX": error},
            "security": [{"Klaviyo-API-Key": []}],
            "x-klaviyo-scopes": list(op.scopes),
            "x-klaviyo-ratelimit": {"burst": f"{op.burst}/s", "steady": f"{op.steady}/m"},
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/vnd.api+json": {"schema": {"$ref": _REF.format(name=op.body.__name__)}}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Assent API",
            "version": __version__,
            "description": "Consent and subscriptions: a wire-compatible subset of Klaviyo's REST API, "
            "plus Assent's own consent ledger, decisions and change feed.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "Klaviyo-API-Key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Klaviyo-API-Key pk_…",
                }
            },
        },
    }
