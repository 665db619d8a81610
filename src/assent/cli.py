"""The `assent` command. Human output by default, JSON with --json; bad input exits 1 with one line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import msgspec
import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from . import __version__, config
from .domain import Channel, DomainError, Proof, Via
from .domain.channels import parse_channel, parse_purpose, parse_suppression_reason
from .domain.decisions import parse_send_purpose
from .services import accounts, consent, demo, imports, ledger, lists, outbox, profiles, settings
from .services.clock import parse_time
from .services.consent import Locator
from .store.db import BadDatabaseUrl, NotMigrated, database_url, make_engine, require_migrated, upgrade
from .store.profiles import EmailCollisions

app = typer.Typer(help="Assent: consent and subscriptions for email, SMS, push and WhatsApp.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (one per brand) and their API keys.", no_args_is_help=True)
profiles_app = typer.Typer(help="Profiles: import, read, timeline.", no_args_is_help=True)
consent_app = typer.Typer(help="Change one profile's consent or suppression.", no_args_is_help=True)
lists_app = typer.Typer(help="Lists.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident consent ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="Private API keys and their scopes.", no_args_is_help=True)
settings_app = typer.Typer(
    help="An account's workflow settings (sender, SMS keywords, webhook keys).", no_args_is_help=True
)
links_app = typer.Typer(help="Links to put in messages.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(profiles_app, name="profiles")
app.add_typer(consent_app, name="consent")
app.add_typer(lists_app, name="lists")
app.add_typer(ledger_app, name="ledger")
app.add_typer(keys_app, name="keys")
app.add_typer(settings_app, name="settings")
app.add_typer(links_app, name="links")

def _version(value: bool) -> None:
    if value:
        typer.echo(f"assent {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Assent: consent and subscriptions for email, SMS, push and WhatsApp."""


Db = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: ASSENT_DATABASE_URL, else sqlite:///./assent.db).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AccountId = Annotated[str, typer.Option("--account", help="Account id.")]
ById = Annotated[str | None, typer.Option("--id", help="Profile id.")]
ByEmail = Annotated[str | None, typer.Option("--email", help="Profile email.")]
ByPhone = Annotated[str | None, typer.Option("--phone", help="Profile phone number.")]
ByExternal = Annotated[str | None, typer.Option("--external-id", help="Profile external id.")]
ChannelOpt = Annotated[str, typer.Option("--channel", help="email, sms, push or whatsapp.")]
PurposeOpt = Annotated[
    str | None, typer.Option("--purpose", help="marketing (default), transactional, conversational.")
]
ListOpt = Annotated[str | None, typer.Option("--list", help="List id.")]


def _emit_json(value: Any) -> None:
    typer.echo(msgspec.json.encode(value).decode())


def _show(json: bool, data: Any, *lines: str) -> None:
    """`data` as JSON with --json, else the human lines."""
    if json:
        _emit_json(data)
    else:
        for line in lines:
            typer.echo(line)


def command(fn: Callable) -> Callable:
    """Turn the errors users can cause into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DomainError as e:
            typer.echo(f"error: {e}", err=True)
        except (NotMigrated, BadDatabaseUrl, EmailCollisions) as e:
            typer.echo(f"error: {e}", err=True)
        except OperationalError as e:
            typer.echo(f"error: cannot use the database: {str(e.orig).strip().splitlines()[0]}", err=True)
        raise typer.Exit(1)

    return wrapper


def _engine(db: str | None, migrated: bool = True, create: bool | None = None) -> Engine:
    """The database engine; a command that needs the schema (or only reads) never creates a
    missing SQLite file."""
    engine = make_engine(db, create=not migrated if create is None else create)
    if migrated:
        require_migrated(engine)
    return engine


def _locator(id: str | None, email: str | None, phone: str | None, external_id: str | None = None) -> Locator:
    given = [
        (f, v) for f, v in (("id", id), ("email", email), ("phone_number", phone), ("external_id", external_id)) if v
    ]
    if len(given) != 1:
        raise DomainError("profile", "name it with exactly one of --id, --email, --phone, --external-id")
    return Locator(*given[0])


def _time(value: str | None, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Callable[..., None] | None]:
    """A progress bar on stderr when it is a terminal (stdout stays clean for --json); nothing when piped.
    The callback takes the number of items done (and ignores anything after it)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n, *_: bar.advance(task, n)


class _FileProgress:
    """Progress through a file, as rich shows a download: bytes read of its size, percentage, time
    left, and rows. On stderr when it is a terminal; started once the lines before it are printed."""

    def __init__(self, size: int, label: str) -> None:
        self.size, self.label, self.rows = size, label, 0
        self.bar: Any = None

    def start(self) -> None:
        if not sys.stderr.isatty() or self.bar is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn(self.label), BarColumn(), DownloadColumn(), TaskProgressColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[rows]:,} rows"), console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.task = self.bar.add_task(self.label, total=self.size, rows=0)
        self.bar.start()

    def __call__(self, rows: int, read: int) -> None:
        self.rows += rows
        if self.bar is not None:
            self.bar.update(self.task, completed=min(read, self.size), rows=self.rows)

    def __enter__(self) -> _FileProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# --- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
@command
def db_upgrade(db: Db = None, json: Json = False) -> None:
    """Create or migrate the schema to the newest revision."""
    before, after = upgrade(_engine(db, migrated=False))
    was = "" if before == after else f" (was {before})"
    _show(
        json,
        {"database": _safe_url(db), "from": before, "to": after},
        f"{_safe_url(db)}: schema at revision {after}{was}",
    )


def _safe_url(db: str | None) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url(db)).render_as_string(hide_password=True)


# --- accounts ----------------------------------------------------------------------------------


@accounts_app.command("create")
@command
def accounts_create(
    name: str,
    default_region: Annotated[str, typer.Option(help="Region for phone numbers given without +country code.")] = "US",
    db: Db = None,
    json: Json = False,
) -> None:
    """Create an account; prints its id and a private API key (shown once)."""
    new = accounts.create_account(_engine(db), name, default_region)
    a = new.account
    _show(
        json,
        {
            "id": a.id,
            "name": a.name,
            "default_region": a.default_region,
            "public_id": a.public_id,
            "api_key": new.api_key,
        },
        f"account {a.id} ({a.name}, region {a.default_region}, public id {a.public_id} for website forms)",
        f"private API key: {new.api_key}  (shown once; only its digest is stored)",
    )


@accounts_app.command("list")
@command
def accounts_list(db: Db = None, json: Json = False) -> None:
    """List accounts."""
    found = accounts.list_accounts(_engine(db))
    data = [{"id": a.id, "name": a.name, "default_region": a.default_region, "public_id": a.public_id} for a in found]
    _show(json, data, *(f"{a.id}  {a.name}  ({a.default_region}, public id {a.public_id})" for a in found))


# --- keys --------------------------------------------------------------------------------------


@keys_app.command("create")
@command
def keys_create(
    account: AccountId,
    scopes: Annotated[
        str, typer.Option("--scopes", help=f"Comma-separated: {', '.join(accounts.SCOPES)}; * for full access.")
    ] = "*",
    label: Annotated[str, typer.Option("--label", help="What the key is for.")] = "",
    db: Db = None,
    json: Json = False,
) -> None:
    """Make a private API key with the given scopes (x:write includes x:read); shown once."""
    new = accounts.create_key(_engine(db), account, scopes, label)
    k = new.key
    _show(
        json,
        {"id": k.id, "account_id": k.account_id, "label": k.label, "scopes": sorted(k.scopes), "api_key": new.secret},
        f"key {k.id} for account {k.account_id}, scopes {','.join(sorted(k.scopes))}",
        f"private API key: {new.secret}  (shown once; only its digest is stored)",
    )


@keys_app.command("list")
@command
def keys_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """List an account's keys (ids and scopes; the keys themselves are not stored)."""
    found = accounts.list_keys(_engine(db), account)
    data = [{"id": k.id, "label": k.label, "scopes": sorted(k.scopes)} for k in found]
    _show(json, data, *(f"{k.id}  {','.join(sorted(k.scopes))}  {k.label}" for k in found))


@keys_app.command("revoke")
@command
def keys_revoke(
    account: AccountId,
    key: Annotated[str, typer.Option("--key", help="The key id, as `keys list` shows it.")],
    db: Db = None,
    json: Json = False,
) -> None:
    """Revoke a key: a running server refuses it within a few seconds."""
    accounts.revoke_key(_engine(db), account, key)
    _show(json, {"revoked": key}, f"key {key} revoked")


# --- settings, outbox, links -------------------------------------------------------------------


@settings_app.command("list")
@command
def settings_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Every setting with its value (secrets masked) and what it does."""
    engine = _engine(db)
    values = settings.all_values(engine, account)
    public_id = accounts.get_account(engine, account).public_id
    lines = (f"{name} = {value!r}  ({settings.SETTINGS[name].help})" for name, value in values.items())
    _show(
        json,
        {"public_id": public_id, **values},
        f"public_id = {public_id!r}  (names the account in signup forms and webhook URLs; read-only)",
        *lines,
    )


@settings_app.command("set")
@command
def settings_set(account: AccountId, name: str, value: str, db: Db = None, json: Json = False) -> None:
    """Set one setting, e.g. `assent settings set --account ID sender_email news@brand.example`."""
    settings.set_value(_engine(db), account, name, value)
    shown = "(secret)" if settings.SETTINGS[name].secret else repr(value)
    _show(json, {"name": name, "set": True}, f"{name} = {shown}")


@app.command("outbox")
@command
def outbox_command(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's messages.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.", min=1)] = 20,
    db: Db = None,
    json: Json = False,
) -> None:
    """Messages Assent sent or holds (held: no ASSENT_SMTP_URL configured), newest first."""
    found = outbox.messages(_engine(db), account, limit)
    lines = (f"{m['created_at']}  {m['status']:<6}  {m['channel']}  {m['recipient']}  {m['subject'] or m['kind']}"
             for m in found)  # fmt: skip
    _show(json, found, *lines)


@links_app.command("unsubscribe")
@command
def links_unsubscribe(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    list_id: ListOpt = None,
    message_id: Annotated[str | None, typer.Option("--message-id", help="The message or campaign id.")] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Where people reach the server (default ASSENT_PUBLIC_URL)."),
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """The List-Unsubscribe and List-Unsubscribe-Post headers (RFC 8058) and body links for a message."""
    from .services import unsubscribe

    links = unsubscribe.unsubscribe_links(
        _engine(db), account, _locator(id, email, phone), list_id=list_id, message_id=message_id,
        base_url=(base_url or config.settings().link_base).rstrip("/"),
    )  # fmt: skip
    if base_url:
        for warning in links["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
    else:
        _warn_links()
    _show(
        json,
        links,
        f"List-Unsubscribe: {links['list_unsubscribe']}",
        f"List-Unsubscribe-Post: {links['list_unsubscribe_post']}",
        f"unsubscribe link: {links['url']}",
        f"preferences link: {links['preferences_url']}",
    )


def _warn_links() -> None:
    """Links that will not work for real recipients say so on stderr."""
    warning = config.settings().link_warning()
    if warning:
        typer.echo(f"warning: {warning}", err=True)


# --- serve -------------------------------------------------------------------------------------


@app.command("serve")
@command
def serve_command(
    db: Db = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = config.DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = config.DEFAULT_PORT,
    workers: Annotated[int, typer.Option("--workers", help="Server processes.", min=1)] = 1,
    demo_account: Annotated[
        bool,
        typer.Option(
            "--demo", help="Use (or create) a demo account with synthetic profiles and print a new API key for it."
        ),
    ] = False,
) -> None:
    """Run the Klaviyo-compatible HTTP API (migrating the database first)."""
    from .server import serve

    engine = _engine(db, migrated=False)
    url = database_url(db)
    upgrade(engine)
    served = config.listen_url(host, port)
    # Links in emails and pages start here unless ASSENT_PUBLIC_URL says otherwise.
    os.environ[config.SERVED_URL_ENV] = served
    if demo_account:
        _serve_demo(engine, served)
    engine.dispose()
    _warn_links()
    typer.echo(f"Assent API on {served}/api (OpenAPI: /api/openapi.json); Ctrl-C stops it")
    serve(url, host, port, workers)


def _serve_demo(engine: Engine, served: str) -> None:
    from .services import unsubscribe

    result = demo.existing_demo(engine)
    if result is None:
        with _progress(1000, "creating the demo account") as progress:
            result = demo.create_demo(engine, 1000, progress)
        typer.echo(f"demo account {result.account_id} (public id {result.public_id} for signup forms)")
        typer.echo(f"  private API key: {result.api_key}  (shown once)")
    else:
        typer.echo(f"demo account {result.account_id} from an earlier run "
                   f"(public id {result.public_id} for signup forms)")  # fmt: skip
        typer.echo(f"  new private API key: {result.api_key}  (shown once; keys printed before still work)")
    typer.echo(f"  lists: {result.newsletter_list_id} (Newsletter), "
               f"{result.vip_list_id} (VIP early access, double opt-in)")  # fmt: skip
    links = unsubscribe.unsubscribe_links(
        engine, result.account_id, Locator("email", result.sample_email), list_id=result.newsletter_list_id,
        message_id=None, base_url=config.settings().link_base,
    )  # fmt: skip
    typer.echo(f"  unsubscribe link for {result.sample_email}: {links['url']}")
    typer.echo(f"  preference link for {result.sample_email}: {links['preferences_url']}")
    typer.echo(
        f"try: curl -g -H 'Authorization: Klaviyo-API-Key {result.api_key}' -H 'revision: 2026-10-15' "
        f"'{served}/api/profiles?page[size]=2&additional-fields[profile]=subscriptions'"
    )


# --- lists -------------------------------------------------------------------------------------


@lists_app.command("create")
@command
def lists_create(
    name: str,
    account: AccountId,
    double_opt_in: Annotated[
        bool, typer.Option("--double-opt-in", help="Subscriptions wait for confirmation.")
    ] = False,
    public: Annotated[bool, typer.Option("--public", help="Offer it in the preference centre.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Create a list (single opt-in unless --double-opt-in)."""
    made = lists.create_list(_engine(db), account, name, double_opt_in, public)
    _show(json, _list_json(made), f"list {made.id} ({made.name}, {made.opt_in_process.value})")


def _list_json(item: lists.MailingList) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "opt_in_process": item.opt_in_process.value,
        "public": item.public,
        "created": item.created.isoformat(),
        "profile_count": item.profile_count,
    }


@lists_app.command("public")
@command
def lists_public(
    list_id: str,
    account: AccountId,
    off: Annotated[bool, typer.Option("--off", help="Stop offering it.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Offer a list in the preference centre (or stop, with --off)."""
    lists.set_public(_engine(db), account, list_id, not off)
    _show(
        json,
        {"id": list_id, "public": not off},
        f"list {list_id} {'hidden from' if off else 'offered in'} the preference centre",
    )


@lists_app.command("list")
@command
def lists_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """List the account's lists with their member counts."""
    found = lists.all_lists(_engine(db), account)
    human = (f"{i.id}  {i.name}  {i.opt_in_process.value}  {i.profile_count} profiles" for i in found)
    _show(json, [_list_json(item) for item in found], *human)


# --- profiles ----------------------------------------------------------------------------------


@profiles_app.command("import")
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
    workers: Annotated[int | None, typer.Option("--workers", help="Validation processes (default: automatic).")] = None,
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
    options = imports.ImportOptions(
        account_id=account,
        format=format,
        subscribe=tuple(imports.parse_subscribe(subscribe)),
        list_id=list_id,
        method=method,
        method_detail=method_detail,
        consented_at=_time(consented_at, "consented_at"),
        historical=historical,
        rejects_path=rejects,
        workers=workers,
        encoding=encoding,
    )
    if options.consented_at is not None and not historical:
        raise DomainError("consented_at", "is accepted only with --historical")
    engine = _engine(db)
    size = os.path.getsize(file) if os.path.isfile(file) else 0

    with _FileProgress(size, "importing") as progress:

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
        f"{r.rows} rows: {r.created} created, {r.updated} updated, {r.unchanged} unchanged, {r.subscribed} subscribed, "
        f"{r.pending} pending double opt-in, {r.rejected} rejected; {r.events} ledger events"
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
        _show(json, data, summary)
        typer.echo(f"error: every row ({r.rows}) was rejected, nothing was imported; the first reasons:", err=True)
        for line in (*first, *where):
            typer.echo(line, err=True)
        raise typer.Exit(1)
    shown_first = ["first rejected rows:", *first] if first else []
    _show(json, data, summary, *shown_first, *where)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _file_lines(described: dict[str, Any]) -> list[str]:
    """How an import file is read: its encoding, delimiter and each column's field."""
    d = described
    delimiter = d.get("delimiter")
    how = [d["format"].upper(), d["encoding"], *([f"{_DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated"]
                                                 if delimiter else [])]  # fmt: skip
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


@profiles_app.command("get")
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
    resource = profiles.get_profile(
        _engine(db), account, _locator(id, email, phone, external_id), _time(as_of, "as_of")
    )
    if json:
        _emit_json({"data": resource})
        return
    a = resource["attributes"]
    typer.echo(
        f"profile {resource['id']}  email={a['email']}  phone={a['phone_number']}  external_id={a['external_id']}"
    )
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
    for s in subs["email"]["marketing"]["suppression"]:
        typer.echo(f"  suppressed: {s['reason']} since {s['timestamp']}")
    for s in subs["email"]["marketing"]["list_suppressions"]:
        typer.echo(f"  suppressed from list {s['list_id']}: {s['reason']} since {s['timestamp']}")


@profiles_app.command("duplicates")
@command
def profiles_duplicates(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Profiles whose emails are one address once lowercased (they stop `db upgrade`); reads only."""
    found = profiles.email_duplicates(_engine(db, migrated=False, create=False), account)
    data = [{"email": d.email, "profile_ids": d.profile_ids} for d in found]
    lines = [f"{d.email}: profiles {', '.join(d.profile_ids)}" for d in found]
    _show(json, {"account_id": account, "duplicates": data}, *(lines or ["no duplicate emails"]))
    if found and not json:
        typer.echo("merge or change them (PATCH /api/profiles/{id}), then run `assent db upgrade`", err=True)


@profiles_app.command("timeline")
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
    profile_id, events = profiles.timeline(_engine(db), account, _locator(id, email, phone, external_id))
    if json:
        _emit_json({"profile_id": profile_id, "events": events})
        return
    typer.echo(f"profile {profile_id}: {len(events)} consent events")
    statuses: dict[tuple[str, str], str] = {}  # (channel, purpose) -> status so far, for from -> to
    for e in events:
        typer.echo(f"  #{e['seq']:<8} {e['occurred_at']}  {e['metric'] or e['type']}")
        typer.echo(f"            {_event_details(e, statuses)}")


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
        ("consented at", e.get("consent_timestamp")),
    )  # fmt: skip
    parts += [f"{label}: {value}" for label, value in labels if value]
    flags = [name for name in ("double_optin", "historical_import", "timestamp_clamped") if e.get(name)]
    if e.get("triggers_automation") is False:
        flags.append("no automation")
    if flags:
        parts.append(", ".join(flags))
    return "; ".join(parts) if parts else "(no details)"


# --- consent -----------------------------------------------------------------------------------


def _report_change(change: consent.Change, json: bool) -> None:
    if json:
        _emit_json(
            {
                "profile_id": change.profile_id,
                "created": change.created,
                "events": [{"type": e.type.value, "metric": e.metric, **e.payload()} for e in change.events],
            }
        )
        return
    if change.created:
        typer.echo(f"created profile {change.profile_id}")
    if not change.events:
        typer.echo(f"profile {change.profile_id}: nothing to change")
    for e in change.events:
        typer.echo(f"profile {change.profile_id}: {e.metric or e.type.value}" + (f" ({e.reason})" if e.reason else ""))


CLI_PROOF = Proof(actor="cli")


@consent_app.command("subscribe")
@command
def consent_subscribe(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    list_id: ListOpt = None,
    method: Annotated[str, typer.Option("--method")] = "MANUAL_ADD",
    method_detail: Annotated[str | None, typer.Option("--method-detail")] = None,
    custom_source: Annotated[str | None, typer.Option("--custom-source")] = None,
    consented_at: Annotated[str | None, typer.Option("--consented-at")] = None,
    historical: Annotated[bool, typer.Option("--historical")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Record an explicit opt-in (pending until confirmed on a double opt-in list)."""
    ch = parse_channel(channel)
    change = consent.subscribe(
        _engine(db),
        account,
        _locator(id, email, phone),
        [(ch, parse_purpose(ch, purpose))],
        list_id=list_id,
        method=method,
        method_detail=method_detail,
        custom_source=custom_source,
        consented_at=_time(consented_at, "consented_at"),
        historical_import=historical,
        proof=CLI_PROOF,
    )
    _report_change(change, json)


@consent_app.command("unsubscribe")
@command
def consent_unsubscribe(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    list_id: ListOpt = None,
    method: Annotated[str, typer.Option("--method")] = "MANUAL_REMOVE",
    method_detail: Annotated[str | None, typer.Option("--method-detail")] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, in the person's words; kept with the event.")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Withdraw consent on one channel (SMS: marketing and transactional together)."""
    ch = parse_channel(channel)
    change = consent.unsubscribe(
        _engine(db),
        account,
        _locator(id, email, phone),
        ch,
        parse_purpose(ch, purpose),
        list_id=list_id,
        method=method,
        method_detail=method_detail,
        proof=Proof(actor="cli", note=reason),
    )
    _report_change(change, json)


def _email_only(channel: str) -> None:
    if parse_channel(channel) is not Channel.EMAIL:
        raise DomainError("channel", "suppression exists for email only", channel)


@consent_app.command("suppress")
@command
def consent_suppress(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    channel: Annotated[str, typer.Option("--channel")] = "email",
    list_id: ListOpt = None,
    reason: Annotated[
        str, typer.Option("--reason", help="HARD_BOUNCE, INVALID_EMAIL, SPAM_COMPLAINT, UNSUBSCRIBE, USER_SUPPRESSED.")
    ] = "USER_SUPPRESSED",
    db: Db = None,
    json: Json = False,
) -> None:
    """Suppress email, globally or from one list; consent is kept."""
    _email_only(channel)
    change = consent.suppress(
        _engine(db),
        account,
        _locator(id, email, phone),
        parse_suppression_reason(reason),
        list_id=list_id,
        proof=CLI_PROOF,
    )
    _report_change(change, json)


@consent_app.command("unsuppress")
@command
def consent_unsuppress(
    account: AccountId,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    channel: Annotated[str, typer.Option("--channel")] = "email",
    list_id: ListOpt = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Lift a manual (USER_SUPPRESSED) suppression; bounces and opt-outs stay."""
    _email_only(channel)
    change = consent.unsuppress(_engine(db), account, _locator(id, email, phone), list_id=list_id, proof=CLI_PROOF)
    _report_change(change, json)


# --- decide ------------------------------------------------------------------------------------


@app.command("decide")
@command
def decide(
    account: AccountId,
    channel: ChannelOpt,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    purpose: PurposeOpt = None,
    via: Annotated[str, typer.Option("--via", help="campaign or flow.")] = "campaign",
    list_id: ListOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Decide as of this time (default now).")] = None,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 0 on ALLOW, 1 on DENY, 3 on DEFER (for shell scripts).")
    ] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """May this profile be sent this message? ALLOW, DENY or DEFER, with the reasons."""
    ch = parse_channel(channel)
    p = parse_send_purpose(ch, purpose)
    try:
        via_value = Via(via.strip().lower())
    except ValueError:
        raise DomainError("via", "must be campaign or flow", via) from None
    result = profiles.decide_for(
        _engine(db), account, _locator(id, email, phone), ch, p, via=via_value, list_id=list_id, at=_time(at, "at")
    )
    d = result.decision
    if json:
        _emit_json(
            {
                "profile_id": result.profile_id,
                "channel": ch.value,
                "purpose": p.value,
                "via": via_value.value,
                "list_id": list_id,
                "at": result.send.now.isoformat(),
                "verdict": d.verdict.value,
                "reasons": list(d.reasons),
                "warnings": list(d.warnings),
                "defer_until": d.defer_until.isoformat() if d.defer_until else None,
            }
        )
    else:
        typer.echo(
            f"{d.verdict.value}  {', '.join(d.reasons)}"
            + (f"  (warnings: {', '.join(d.warnings)})" if d.warnings else "")
        )
    if exit_code and d.verdict.value != "ALLOW":
        raise typer.Exit(VERDICT_EXIT_CODES[d.verdict.value])


# For shell scripts: `if assent decide ... --exit-code; then send; fi`. 2 is click's usage error.
VERDICT_EXIT_CODES = {"ALLOW": 0, "DENY": 1, "DEFER": 3}


# --- ledger ------------------------------------------------------------------------------------


@ledger_app.command("verify")
@command
def ledger_verify(account: AccountId, db: Db = None, json: Json = False) -> None:
    """Check the hash chain; exits 1 naming the first bad seq."""
    result = ledger.verify(_engine(db), account)
    if json:
        _emit_json(
            {"ok": result.ok, "events": result.events, "first_bad_seq": result.first_bad_seq, "problem": result.problem}
        )
    elif result.ok:
        typer.echo(f"ledger intact: {result.events} events verified")
    else:
        typer.echo(f"ledger broken at seq {result.first_bad_seq}: {result.problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("rebuild")
@command
def ledger_rebuild(
    account: AccountId,
    check: Annotated[bool, typer.Option("--check", help="Only compare the replay with the stored projection.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Replay the ledger into a fresh projection; with --check, report differences and change nothing."""
    with _progress(None, "replaying") as progress:
        result = ledger.rebuild(_engine(db), account, check=check, progress=progress)
    if json:
        _emit_json(
            {
                "events": result.events,
                "profiles": result.profiles,
                "written": result.written,
                "differences": [
                    {"table": d.table, "side": d.side, "row": [str(v) for v in d.row]} for d in result.differences
                ],
            }
        )
    elif result.differences:
        typer.echo(f"{len(result.differences)} differences between the ledger replay and the stored projection:")
        for d in result.differences[:50]:
            typer.echo(f"  {d.side} in {d.table}: {tuple(str(v) for v in d.row)}")
    elif check:
        typer.echo(f"projection matches the ledger ({result.events} events, {result.profiles} profiles)")
    else:
        typer.echo(f"projection rebuilt from {result.events} events ({result.profiles} profiles)")
    if result.differences:
        raise typer.Exit(1)


# --- demo --------------------------------------------------------------------------------------


@app.command("demo")
@command
def demo_command(
    profiles_count: Annotated[int, typer.Option("--profiles", help="How many synthetic profiles.")] = 5000,
    db: Db = None,
    json: Json = False,
) -> None:
    """Set up a demo account with synthetic profiles (migrating the database first) and show what to try."""
    engine = _engine(db, migrated=False)
    upgrade(engine)
    with _progress(profiles_count, "importing demo profiles") as progress:
        result = demo.create_demo(engine, profiles_count, progress)
    if json:
        _emit_json(result.as_dict())
        return
    typer.echo(demo.next_steps(result, _db_flag(db)))


def _db_flag(db: str | None) -> str:
    return f" --db {db}" if db else ""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
