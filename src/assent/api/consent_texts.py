"""Assent's consent text versions: `POST /api/consent-texts` stores the exact wording a form or
page shows; `GET` reads them back. A stored version is never changed (there is no PATCH or
DELETE): a new wording is a new version, so a consent proof always shows what the person saw."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from starlette.responses import Response

from ..services.consent import texts as service
from ..services.shared.errors import NotFound
from ..wire.documents import json_response, sparse
from ..wire.errors import ApiError, from_domain, invalid, not_found
from .operation import Call, Operation, Param

FIELDS = ("version", "text", "language", "sha256", "created")


class ConsentTextCreateAttributes(msgspec.Struct):
    version: str
    text: str
    language: str | None = None


class ConsentTextCreateData(msgspec.Struct):
    type: Literal["consent-text"]
    attributes: ConsentTextCreateAttributes


class ConsentTextCreateQuery(msgspec.Struct):
    data: ConsentTextCreateData


class ConsentTextAttributes(msgspec.Struct, omit_defaults=True):
    version: str | UnsetType = UNSET
    text: str | UnsetType = UNSET
    language: str | None | UnsetType = UNSET
    sha256: str | UnsetType = UNSET
    created: str | UnsetType = UNSET


class ConsentTextObject(msgspec.Struct):
    type: Literal["consent-text"]
    id: str
    attributes: ConsentTextAttributes
    links: dict[str, str]


class ConsentTextDocument(msgspec.Struct):
    data: ConsentTextObject
    links: dict[str, str]


class ConsentTextCollectionDocument(msgspec.Struct):
    data: list[ConsentTextObject]
    links: dict[str, str]


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except NotFound as e:
        raise not_found("consent-text", str(e.value)) from None
    except service.DuplicateVersion as e:
        error = from_domain(e)
        meta = {"duplicate_consent_text_id": e.existing_id}
        raise ApiError(409, e.code, error.detail, pointer="/data/attributes/version", meta=meta) from None


def _fields(call: Call) -> list[str] | None:
    fields = call.fields("consent-text")
    unknown = sorted({f for f in fields or () if f not in FIELDS})
    if unknown:
        raise invalid(
            f"fields[consent-text] may name {', '.join(FIELDS)}; not {', '.join(unknown)}",
            parameter="fields[consent-text]",
        )
    return fields


def _resource(call: Call, item: service.ConsentText, fields: list[str] | None) -> dict[str, Any]:
    attributes = {
        "version": item.version,
        "text": item.text,
        "language": item.language,
        "sha256": item.sha256,
        "created": item.created_at.isoformat(),
    }
    return {
        "type": "consent-text",
        "id": item.id,
        "attributes": sparse(attributes, fields),
        "links": {"self": f"{call.base_url}/api/consent-texts/{item.id}/"},
    }


def get_consent_texts(call: Call) -> Response:
    fields = _fields(call)
    found = service.listing(call.engine, call.account_id)
    return json_response({"data": [_resource(call, t, fields) for t in found], "links": {"self": call.self_link()}})


def get_consent_text(call: Call) -> Response:
    fields = _fields(call)
    with _answers():
        found = service.get(call.engine, call.account_id, call.path["id"])
    return json_response({"data": _resource(call, found, fields), "links": {"self": call.self_link()}})


def create_consent_text(call: Call) -> Response:
    fields = _fields(call)
    a = call.body.data.attributes
    with _answers():
        made = service.create(call.engine, call.account_id, version=a.version, text=a.text, language=a.language)
    url = f"{call.base_url}/api/consent-texts/{made.id}/"
    document = {"data": _resource(call, made, fields), "links": {"self": url}}
    return json_response(document, status=201)


_P_FIELDS = Param("fields[consent-text]", "Attributes to return, comma separated: " + ", ".join(FIELDS) + ".")

OPERATIONS: list[Operation] = [
    Operation(
        "GET", "/api/consent-texts", "get_consent_texts", get_consent_texts, ("subscriptions:read",), 3, 60,
        "The account's consent text versions, oldest first", params=(_P_FIELDS,),
        response=ConsentTextCollectionDocument, tag="Assent",
    ),
    Operation(
        "POST", "/api/consent-texts", "create_consent_text", create_consent_text, ("subscriptions:write",), 3, 60,
        "Store a consent text version: the exact words a form or page shows (immutable; a new wording is a "
        "new version)", body=ConsentTextCreateQuery, status=201, params=(_P_FIELDS,),
        response=ConsentTextDocument, tag="Assent",
    ),
    Operation(
        "GET", "/api/consent-texts/{id}", "get_consent_text", get_consent_text, ("subscriptions:read",), 3, 60,
        "A consent text version", params=(_P_FIELDS,), response=ConsentTextDocument, tag="Assent",
    ),
]  # fmt: skip
