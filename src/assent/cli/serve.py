"""`assent serve` (the HTTP API, optionally with a demo account) and `assent demo`."""

from __future__ import annotations

import errno
import os
import socket
from typing import Annotated

import typer
from sqlalchemy import Engine

from .. import config
from ..domain.errors import DomainError
from ..services.demo import account as demo
from ..services.profiles.locator import Locator
from ..services.shared import database
from ..services.shared.database import open_engine
from .common import Db, Json, command, emit_json, warn_links
from .progress import progress_bar


@command
def serve_command(
    db: Db = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = config.DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = config.DEFAULT_PORT,
    workers: Annotated[int, typer.Option("--workers", help="Server processes.", min=1, max=64)] = 1,
    demo_account: Annotated[
        bool,
        typer.Option(
            "--demo", help="Use (or create) a demo account with synthetic profiles and print a new API key for it."
        ),
    ] = False,
) -> None:
    """Run the Klaviyo-compatible HTTP API (migrating the database first)."""
    from ..server import serve

    check_listen(host, port)
    engine = open_engine(db, migrated=False)
    url = database.url(db)
    database.upgrade(engine)
    served = config.listen_url(host, port)
    # Links in emails and pages start here unless ASSENT_PUBLIC_URL says otherwise.
    os.environ[config.SERVED_URL_ENV] = served
    if demo_account:
        _serve_demo(engine, served)
    engine.dispose()
    warn_links()
    # /api alone is no endpoint (a 404), so name the paths a newcomer can open.
    typer.echo(f"Assent on {served}: API {served}/api/openapi.json, console {served}/console; Ctrl-C stops it")
    serve(url, host, port, workers)


def check_listen(host: str, port: int) -> None:
    """Refuse an address the server could not listen on before migrating or printing anything: the
    server would otherwise announce itself, then exit when its socket fails to bind."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise DomainError("--host", f"cannot listen on {host!r}: {e.strerror}") from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise DomainError("--port", f"port {port} on {host} is in use; choose another with --port") from None
            raise DomainError("--host", f"cannot listen on {host}:{port}: {e.strerror}") from None


def _serve_demo(engine: Engine, served: str) -> None:
    from ..services.workflows import unsubscribe

    result = demo.existing_demo(engine)
    if result is None:
        with progress_bar(1000, "creating the demo account") as progress:
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


@command
def demo_command(
    profiles_count: Annotated[
        int, typer.Option("--profiles", help="How many synthetic profiles.", min=1, max=1_000_000)
    ] = 5000,
    db: Db = None,
    json: Json = False,
) -> None:
    """Set up a demo account with synthetic profiles (migrating the database first) and show what to try."""
    engine = open_engine(db, migrated=False)
    database.upgrade(engine)
    with progress_bar(profiles_count, "importing demo profiles") as progress:
        result = demo.create_demo(engine, profiles_count, progress)
    if json:
        emit_json(result.as_dict())
        return
    typer.echo(demo.next_steps(result, _db_flag(db)))


def _db_flag(db: str | None) -> str:
    return f" --db {db}" if db else ""
