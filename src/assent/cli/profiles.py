"""`assent profiles`: import, read, duplicates, timeline."""

from __future__ import annotations

import os
from typing import Annotated, Any

import msgspec
import typer

from ..domain import DomainError
from ..domain.methods import parse_method
from ..services.imports import importer as imports
from ..services.shared.database import open_engine
from .common import (
    AccountId,
    ByEmail,
    ByExternal,
    ById,
    ByPhone,
    Db,
    Json,
    ListOpt,
    command,
    counted,
    emit_json,
    locator,
    optional_time,
    output_file,
    show,
)
from .progress import FileProgress

app = typer.Typer(help="Profiles: import, read, timeline.", no_args_is_help=True)


@app.command("import")
@command
def profiles_import(
    file: str,
    account: AccountId,
    format: Annotated[str | None, typer.Option("--format", help="csv or ndjson (default: from the file name).")] = None,
    subscribe: Annotated[
        str | None,
        typer.Option("--subscribe", help="Channels to subscribe: email,sms,sms_transactional,push,whatsapp."),
    ] = None,
    list_id: ListOpt = None,
    method: Annotated[str, typer.Option("--method", help="Consent method recorded.")] = "MANUAL_IMPORT",
    method_detail: Annotated[str | None, typer.Option("--method-detail", help="Consent method detail.")] = None,
    consented_at: Annotated[
        str | None, typer.Option("--consented-at", help="When consent was given (historical).")
    ] = None,
    historical: Annotated[
        bool, typer.Option("--historical", help="Back-dated consent: no double opt-in, no flows.")
    ] = False,
    rejects: Annotated[
        str | None, typer.Option("--rejects", help="Write rejected rows here, with line and reason.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Validation processes (default: automatic).", min=1, max=64)
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="The file's encoding when not UTF-8/UTF-16, e.g. cp1252: lines that are "
            "not valid UTF-8 are read in it.",
        ),
    ] = None,  # fmt: skip
    db: Db = None,
    json: Json = False,
) -> None:
    """Import profiles from CSV or NDJSON: upsert by identifier, optionally subscribing them."""
    output_file(rejects, "rejects")
    options = imports.ImportOptions(
        account_id=account,
        format=format,
        subscribe=tuple(imports.parse_subscribe(subscribe)),
        list_id=list_id,
        method=parse_method(method, "method"),
        method_detail=method_detail,
        consented_at=optional_time(consented_at, "consented_at"),
        historical=historical,
        rejects_path=rejects,
        workers=workers,
        encoding=encoding,
    )
    if options.consented_at is not None and not historical:
        raise DomainError("consented_at", "is accepted only with --historical")
    engine = open_engine(db)
    size = os.path.getsize(file) if os.path.isfile(file) else 0

    with FileProgress(size, "importing") as progress:

        def show_file(described: dict[str, Any]) -> None:
            if not json:
                for line in _file_lines(described):
                    typer.echo(line)
            progress.start()

        report = imports.import_profiles(engine, file, options, progress, on_file=show_file)
    r = report
    first = [f"  line {x.line}: {x.reason}" for x in r.first_rejected]
    all_rejected = r.rows > 0 and r.rejected == r.rows
    summary = (
        f"{counted(r.rows, 'row')}: {r.created:,} created, {r.updated:,} updated, {r.unchanged:,} unchanged, "
        f"{r.subscribed:,} subscribed, {r.pending:,} pending double opt-in, {r.kept_opt_outs:,} opt-outs kept, "
        f"{r.rejected:,} rejected; {r.events:,} ledger events"
    )
    where = [f"rejected rows are in {rejects}"] if r.rejected and rejects else []
    if r.rejected and not rejects:
        where = ["(write every rejected row, with its line and reason, with --rejects FILE)"]
    data = {
        **r.as_dict(),
        "file": r.file,
        "first_rejected": [{"line": x.line, "field": x.field, "reason": x.reason} for x in r.first_rejected],
    }
    if all_rejected:
        show(json, data, summary)
        typer.echo(f"error: every row ({r.rows}) was rejected, nothing was imported; the first reasons:", err=True)
        for line in (*first, *where):
            typer.echo(line, err=True)
        raise typer.Exit(1)
    shown_first = ["first rejected rows:", *first] if first else []
    show(json, data, summary, *shown_first, *where)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _file_lines(described: dict[str, Any]) -> list[str]:
    """How an import file is read: its encoding, delimiter and each column's field."""
    d = described
    delimiter = d.get("delimiter")
    how = [d["format"].upper(), d["encoding"], *([f"{_DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated"]
                                                 if delimiter else [])]  # fmt: skip
    if d.get("rejects"):
        how.append("a rejects file: each line's row column is read")
    lines = [f"reading {d['file']}: {', '.join(how)}"]
    columns = d.get("columns", [])
    width = max((len(c["header"]) for c in columns), default=0)
    for c in columns:
        if "field" in c:
            target = c["field"]
        elif "property" in c:
            target = f"properties[{c['property']!r}]"
        else:
            target = f"ignored ({c['ignored']})"
        lines.append(f"  {c['header'] or '(column ' + str(c['column']) + ')':<{width}}  -> {target}")
    return lines


@app.command("get")
@command
def profiles_get(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Show the state at this past time.")] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Show a profile: the Klaviyo profile resource with its subscriptions."""
    from ..services.profiles.reading import get_profile

    view = get_profile(open_engine(db), account, locator(id, email, phone, external_id), optional_time(as_of, "as_of"))
    _show_profile(view, json)


@app.command("update")
@command
def profiles_update(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=VALUE: a field to change (email, phone_number, city, ...); repeatable."),
    ] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="FIELD, a field to clear; repeatable.")] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Edit a profile's fields, as PATCH /api/profiles/{id} does: with it, the way to change an
    identifier (an import never does), recorded in the ledger."""
    from ..services.profiles.reading import get_profile
    from ..services.profiles.writes import DuplicateProfile, ProfileInput, update_profile

    values = profile_values(set_ or [], unset or [])
    engine = open_engine(db)
    found = get_profile(engine, account, locator(id, email, phone, external_id))
    try:
        written = update_profile(engine, account, found.id, ProfileInput(values=values))
    except DuplicateProfile as e:  # identity never moves: named as the API names it
        raise DomainError(e.identifier, f"another profile ({e.profile_id}) already has this {e.identifier}") from None
    for name in written.dropped:
        typer.echo(f"note: {name} left unchanged: not a valid value", err=True)
    _show_profile(get_profile(engine, account, locator(found.id, None, None)), json)


def profile_values(assigned: list[str], cleared: list[str]) -> dict[str, Any]:
    """`--set FIELD=VALUE` and `--unset FIELD` as the fields of a profile edit (None clears one; so
    does an empty value), checked as the API's are (update_profile). A name that is not a profile
    field, or one named twice, is refused."""
    from ..domain.profile import PROFILE_FIELDS

    values: dict[str, Any] = {}
    given = [(*item.partition("="), "set") for item in assigned] + [(name, "=", None, "unset") for name in cleared]
    for name, sep, value, option in given:
        name = name.strip()
        if not sep or not name:
            raise DomainError(option, "takes FIELD=VALUE" if option == "set" else "takes a FIELD", name or None)
        if name not in PROFILE_FIELDS:
            raise DomainError(name, f"is not a profile field; the fields are {', '.join(PROFILE_FIELDS)}")
        if name in values:
            raise DomainError(name, "is named twice (--set and --unset name each field once)")
        values[name] = value if value is not None and value.strip() else None  # `--set FIELD=` clears it too
    if not values:
        raise DomainError("set", "name a field to change (--set FIELD=VALUE) or to clear (--unset FIELD)")
    return values


def _show_profile(view: Any, json: bool) -> None:
    """A profile as `profiles get` shows it: its identifiers, its other fields, its consent."""
    from ..api.resources import profile_resource  # here: `assent profiles import` needs no API code
    from ..domain import Channel, Purpose
    from ..domain.decisions import receive_flags
    from ..domain.profile import PROFILE_FIELDS
    from ..services.profiles.writes import IDENTIFIERS

    resource = profile_resource(view)
    if json:
        emit_json({"data": resource})
        return
    a = resource["attributes"]
    typer.echo(
        f"profile {resource['id']}  email={a['email']}  phone={a['phone_number']}  external_id={a['external_id']}"
    )
    fields = {**a, **(a.get("location") or {})}
    named = [f"{k}={fields[k]}" for k in PROFILE_FIELDS if k not in IDENTIFIERS and fields.get(k) not in (None, "")]
    if named:
        typer.echo("  " + "  ".join(named))
    subs = a["subscriptions"]
    rows = [
        ("email marketing", subs["email"]["marketing"], "can_receive_email_marketing"),
        ("sms marketing", subs["sms"]["marketing"], "can_receive_sms_marketing"),
        ("sms transactional", subs["sms"]["transactional"], "can_receive_sms_transactional"),
        ("push marketing", subs["mobile_push"]["marketing"], "can_receive_push_marketing"),
        *(
            (f"whatsapp {p}", subs["whatsapp"][p], "can_receive")
            for p in ("marketing", "transactional", "conversational")
        ),
    ]
    for label, block, can in rows:
        since = f" since {block['consent_timestamp']}" if block.get("consent_timestamp") else ""
        method = f" via {block['method']}" if block.get("method") else ""
        typer.echo(f"  {label:<24} {block['consent']:<17} can receive: {str(block[can]).lower()}{since}{method}")
    # Direct mail has no place in Klaviyo's subscriptions block: shown from the state itself.
    if view.state is not None:
        postal = view.state.consent(Channel.POSTAL, Purpose.MARKETING)
        reaches = receive_flags(view.state)[(Channel.POSTAL, Purpose.MARKETING)]
        since = f" since {postal.consent_timestamp.isoformat()}" if postal.consent_timestamp else ""
        method = f" via {postal.method}" if postal.method else ""
        typer.echo(
            f"  {'postal marketing':<24} {postal.status.value:<17} can receive: {str(reaches).lower()}{since}{method}"
        )
    for s in subs["email"]["marketing"]["suppression"]:
        typer.echo(f"  suppressed: {s['reason']} since {s['timestamp']}")
    for s in subs["email"]["marketing"]["list_suppressions"]:
        typer.echo(f"  suppressed from list {s['list_id']}: {s['reason']} since {s['timestamp']}")


@app.command("duplicates")
@command
def profiles_duplicates(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Profiles whose emails are one address once lowercased (they stop `db upgrade`); reads only."""
    from ..services.profiles import reading as profiles  # here: `assent profiles import` reads no profile

    found = profiles.email_duplicates(open_engine(db, migrated=False, create=False), account)
    data = [{"email": d.email, "profile_ids": d.profile_ids} for d in found]
    lines = [f"{d.email}: profiles {', '.join(d.profile_ids)}" for d in found]
    show(json, {"account_id": account, "duplicates": data}, *(lines or ["no duplicate emails"]))
    if found and not json:
        typer.echo("merge or change them (PATCH /api/profiles/{id}), then run `assent db upgrade`", err=True)


@app.command("timeline")
@command
def profiles_timeline(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """The consent events of one profile, oldest first."""
    from ..services.profiles import reading as profiles

    profile_id, events = profiles.timeline(open_engine(db), account, locator(id, email, phone, external_id))
    if json:
        emit_json({"profile_id": profile_id, "events": events})
        return
    typer.echo(f"profile {profile_id}: {len(events)} consent events")
    statuses: dict[tuple[str, str], str] = {}  # (channel, purpose) -> status so far, for from -> to
    for e in events:
        typer.echo(f"  #{e['seq']:<8} {e['occurred_at']}  {e['metric'] or e['type']}")
        typer.echo(f"            {_event_details(e, statuses)}")


# What an event's consent_timestamp is the time of: an opt-out was not a consent.
_STATUS_AT = {"SUBSCRIBED": "consented at", "UNSUBSCRIBED": "unsubscribed at"}


def _event_details(e: dict[str, Any], statuses: dict[tuple[str, str], str]) -> str:
    """What an event changed and how, in one line: channel/purpose from -> to, identifier old -> new,
    method, source, list, reason, message id and the rest of its record."""
    parts = []
    if e.get("channel"):
        where = f"{e['channel']}/{e['purpose']}" if e.get("purpose") else e["channel"]
        if e.get("status"):
            key = (e["channel"], e.get("purpose") or "")
            before = statuses.get(key, "NEVER_SUBSCRIBED")
            statuses[key] = e["status"]
            where += f" {before} -> {e['status']}"
        parts.append(where)
    if e.get("identifier"):
        personal = e.get("personal") or {}
        parts.append(f"{e['identifier']} {personal.get('old') or '(none)'} -> {personal.get('new') or '(none)'}")
    context = e.get("context") or {}
    labels = (
        ("reason", e.get("reason")), ("outcome", e.get("outcome")), ("list", e.get("list_id")),
        ("method", e.get("method")), ("detail", e.get("method_detail")), ("custom", e.get("custom_method_detail")),
        ("source", context.get("source")), ("message", context.get("message_id")),
        ("consent text", context.get("consent_text_version")), ("by", context.get("actor")),
        ("their words", context.get("reason")), ("note", context.get("note")),
        (_STATUS_AT.get(e.get("status") or "", "status at"), e.get("consent_timestamp")),
    )  # fmt: skip
    parts += [f"{label}: {value}" for label, value in labels if value]
    flags = [name for name in ("double_optin", "historical_import", "timestamp_clamped") if e.get(name)]
    if e.get("triggers_automation") is False:
        flags.append("no automation")
    if flags:
        parts.append(", ".join(flags))
    return "; ".join(parts) if parts else "(no details)"


@app.command("erase")
@command
def profiles_erase(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Erase a person's personal data everywhere (a GDPR/CCPA deletion request); an opt-out is kept
    as an HMAC tombstone, so no import brings them back without a new explicit consent."""
    from ..services.privacy import erasure

    done = erasure.erase(open_engine(db), account, locator(id, email, phone, external_id), actor="cli")
    data = {"profile_id": done.profile_id, "opted_out": done.opted_out, "tombstones": done.tombstones,
            "ledger_seq": done.ledger_seq, "rows": done.rows}  # fmt: skip
    kept = (
        f"its opt-out is kept as {done.tombstones} tombstone(s)"
        if done.opted_out
        else "it had not opted out: no tombstone kept"
    )
    removed = ", ".join(f"{n} {table}" for table, n in done.rows.items() if n)
    show(json, data, f"erased profile {done.profile_id} (ledger seq {done.ledger_seq}); {kept}",
         f"rows erased or cleared: {removed or 'none besides the consent state'}")  # fmt: skip


@app.command("export-data")
@command
def profiles_export_data(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    output: Annotated[str | None, typer.Option("--output", help="Write the JSON here (default: stdout).")] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Everything held about a person (an access request), as JSON: the profile, its consents, every
    ledger event with its hashes, lists, segments, events and sends.

    The export is JSON either way; with --output and --json, what was written is said as JSON on
    stdout."""
    from ..api.privacy import data_export_resource
    from ..services.privacy import access

    output_file(output, "output")
    export = access.export_data(open_engine(db), account, locator(id, email, phone, external_id))
    text = msgspec.json.encode({"data": data_export_resource(export)}).decode()
    if output is None:
        typer.echo(text)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    if json:
        emit_json({"profile_id": export.profile.id, "path": output})
    else:
        typer.echo(f"wrote the data held about profile {export.profile.id} to {output}", err=True)


@app.command("retention")
@command
def profiles_retention(
    account: AccountId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the profiles it would erase.")] = False,
    months: Annotated[
        int | None, typer.Option("--months", help="With --dry-run: count for this many months instead.")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Erase the personal data of profiles inactive for the account's retention_months (a durable
    job, run here); --dry-run counts them and changes nothing."""
    from ..services.privacy import retention

    engine = open_engine(db)
    if months is not None and not dry_run:
        raise DomainError("months", "is for --dry-run; the erasure itself follows the account's retention_months")
    if dry_run:
        p = retention.plan(engine, account, months=months)
        data = {"months": p.months, "cutoff": p.cutoff.isoformat() if p.cutoff else None, "inactive": p.inactive}
        line = (
            f"{p.inactive} profiles inactive since {p.cutoff:%Y-%m-%d} ({p.months} months) would be erased"
            if p.cutoff
            else "retention is off for this account (retention_months is 0): nothing would be erased"
        )
        show(json, data, line)
        return
    job = retention.run(engine, account, actor="cli")
    data = {"job_id": job.id, "status": job.status, "erased": job.completed_count, "inactive": job.total_count}
    show(json, data, f"retention job {job.id} {job.status}: {job.completed_count} profiles erased")
