"""Check a response body against the schema Klaviyo's OpenAPI document gives its operation.

    from tests.api.klaviyo_schema import assert_klaviyo_shape
    assert_klaviyo_shape("get_profiles", response.json())

The schemas come from klaviyo_schemas.json (made by extract_klaviyo_schemas.py), already turned
into JSON Schema 2020-12. Beyond the spec, `date-time` strings must carry a UTC offset and `uri`
strings must be absolute URLs, as Klaviyo sends them."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

_SCHEMAS = Path(__file__).with_name("klaviyo_schemas.json")
_MAX_SHOWN = 15

_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value).tzinfo is not None  # ISO 8601 with an offset, as Klaviyo writes


@_formats.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@cache
def _document() -> dict[str, Any]:
    return json.loads(_SCHEMAS.read_text())


def operation_ids() -> list[str]:
    return list(_document()["operations"])


@cache
def _validator(operation_id: str, status: str) -> Draft202012Validator | None:
    doc = _document()
    schema = doc["operations"][operation_id][status]
    if schema is None:
        return None
    root = {"$schema": doc["$schema"], "$defs": doc["$defs"], **schema}
    return Draft202012Validator(root, format_checker=_formats)


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(document)"
    message = error.message if len(error.message) < 300 else error.message[:300] + "…"
    line = f"  at {where}: {message}"
    if error.context:
        # anyOf/oneOf: say which alternative came closest and why it failed.
        closest = best_match(error.context)
        inner = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in closest.absolute_path)
        line += f"\n      closest alternative: at {inner or '(document)'}: {closest.message[:300]}"
    return line


def klaviyo_errors(operation_id: str, body: Any, status: int | None = None) -> list[str]:
    """Readable schema errors of `body` as the response of `operation_id` (empty when it fits).
    Without `status`, the body may fit any of the operation's 2xx responses."""
    operations = _document()["operations"]
    if operation_id not in operations:
        raise KeyError(f"no Klaviyo schema for {operation_id!r}; known: {', '.join(operations)}")
    statuses = [str(status)] if status is not None else list(operations[operation_id])
    unknown = [s for s in statuses if s not in operations[operation_id]]
    if unknown:
        raise KeyError(f"{operation_id} has no {unknown[0]} response; it has {', '.join(operations[operation_id])}")
    problems: list[str] = []
    for code in statuses:
        validator = _validator(operation_id, code)
        if validator is None:
            if body not in (None, b"", ""):
                problems.append(f"  ({code}) Klaviyo answers {operation_id} with no body")
            else:
                return []
            continue
        errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        if not errors:
            return []
        shown = [_describe(e) for e in errors[:_MAX_SHOWN]]
        if len(errors) > _MAX_SHOWN:
            shown.append(f"  … and {len(errors) - _MAX_SHOWN} more")
        problems += [f"  as its {code} response:", *shown]
    return problems


def assert_klaviyo_shape(operation_id: str, body: Any, status: int | None = None) -> None:
    """Fail, listing every mismatch, unless `body` fits Klaviyo's schema for `operation_id`."""
    problems = klaviyo_errors(operation_id, body, status)
    if problems:
        raise AssertionError(f"the body does not fit Klaviyo's {operation_id} response schema:\n" + "\n".join(problems))
