"""`assent consent-texts`: the stored consent wordings (immutable versions) forms and pages show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..domain import DomainError
from ..services.consent import texts
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, show

app = typer.Typer(help="Consent text versions: the exact words people consent to.", no_args_is_help=True)


def _as_json(t: texts.ConsentText) -> dict[str, Any]:
    return {"id": t.id, "version": t.version, "text": t.text, "language": t.language, "sha256": t.sha256,
            "created_at": t.created_at.isoformat()}  # fmt: skip


def _line(t: texts.ConsentText) -> str:
    first = t.text.strip().splitlines()[0] if t.text.strip() else ""
    return f"{t.id}  {t.version}  {t.created_at:%Y-%m-%d}  sha256 {t.sha256[:12]}…  {first[:60]}"


@app.command("create")
@command
def consent_texts_create(
    account: AccountId,
    version: Annotated[str, typer.Option("--version", help="Its name, unique in the account, e.g. footer-2026-03.")],
    text: Annotated[str | None, typer.Option("--text", help="The exact words.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the words from this UTF-8 file.")] = None,
    language: Annotated[str | None, typer.Option("--language", help="Language tag, e.g. en or de-CH.")] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Store a new version (never changed afterwards; a new wording is a new version)."""
    if (text is None) == (file is None):
        raise DomainError("text", "give the words with exactly one of --text or --file")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DomainError("file", f"cannot read it: {e}", str(file)) from None
    assert text is not None
    made = texts.create(open_engine(db), account, version=version, text=text, language=language)
    show(json, _as_json(made), f"consent text {made.version} stored as {made.id} (sha256 {made.sha256})")


@app.command("list")
@command
def consent_texts_list(account: AccountId, db: Db = None, json: Json = False) -> None:
    """The account's consent text versions, oldest first."""
    found = texts.listing(open_engine(db), account)
    show(json, [_as_json(t) for t in found], *([_line(t) for t in found] or ["no consent texts"]))


@app.command("show")
@command
def consent_texts_show(
    account: AccountId,
    text_id: Annotated[str, typer.Argument(help="The consent text's id.")],
    db: Db = None,
    json: Json = False,
) -> None:
    """One version with its full text."""
    t = texts.get(open_engine(db), account, text_id)
    show(json, _as_json(t), f"{t.version} ({t.id}), {t.created_at.isoformat()}, sha256 {t.sha256}", "", t.text)
