"""`assent proof`: the bundle proving a profile's consent on a channel, as JSON or a readable page,
and `assent proof verify FILE`, which checks a bundle offline (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer

from ..domain import DomainError
from ..domain.chain import trusted_keys
from ..domain.proofs import verify_bundle
from ..services.consent import proof_html, proofs
from ..services.shared.database import open_engine
from .common import (
    ByEmail,
    ByExternal,
    ById,
    ByPhone,
    Db,
    Json,
    PurposeOpt,
    command,
    emit_json,
    locator,
)

app = typer.Typer(
    help="Consent proofs: a bundle that proves a profile's consent offline, and its verification.",
    invoke_without_command=True,
)
Format = Annotated[str, typer.Option("--format", help="json (default) or html, a page to read and print.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file (default: standard output).")]
Trust = Annotated[
    list[str] | None,
    typer.Option("--trust", help="The brand's published public key (base64) or key id; repeatable."),
]


def _write(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text)
        return
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as e:
        raise DomainError("out", f"cannot write it: {e.strerror}", str(out)) from None


def _format(value: str) -> str:
    if value not in ("json", "html"):
        raise DomainError("format", "must be json or html", value)
    return value


@app.callback()
@command
def proof_command(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="Account id.")] = None,
    id: ById = None,
    email: ByEmail = None,
    phone: ByPhone = None,
    external_id: ByExternal = None,
    channel: Annotated[str | None, typer.Option("--channel", help="email, sms, push, whatsapp or postal.")] = None,
    purpose: PurposeOpt = None,
    format: Format = "json",
    out: Out = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """The proof of a profile's current consent on a channel (JSON, or --format html)."""
    if ctx.invoked_subcommand is not None:
        return
    if account is None:
        raise DomainError("account", "name the account with --account")
    if channel is None:
        raise DomainError("channel", "name the channel with --channel")
    kind = "json" if json else _format(format)
    bundle = proofs.consent_proof_of(
        open_engine(db), account, locator(id, email, phone, external_id), channel, purpose
    )
    if kind == "html":
        _write(proof_html.render(bundle, verify_bundle(bundle)), out)
    else:
        _write(msgspec.json.format(msgspec.json.encode(bundle), indent=2).decode(), out)


@app.command("verify")
@command
def proof_verify(
    file: Annotated[Path, typer.Argument(help="A bundle from assent proof or GET /api/profiles/{id}/consent-proof.")],
    trust: Trust = None,
    format: Format = "json",
    out: Out = None,
    json: Json = False,
) -> None:
    """Check a bundle offline: the events, the chain to the signed checkpoint, the signature and the
    consent text. Exits 0 when every check holds, 1 otherwise."""
    try:
        document = msgspec.json.decode(file.read_bytes())
    except OSError as e:
        raise DomainError("file", f"cannot read it: {e.strerror}", str(file)) from None
    except msgspec.DecodeError:
        raise DomainError("file", "is not JSON", str(file)) from None
    result = verify_bundle(document, trusted_keys(trust))
    kind = _format(format)
    if json:
        emit_json(result.as_json())
    elif kind == "html":
        _write(proof_html.render(document, result), out)
    else:
        for c in result.checks:
            typer.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        for w in result.warnings:
            typer.echo(f"note  {w}")
        typer.echo("the proof holds" if result.ok else "the proof does NOT hold")
    if not result.ok:
        raise typer.Exit(1)
