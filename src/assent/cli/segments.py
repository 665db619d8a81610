"""`assent segments`: segments in Klaviyo's definition language, counted and exported as they are now."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from ..domain import DomainError
from ..services.lists import segments
from ..services.shared.database import open_engine
from ..services.shared.nesting import MAX_DEPTH, too_deep
from .common import AccountId, Db, Json, command, counted, output_file, show
from .progress import progress_bar

app = typer.Typer(help="Segments: rule-based groups of profiles, computed when asked.", no_args_is_help=True)

Definition = Annotated[
    str,
    typer.Option(
        "--definition",
        help='The definition as JSON ({"condition_groups": [...]}), or @file.json to read it from a file.',
    ),
]
EXPORT_COLUMNS = ("id", "email", "phone_number", "first_name", "last_name")


def _definition(value: str) -> dict[str, Any]:
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as e:
            raise DomainError("definition", f"cannot read {value[1:]}: {e.strerror}") from None
    if too_deep(text.encode()):  # as the API bounds a body, before the parser recurses
        raise DomainError("definition", f"nests objects and arrays too deep (more than {MAX_DEPTH} levels)")
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError as e:
        raise DomainError("definition", f"is not JSON: {e}") from None
    if isinstance(parsed, dict) and "condition_groups" not in parsed and "definition" in parsed:
        parsed = parsed["definition"]  # a whole segment's attributes
    if not isinstance(parsed, dict):
        raise DomainError("definition", "must be a JSON object with condition_groups")
    return parsed


def _json(item: segments.Segment) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "definition": item.definition,
        "created": item.created.isoformat(),
        "updated": item.updated.isoformat(),
        "is_starred": item.is_starred,
        "is_active": item.is_active,
        "profile_count": item.profile_count,
    }


@app.command("create")
@command
def segments_create(
    name: str,
    account: AccountId,
    definition: Definition,
    starred: Annotated[bool, typer.Option("--starred", help="Star it.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Save a segment (the definition is checked: an unsupported condition is refused, naming it)."""
    made = segments.create_segment(open_engine(db), account, name, _definition(definition), starred)
    show(json, _json(made), f"segment {made.id} ({made.name})")


@app.command("list")
@command
def segments_list(
    account: AccountId,
    count: Annotated[bool, typer.Option("--count", help="Also count each segment's members now.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """List the account's segments."""
    found = segments.all_segments(open_engine(db), account, with_count=count)
    human = [f"{s.id}  {s.name}" + (f"  {counted(s.profile_count or 0, 'profile')}" if count else "") for s in found]
    show(json, [_json(s) for s in found], *(human or ["no segments"]))


@app.command("show")
@command
def segments_show(segment_id: str, account: AccountId, db: Db = None, json: Json = False) -> None:
    """Show a segment, its definition and its member count now."""
    found = segments.get_segment(open_engine(db), account, segment_id, with_count=True)
    definition = msgspec.json.encode(found.definition).decode()
    members = counted(found.profile_count or 0, "profile")
    show(json, _json(found), f"segment {found.id} ({found.name}): {members}", definition)


@app.command("count")
@command
def segments_count(
    account: AccountId,
    segment_id: Annotated[str | None, typer.Argument(help="A saved segment's id.")] = None,
    definition: Annotated[
        str | None, typer.Option("--definition", help="Count a definition without saving it (JSON or @file).")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Count a segment's members now (a saved one, or a --definition)."""
    if (segment_id is None) == (definition is None):
        raise DomainError("segment", "give a segment id or --definition, one of them")
    engine = open_engine(db)
    if segment_id is not None:
        n = segments.count(engine, account, segment_id)
    else:
        assert definition is not None
        n = segments.count_definition(engine, account, _definition(definition))
    show(json, {"segment": segment_id, "profile_count": n}, counted(n, "profile"))


@app.command("export")
@command
def segments_export(
    segment_id: str,
    account: AccountId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file to write (default: standard output).")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Write the segment's members as CSV (id, email, phone_number, first_name, last_name), read in
    batches so a large segment is never held in memory; a progress bar shows on a terminal."""
    output_file(output, "output")
    engine = open_engine(db)
    total = segments.count(engine, account, segment_id)
    if output is None and json:
        raise DomainError("output", "--json prints a summary: give --output for the rows")
    handle = output.open("w", newline="") if output is not None else sys.stdout
    written = 0
    try:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        with progress_bar(total, f"segment {segment_id}") as advance:
            for batch in segments.export_members(engine, account, segment_id):
                writer.writerows((m.id, m.email, m.phone_number, m.first_name, m.last_name) for m in batch)
                written += len(batch)
                if advance is not None:
                    advance(len(batch))
    finally:
        if output is not None:
            handle.close()
    if output is not None:
        summary = {"segment": segment_id, "rows": written, "file": str(output)}
        show(json, summary, f"{written} profiles written to {output}")
