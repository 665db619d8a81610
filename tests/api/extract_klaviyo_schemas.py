"""Cut the response schemas the API tests check against out of Klaviyo's OpenAPI document.

Run by hand when the reference spec changes (not collected by pytest):

    python -m tests.api.extract_klaviyo_schemas <klaviyo-openapi.json>

It writes tests/api/klaviyo_schemas.json: for each operation below, the schema of every 2xx
`application/vnd.api+json` response, and the `components/schemas` they reach, turned from
OpenAPI 3.0 into JSON Schema 2020-12 (`nullable: true` becomes a union with null) with the
prose (descriptions, examples) left out so the file stays small.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OPERATION_IDS = (
    "get_profiles",
    "get_profile",
    "create_profile",
    "update_profile",
    "create_or_update_profile",
    "get_lists",
    "get_list",
    "create_list",
    "update_list",
    "get_profiles_for_list",
    "get_profile_ids_for_list",
    "get_lists_for_profile",
    "get_list_ids_for_profile",
    "get_segments",
    "get_segment",
    "create_segment",
    "update_segment",
    "get_profiles_for_segment",
    "get_profile_ids_for_segment",
    "get_segments_for_profile",
    "get_push_tokens",
    "get_push_token",
    "get_segment_ids_for_profile",
    "get_events",
    "get_event",
    "get_metric_for_event",
    "get_metric_id_for_event",
    "get_profile_for_event",
    "get_profile_id_for_event",
    "get_metrics",
    "get_metric",
    "bulk_suppress_profiles",
    "get_bulk_suppress_profiles_job",
    "get_bulk_suppress_profiles_jobs",
    "bulk_unsuppress_profiles",
    "get_bulk_unsuppress_profiles_job",
    "get_bulk_unsuppress_profiles_jobs",
    "bulk_import_profiles",
    "get_bulk_import_profiles_job",
    "get_bulk_import_profiles_jobs",
    "get_errors_for_bulk_import_profiles_job",
    "get_profiles_for_bulk_import_profiles_job",
    "get_profile_ids_for_bulk_import_profiles_job",
    "get_webhooks",
    "get_webhook",
    "create_webhook",
    "update_webhook",
    "get_webhook_topics",
    "get_webhook_topic",
)
MEDIA_TYPE = "application/vnd.api+json"
OUTPUT = Path(__file__).with_name("klaviyo_schemas.json")
_COMPONENT = "#/components/schemas/"
_DEF = "#/$defs/"
# Keys that only document a schema: dropped to keep the file small.
_PROSE = {"description", "example", "examples", "title", "readOnly", "writeOnly", "default", "externalDocs", "xml"}
# Keywords whose value is a map of names to schemas, one schema, or a list of schemas.
_SCHEMA_MAPS = {"properties", "patternProperties"}
_SCHEMA_ONE = {"items", "additionalProperties", "not"}
_SCHEMA_LIST = {"allOf", "anyOf", "oneOf"}


def convert(schema: Any) -> Any:
    """One OpenAPI 3.0 schema as JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _PROSE or key == "nullable" or key.startswith("x-") or key == "discriminator":
            continue
        if key == "$ref":
            out[key] = value.replace(_COMPONENT, _DEF)
        elif key in _SCHEMA_MAPS:
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = convert(value)
        elif key in _SCHEMA_LIST:
            out[key] = [convert(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("nullable") is True:
        out = nullable(out)
    return out


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` or null."""
    if "$ref" in schema or "type" not in schema:
        # A $ref (or a bare allOf/oneOf) with nullable beside it: either the referenced shape or null.
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    types = out["type"] if isinstance(out["type"], list) else [out["type"]]
    out["type"] = [*types, "null"] if "null" not in types else types
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def references(schema: Any) -> set[str]:
    """Names of the $defs a converted schema refers to directly."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_DEF):
                found.add(value.removeprefix(_DEF))
            else:
                found |= references(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= references(item)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    by_id: dict[str, dict[str, Any]] = {}
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and "operationId" in op:
                by_id[op["operationId"]] = op
    missing = [o for o in OPERATION_IDS if o not in by_id]
    if missing:
        raise SystemExit(f"not in the spec: {', '.join(missing)}")
    operations: dict[str, dict[str, Any]] = {}
    for operation_id in OPERATION_IDS:
        responses: dict[str, Any] = {}
        for status, response in by_id[operation_id]["responses"].items():
            if not status.startswith("2"):
                continue
            content = response.get("content", {}).get(MEDIA_TYPE)
            # A 202 with no body (e.g. bulk jobs) has no schema: the test then expects no body.
            responses[status] = convert(content["schema"]) if content and "schema" in content else None
        operations[operation_id] = responses
    components = spec["components"]["schemas"]
    defs: dict[str, Any] = {}
    todo = sorted(references(operations))
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        defs[name] = convert(components[name])
        todo += sorted(references(defs[name]) - defs.keys())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "info": {"source": "Klaviyo OpenAPI", "revision": spec.get("info", {}).get("version")},
        "operations": operations,
        "$defs": dict(sorted(defs.items())),
    }


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} <klaviyo-openapi.json>")
    spec = json.loads(Path(argv[1]).read_text())
    document = extract(spec)
    OUTPUT.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUTPUT.name}: {len(document['operations'])} operations, {len(document['$defs'])} schemas")


if __name__ == "__main__":
    main(sys.argv)
