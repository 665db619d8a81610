"""`assent ledger`: check the hash chain, replay the projection, sign checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer

from ..domain import DomainError
from ..domain.chain import Checkpoint, checkpoint_from_json, trusted_keys
from ..services.consent import checkpoints
from ..services.consent import ledger_checks as ledger
from ..services.shared.database import open_engine
from .common import AccountId, Db, Json, command, counted, emit_json, show
from .progress import progress_bar

app = typer.Typer(help="The tamper-evident consent ledger.", no_args_is_help=True)


def _published(paths: list[Path]) -> list[Checkpoint]:
    """Checkpoints kept outside the database: files as `assent ledger checkpoint --json` printed them
    (one checkpoint, or a list of them)."""
    out = []
    for path in paths:
        try:
            value = msgspec.json.decode(path.read_bytes())
        except OSError as e:
            raise DomainError("checkpoint", f"cannot read it: {e.strerror}", str(path)) from None
        except msgspec.DecodeError:
            raise DomainError("checkpoint", "is not JSON", str(path)) from None
        try:
            out += [checkpoint_from_json(v) for v in (value if isinstance(value, list) else [value])]
        except ValueError as e:
            raise DomainError("checkpoint", f"{path}: {e}") from None
    return out


@app.command("verify")
@command
def ledger_verify(
    account: AccountId,
    published: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A published checkpoint (JSON file) the ledger must match; repeatable."),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="A public key (base64) or key id checkpoints must be signed by; repeatable."),
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Check the hash chain and every signed checkpoint (stored, and published ones given); exits 1
    naming the first bad seq or the checkpoint that no longer matches."""
    engine = open_engine(db)
    given = _published(published or [])
    result = ledger.verify(engine, account)
    checks = checkpoints.check_all(engine, account, given, trusted_keys(trust))
    bad = [c for c in checks if c.problem]
    ok = result.ok and not bad
    if json:
        emit_json(
            {"ok": ok, "events": result.events, "first_bad_seq": result.first_bad_seq, "problem": result.problem,
             "checkpoints": [{"seq": c.checkpoint.seq, "published": c.published, "stored": c.stored,
                              "key_id": c.checkpoint.key_id, "ok": c.problem is None, "problem": c.problem}
                             for c in checks]}
        )  # fmt: skip
    else:
        if result.ok:
            typer.echo(f"ledger intact: {result.events} events verified")
        else:
            typer.echo(f"ledger broken at seq {result.first_bad_seq}: {result.problem}", err=True)
        if checks and not bad:
            verb = "matches" if len(checks) == 1 else "match"
            typer.echo(f"{counted(len(checks), 'signed checkpoint')} {verb} the ledger{_sources(checks)}")
        for c in bad:
            where = "published" if c.published else "stored"
            typer.echo(f"{where} checkpoint at seq {c.checkpoint.seq} fails: {c.problem}", err=True)
    if not ok:
        raise typer.Exit(1)


def _sources(checks: list[checkpoints.CheckpointCheck]) -> str:
    """Where the checkpoints came from, when published copies were given: a copy of a stored
    checkpoint is the same checkpoint, counted once."""
    given = sum(c.published for c in checks)
    if not given:
        return ""
    stored = sum(c.stored for c in checks)
    both = sum(c.stored and c.published for c in checks)
    copies = "1 published copy" if given == 1 else f"{given:,} published copies"
    if not both:
        same = ""
    elif given == 1:
        same = " (a copy of a stored one)"
    else:
        same = f" ({both:,} of them copies of stored ones)"
    return f": {stored:,} stored, {copies} given{same}"


@app.command("keygen")
@command
def ledger_keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key (PEM); never overwritten.")],
    json: Json = False,
) -> None:
    """Make an Ed25519 key to sign checkpoints with; prints the public key to publish."""
    pair = checkpoints.write_new_key(out)
    show(json, {"private_key_file": str(out), "public_key": pair.public_key, "key_id": pair.key_id},
         f"private key written to {out} (keep it off the database server's backups; set ASSENT_LEDGER_KEY={out})",
         f"public key (publish it): {pair.public_key}", f"key id: {pair.key_id}")  # fmt: skip


@app.command("checkpoint")
@command
def ledger_checkpoint(
    account: AccountId,
    key: Annotated[
        str | None, typer.Option("--key", help="The private key file (default: ASSENT_LEDGER_KEY).")
    ] = None,
    db: Db = None,
    json: Json = False,
) -> None:
    """Sign the ledger's head with the Ed25519 key, store the checkpoint and print it (publish it)."""
    made, new = checkpoints.checkpoint(open_engine(db), account, checkpoints.load_key(key))
    state = "signed" if new else "already signed"
    show(json, made.as_json(), f"checkpoint {state}: seq {made.seq}, head {made.head_hash}",
         f"signed at {made.signed_at} by key {made.key_id}", f"signature {made.signature}")  # fmt: skip


@app.command("checkpoints")
@command
def ledger_checkpoints(account: AccountId, db: Db = None, json: Json = False) -> None:
    """The account's signed checkpoints, oldest first."""
    found = checkpoints.listing(open_engine(db), account)
    show(json, [c.as_json() for c in found],
         *([f"seq {c.seq}  {c.signed_at}  head {c.head_hash}  key {c.key_id[:16]}" for c in found]
           or ["no checkpoints (sign one with `assent ledger checkpoint`)"]))  # fmt: skip


@app.command("rebuild")
@command
def ledger_rebuild(
    account: AccountId,
    check: Annotated[bool, typer.Option("--check", help="Only compare the replay with the stored projection.")] = False,
    db: Db = None,
    json: Json = False,
) -> None:
    """Replay the ledger into a fresh projection; with --check, report differences and change nothing."""
    with progress_bar(None, "replaying") as progress:
        result = ledger.rebuild(open_engine(db), account, check=check, progress=progress)
    if json:
        emit_json(
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
        typer.echo(
            f"projection matches the ledger ({counted(result.events, 'event')} of "
            f"{counted(result.profiles, 'profile')} with consent history)"
        )
    else:
        typer.echo(
            f"projection rebuilt from {counted(result.events, 'event')} "
            f"({counted(result.profiles, 'profile')} with consent history)"
        )
    if result.differences:
        raise typer.Exit(1)
