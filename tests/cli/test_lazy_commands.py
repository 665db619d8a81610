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
    assert _modules_after("--help") == {"assent.cli.root"}  # the top-level group, and no command
    loaded = _modules_after("profiles", "import", "--help")
    assert "assent.cli.profiles" in loaded
    assert not loaded & {f"assent.cli.{m}" for m in ("audience", "segments", "serve", "sync", "stream", "webhooks")}


def test_the_package_loads_nothing_until_main_runs():
    """An import's worker processes run the `assent` script again as their parent's main module
    (multiprocessing's spawn), which imports `main`: that must not load typer or any command."""
    code = "import sys; from assent.cli import main; print(' '.join(sys.modules))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not {m for m in loaded if m.split(".")[0] in ("typer", "click", "pydantic", "sqlalchemy")}
    assert not {m for m in loaded if m.startswith("assent.cli.")}


def _leaves(name: str, command) -> list[tuple[str, object]]:
    if isinstance(command, TyperGroup):
        return [leaf for sub, c in command.commands.items() for leaf in _leaves(f"{name} {sub}", c)]
    return [(name, command)]


def test_every_command_but_serve_takes_json():
    """The README's promise: every command prints JSON with --json (serve runs a server instead)."""
    leaves = [leaf for name in COMMANDS for leaf in _leaves(name, load_command(name))]
    assert len(leaves) > 50
    without = [name for name, c in leaves if not any("--json" in p.opts for p in c.params)]
    assert without == ["serve"]


def test_help_lists_each_command_on_one_line_when_the_terminal_is_wide_enough():
    """Help listings join a docstring's line breaks: a listed help never breaks off mid-sentence."""
    from typer.testing import CliRunner

    runner = CliRunner(env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    for args, names in [([], ORDER), *[([n], list(load_command(n).commands)) for n in ORDER if n in _GROUPS]]:
        shown = runner.invoke(app, [*args, "--help"]).output
        panel = shown[shown.index("Commands") :].split("╰")[0].splitlines()[1:]
        assert [line.split()[1] for line in panel] == names, (args, panel)


_GROUPS = {name for name, entry in COMMANDS.items() if entry.attribute == "app"}
