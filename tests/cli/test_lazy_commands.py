"""The `assent` command loads a command group's module only when that group runs."""

from __future__ import annotations

import subprocess
import sys

import typer.main
from typer.core import TyperGroup

from assent.cli import COMMANDS, app, load_command

# Typer lists the commands added with app.command() first, then the groups.
ORDER = [
    "outbox", "serve", "decide", "demo", "sync", "stream", "db", "accounts", "profiles", "consent",
    "consent-texts", "lists", "audience", "segments", "ledger", "proof", "keys", "settings", "links",
    "sends", "webhooks", "users",
]  # fmt: skip


def test_help_lists_every_command_in_order_with_the_loaded_commands_help():
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    assert group.list_commands(None) == ORDER
    for name in ORDER:
        loaded = load_command(name)
        assert loaded.name == name
        assert COMMANDS[name].help == loaded.help, name  # what `assent --help` lists without loading it
        assert isinstance(loaded, TyperGroup) == (COMMANDS[name].attribute == "app"), name


def _modules_after(*args: str) -> set[str]:
    code = (
        "import sys; from assent.cli import main; sys.argv = ['assent', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('assent.cli.')), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert "Usage: assent" in run.stdout
    return set(run.stderr.split())


def test_help_imports_no_command_module_and_a_command_only_its_own():
    assert _modules_after("--help") == set()
    loaded = _modules_after("profiles", "import", "--help")
    assert "assent.cli.profiles" in loaded
    assert not loaded & {f"assent.cli.{m}" for m in ("audience", "segments", "serve", "sync", "stream", "webhooks")}
