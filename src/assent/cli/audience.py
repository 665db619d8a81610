"""`assent audience count|export`: who among lists (or every profile) may get a send, why not the
rest, and the file of those who may (addresses, ad audiences, direct mail)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ..domain import DomainError, Via
from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..services.audiences import exports as audience_exports
from ..services.audiences import resolution as audiences
from ..services.audiences.resolution import AudienceCount, AudienceQuery, Source
from ..services.shared.database import open_engine
from ..services.shared.errors import NotFound
from .common import AccountId, ChannelOpt, Db, Json, PurposeOpt, command, counted, emit_json, optional_time, output_file
from .progress import RowProgress

app = typer.Typer(help="Audiences: who may be sent a message, who may not and why; exports.", no_args_is_help=True)

Lists = Annotated[list[str] | None, typer.Option("--list", help="A list whose members are in the audience (repeat).")]
Segments = Annotated[list[str] | None, typer.Option("--segment", help="A segment whose members are in it (repeat).")]
Everyone = Annotated[bool, typer.Option("--all", help="Every profile of the account is in the audience.")]
ExcludeLists = Annotated[list[str] | None, typer.Option("--exclude-list", help="Leave out this list's members.")]
ExcludeSegments = Annotated[list[str] | None, typer.Option("--exclude-segment", help="Leave out this segment's.")]
Via_ = Annotated[str, typer.Option("--via", help="campaign or flow.")]
SendList = Annotated[
    str | None,
    typer.Option(
        "--send-list", help="The list the send goes out for: decide()'s list rule (LIST_SUPPRESSED, NOT_IN_LIST)."
    ),
]
At = Annotated[str | None, typer.Option("--at", help="The send time (default now; not in the past).")]


def query(lists: list[str] | None, segments: list[str] | None, everyone: bool, exclude_lists: list[str] | None,
          exclude_segments: list[str] | None, channel: str, purpose: str | None, via: str, send_list: str | None,
          at: str | None) -> AudienceQuery:  # fmt: skip
    include = [Source("list", i) for i in lists or []] + [Source("segment", i) for i in segments or []]
    if everyone:
        include.append(Source("all"))
    if not include:
        raise DomainError("audience", "name it with --list, --segment or --all")
    exclude = [Source("list", i) for i in exclude_lists or []] + [Source("segment", i) for i in exclude_segments or []]
    ch = parse_channel(channel)
    try:
        via_value = Via(via.strip().lower())
    except ValueError:
        raise DomainError("via", "must be campaign or flow", via) from None
    return AudienceQuery(tuple(include), tuple(exclude), ch, parse_send_purpose(ch, purpose), via_value, send_list,
                         optional_time(at, "at"))  # fmt: skip


@contextmanager
def naming_options(q: AudienceQuery) -> Iterator[None]:
    """A list, segment or account that names nothing is reported under the option that gave it."""
    try:
        yield
    except NotFound as e:
        if e.field == "account":  # the --account option names no account: no list or segment is at fault
            raise NotFound("--account", e.message, e.value) from None
        name, _, kind = audiences.where_named(q, e.value)
        option = "--send-list" if kind is None else f"--{kind}" if name == "include" else f"--exclude-{kind}"
        raise NotFound(option, e.message, e.value) from None


def as_json(c: AudienceCount) -> dict[str, Any]:
    return {
        "at": c.at.isoformat(),
        "candidates": c.candidates,
        "excluded": c.excluded,
        "allowed": c.allowed,
        "denied": c.denied,
        "allowed_by": [{"code": r.code, "count": r.count} for r in c.allowed_by],
        "denied_by": [{"code": r.code, "count": r.count, "with_reason": r.with_reason} for r in c.denied_by],
        "deferred": c.deferred,
        "deferred_by": [{"code": r.code, "count": r.count, "with_reason": r.with_reason} for r in c.deferred_by],
    }


def lines(c: AudienceCount) -> list[str]:
    out = [f"{c.allowed:,} may be sent to, of {c.candidates:,} ({c.excluded:,} excluded, {c.denied:,} denied, "
           f"{c.deferred:,} deferred)"]  # fmt: skip
    out += [f"  allowed  {r.code:<40} {r.count:>10,}" for r in c.allowed_by]
    out += [f"  denied   {r.code:<40} {r.count:>10,}  (with this reason among others: {r.with_reason:,})"
            for r in c.denied_by]  # fmt: skip
    out += [f"  deferred {r.code:<40} {r.count:>10,}  (with this reason among others: {r.with_reason:,})"
            for r in c.deferred_by]  # fmt: skip
    return out


@app.command("count")
@command
def count(
    account: AccountId,
    lists: Lists = None,
    segments: Segments = None,
    everyone: Everyone = False,
    exclude_lists: ExcludeLists = None,
    exclude_segments: ExcludeSegments = None,
    channel: ChannelOpt = "email",
    purpose: PurposeOpt = None,
    via: Via_ = "campaign",
    send_list: SendList = None,
    at: At = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """How many may be sent this message, and how many may not, by reason (each profile counted
    under its first reason, as decide() orders them)."""
    q = query(lists, segments, everyone, exclude_lists, exclude_segments, channel, purpose, via, send_list, at)
    with naming_options(q):
        result = audiences.count(open_engine(db), account, q)
    if json:
        emit_json(as_json(result))
    else:
        for line in lines(result):
            typer.echo(line)


@app.command("export")
@command
def export(
    account: AccountId,
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write (resumed if interrupted).")],
    format: Annotated[
        str, typer.Option("--format", help="ndjson, csv, meta, google, postal (or direct-mail).")
    ] = "ndjson",  # fmt: skip
    lists: Lists = None,
    segments: Segments = None,
    everyone: Everyone = False,
    exclude_lists: ExcludeLists = None,
    exclude_segments: ExcludeSegments = None,
    channel: ChannelOpt = "email",
    purpose: PurposeOpt = None,
    via: Via_ = "campaign",
    send_list: SendList = None,
    at: At = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Write the audience to a file: ids and addresses of those who may be sent the message
    (ndjson, csv), an ad audience customer list (meta, google: hashed; consent per the account's
    ad_audience_consent setting) or a direct-mail list (postal: names and addresses)."""
    fmt = audience_exports.parse_format(format)
    output_file(output, "output")
    q = query(lists, segments, everyone, exclude_lists, exclude_segments, channel, purpose, via, send_list, at)
    with naming_options(q), RowProgress(f"exporting ({fmt.name})") as progress:
        report = audience_exports.export(open_engine(db, one_pass=True), account, q, fmt, output, progress,
                                         lambda c, done: progress.start(c.allowed, done))  # fmt: skip
    c = report.audience
    if json:
        emit_json({"format": report.format, "path": report.path, "written": report.written,
                   "resumed": report.resumed, **as_json(c)})  # fmt: skip
        return
    resumed = f" ({report.resumed:,} of them by an earlier run)" if report.resumed else ""
    typer.echo(f"wrote {counted(report.written, 'profile')} to {report.path}{resumed}")
    typer.echo(f"left out {c.denied + c.excluded:,} of {c.candidates:,} ({c.excluded:,} by an exclusion)")
    for r in c.denied_by:
        typer.echo(f"  {r.code:<40} {r.count:>10,}")
