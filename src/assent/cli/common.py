"""What every command shares: the common options, --json or human output, one-line errors
(exit 1) for what users can cause, the database, profile locators and times."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
import typer
from sqlalchemy.exc import OperationalError

from .. import config
from ..domain import DomainError
from ..services.profiles.locator import Locator
from ..services.shared import database
from ..services.shared.clock import parse_time

Db = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: ASSENT_DATABASE_URL, else sqlite:///./assent.db).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AccountId = Annotated[str, typer.Option("--account", help="Account id.")]
ById = Annotated[str | None, typer.Option("--id", help="Profile id.")]
ByEmail = Annotated[str | None, typer.Option("--email", help="Profile email.")]
ByPhone = Annotated[str | None, typer.Option("--phone", help="Profile phone number.")]
ByExternal = Annotated[str | None, typer.Option("--external-id", help="Profile external id.")]
ChannelOpt = Annotated[str, typer.Option("--channel", help="email, sms, push, whatsapp or postal.")]
PurposeOpt = Annotated[
    str | None, typer.Option("--purpose", help="marketing (default), transactional, conversational.")
]
ListOpt = Annotated[str | None, typer.Option("--list", help="List id.")]
MAX_POLL_SECONDS = 3600.0


def _poll_seconds(value: float) -> float:
    # A float option's range lets NaN through (every comparison with it is false); sleep() does not.
    if not 0 < value <= MAX_POLL_SECONDS:
        raise typer.BadParameter(f"must be a number of seconds above 0 and at most {MAX_POLL_SECONDS:g}")
    return value


Poll = Annotated[
    float,
    typer.Option("--poll", help="With --follow: seconds between looks at the ledger.", callback=_poll_seconds),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="Where people reach the server, e.g. http://127.0.0.1:8123 (default ASSENT_PUBLIC_URL, else "
        "http://127.0.0.1:8000).",
    ),
]


def counted(n: int, noun: str) -> str:
    """`1 profile`, `2 profiles`: the count and its noun, plural unless one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def emit_json(value: Any) -> None:
    typer.echo(msgspec.json.encode(value).decode())


def show(json: bool, data: Any, *lines: str) -> None:
    """`data` as JSON with --json, else the human lines."""
    if json:
        emit_json(data)
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
        except database.SETUP_ERRORS as e:
            typer.echo(f"error: {e}", err=True)
        except OperationalError as e:
            typer.echo(f"error: cannot use the database: {str(e.orig).strip().splitlines()[0]}", err=True)
        except OSError as e:
            if e.filename is None:  # not a file the user named (a broker or a network): a real fault
                raise
            typer.echo(f"error: cannot use the file {e.filename!r}: {e.strerror}", err=True)
        raise typer.Exit(error_exit_code(kwargs))

    return wrapper


def error_exit_code(params: dict) -> int:
    """1 for an error; but `decide --exit-code` answers DENY with 1, so there an error is 4 and a
    script can tell "may not send" from "could not decide"."""
    return 4 if params.get("exit_code") else 1


def locator(id: str | None, email: str | None, phone: str | None, external_id: str | None = None) -> Locator:
    given = [
        (f, v) for f, v in (("id", id), ("email", email), ("phone_number", phone), ("external_id", external_id)) if v
    ]
    if len(given) != 1:
        raise DomainError("profile", "name it with exactly one of --id, --email, --phone, --external-id")
    return Locator(*given[0])


def optional_time(value: str | None, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


def link_base(base_url: str | None) -> str:
    """What printed links start with: --base-url when given, else ASSENT_PUBLIC_URL or serve's default.
    A command cannot know the port a running server chose, hence the option."""
    if base_url is None:
        return config.settings().link_base
    given = base_url.strip()
    parts = urlsplit(given)
    try:
        parts.port  # noqa: B018 -- reading it checks the port is a number in range
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("base_url", "must be an http or https URL with a host, such as https://consent.brand.example",
                          base_url)  # fmt: skip
    return given.rstrip("/")


def output_file(path: str | Path | None, field: str) -> None:
    """Refuse, before any work, a path no file can be written at (None is standard output)."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise DomainError(field, "is a directory: name a file to write", str(path))
    if not target.parent.is_dir():
        raise DomainError(field, f"cannot write it: the folder {str(target.parent)!r} does not exist", str(path))


def warn_links() -> None:
    """Links that will not work for real recipients say so on stderr."""
    warning = config.settings().link_warning()
    if warning:
        typer.echo(f"warning: {warning}", err=True)
