"""The README, run as a newcomer would paste it, so that no example in it can rot.

Every fenced `sh` block runs in bash (in README order, from a fresh working directory), against
the real `assent` command and a real `assent serve --demo` on a free loopback port: the README's
host and port, placeholders (ACCOUNT_ID, ID, LIST_ID, PUBLIC_ID) and `pk_...` become the demo
server's, and `.venv/bin/` is this environment's. Every `python` block runs against that server.
Every path the README names (`GET /api/…`, `/p/{token}`, …) must be a route of the server. A
command that cannot run here is listed in NOT_RUN with the reason; any other command, including
ones added later, runs and must exit 0 (curl with --fail-with-body, so an HTTP error fails too).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _pg_available

README = Path(__file__).parents[1] / "README.md"
BIN = Path(sys.executable).parent
README_HOST = "http://127.0.0.1:8000"

# Commands that do not run in this test, exactly as the README has them, and why.
NOT_RUN = {
    "python3 -m venv .venv": "makes the virtual environment this test already runs in",
    ".venv/bin/pip install -e .": "installs this package, which the test runs from (and needs the network)",
    ".venv/bin/pip install -e '.[test]'": "installs this package and its test tools, already installed here",
    ".venv/bin/python -m pytest": "the test suite this test is part of",
    ".venv/bin/python bench/run_all.py --quick": "every benchmark, one after another: minutes of full load",
    ".venv/bin/python bench/run_all.py --postgres postgresql://127.0.0.1:5432/test --json": (
        "every benchmark at full size, million-profile imports included: the better part of an hour"
    ),
}
# A placeholder left in a command after substitution: the test needs to learn a value for it.
PLACEHOLDER = re.compile(r"\b(?:[A-Z]+_)*(?:ID|TOKEN|NAME|VALUE|FILE)\b")
# Files the README's examples read, as a newcomer would have them in the working directory.
FILES = {
    "customers.csv": (
        "email,phone_number,first_name,email_consent\n"
        "zoe.newcomer@example.com,+14155550123,Zoë,SUBSCRIBED\n"
        "not-an-email,,Broken,\n"
    ),
    "addresses.csv": "email,address1,city,zip,country\ngrace.thompson.1@example.com,1 Main St,Portland,97201,US\n",
}
# Options whose file argument a command writes rather than reads.
WRITTEN = re.compile(r"(?:--rejects|--output|-o)\s+\S+")
DATA_FILE = re.compile(r"(?<![\w/.-])[\w.-]+\.(?:csv|tsv|ndjson|jsonl|txt)\b")


@dataclass
class Block:
    lang: str
    line: int
    text: str


@dataclass
class Demo:
    """What `assent serve --demo` printed."""

    url: str
    key: str
    account_id: str
    public_id: str
    list_ids: list[str]
    try_line: str
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)


def fenced_blocks(text: str) -> list[Block]:
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if lang is None and line.startswith("```") and line[3:].strip():
            lang, start, body = line[3:].strip(), number, []
        elif lang is not None and line.startswith("```"):
            blocks.append(Block(lang, start, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    return blocks


def shell_commands(block: str) -> list[str]:
    """A block's commands: continuation lines joined, comments dropped, `a && b` split in two."""
    joined = re.sub(r"\\\n\s*", "", block)
    commands = []
    for line in joined.splitlines():
        line = _without_comment(line).strip()
        if line:
            commands += [part.strip() for part in line.split(" && ")]
    return commands


def _without_comment(line: str) -> str:
    """The line up to a `#` that starts a shell comment (at the start or after a space, unquoted)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSENT_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["ASSENT_RATE_LIMIT_SCALE"] = "off"
    return env


def start_demo_server(command: str, cwd: Path) -> Demo:
    """Run the README's `serve --demo` command on a free port, and read what it prints."""
    port = _free_port()
    argv = [*shlex.split(command.replace(".venv/bin/", f"{BIN}/")), "--port", str(port)]
    process = subprocess.Popen(
        argv, cwd=cwd, env=_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Uvicorn running on" in line:  # logged once the socket listens
            break
    text = "".join(output)
    if process.poll() is not None or "Uvicorn running on" not in text:
        process.kill()
        pytest.fail(f"`{command}` did not start:\n{text}")
    account = re.search(r"demo account (\w{26}).*public id (\w+)", text)
    key = re.search(r"(pk_[0-9a-f]+)", text)
    lists = re.search(r"lists: (\w+) \(.*?\), (\w+) \(", text)
    try_line = re.search(r"^try: (.+)$", text, re.M)
    assert account and key and lists and try_line, text
    return Demo(
        f"http://127.0.0.1:{port}", key.group(1), account.group(1), account.group(2), [lists.group(1), lists.group(2)],
        try_line.group(1), process, output,
    )  # fmt: skip


def substitute(command: str, demo: Demo) -> str:
    command = command.replace(".venv/bin/", f"{BIN}/")
    command = command.replace(README_HOST, demo.url)
    command = command.replace("pk_...", demo.key)
    for name, value in (
        ("ACCOUNT_ID", demo.account_id), ("LIST_ID", demo.list_ids[0]), ("PUBLIC_ID", demo.public_id),
        ("ID", demo.account_id),
    ):  # fmt: skip
        command = re.sub(rf"\b{name}\b", value, command)
    if re.match(r"^curl\b", command):
        command = "curl --fail-with-body" + command[len("curl") :]
    return command


def run_shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _postgres_url(command: str) -> str | None:
    """A test database for a command that points Assent at the README's PostgreSQL, or None."""
    found = re.search(r"postgresql://\S+", command)
    return found.group(0) if found else None


@pytest.fixture
def demo_dir(tmp_path) -> Path:
    for name, content in FILES.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    return tmp_path


def test_every_readme_command_runs_as_pasted(demo_dir, request):
    blocks = fenced_blocks(README.read_text(encoding="utf-8"))
    assert any(b.lang == "sh" for b in blocks) and any(b.lang == "python" for b in blocks)
    unknown = sorted({b.lang for b in blocks} - {"sh", "python"})
    assert not unknown, f"the README test runs sh and python blocks; teach it {unknown}"
    demo: Demo | None = None
    ran: list[str] = []
    try:
        for block in blocks:
            where = f"README.md:{block.line}"
            if block.lang == "python":
                assert demo is not None, f"{where}: a python example before `assent serve --demo`"
                code = substitute(block.text, demo)
                result = subprocess.run(
                    [sys.executable, "-c", code], cwd=demo_dir, env=_env(demo_dir), capture_output=True, text=True,
                    timeout=120,
                )  # fmt: skip
                assert result.returncode == 0, f"{where}: the python example failed:\n{result.stderr}"
                ran.append(code)
                continue
            env = _env(demo_dir)
            for command in shell_commands(block.text):
                if command in NOT_RUN:
                    continue
                if re.search(r"\bassent serve\b.*--demo", command):
                    assert demo is None, f"{where}: a second `serve --demo`"
                    demo = start_demo_server(command, demo_dir)
                    # The line it prints to try works as pasted.
                    result = run_shell(substitute(demo.try_line, demo), demo_dir, env)
                    assert result.returncode == 0 and '"data"' in result.stdout, (demo.try_line, result.stderr)
                    ran.append(command)
                    continue
                assert demo is not None, f"{where}: `{command}` comes before `assent serve --demo`"
                pg = _postgres_url(command)
                if pg is not None:
                    test_db = _test_postgres(request)
                    if test_db is None:
                        continue  # PostgreSQL is not reachable here (the store tests say so, and CI fails)
                    command = command.replace(pg, test_db)
                assignment = re.fullmatch(r"(?:export )?([A-Za-z_]\w*)=(\S+)", command)
                if assignment:  # `KEY=pk_...` or `export NAME=value`: for the block's later commands
                    name, value = assignment.groups()
                    env[name] = shlex.split(substitute(value, demo))[0]
                    ran.append(command)
                    continue
                shown = substitute(command, demo)
                left = PLACEHOLDER.findall(re.sub(r"'[^']*'|\"[^\"]*\"|\$\w+", "", shown))
                assert not left, f"{where}: `{command}` has placeholders {left}: teach the README test a value"
                unknown_files = [f for f in DATA_FILE.findall(WRITTEN.sub("", command)) if not (demo_dir / f).exists()]
                assert not unknown_files, f"{where}: `{command}` reads {unknown_files}: add them to FILES"
                result = run_shell(shown, demo_dir, env)
                assert result.returncode == 0, (
                    f"{where}: `{command}` exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                )
                ran.append(command)
    finally:
        if demo is not None:
            demo.process.send_signal(signal.SIGINT)
            try:
                demo.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                demo.process.kill()
    assert any("curl" in c for c in ran) and any("klaviyo_api" in c for c in ran)
    assert any(c.startswith("assent ") for c in ran)


def _test_postgres(request) -> str | None:
    if _pg_available() is not None and os.environ.get("CI", "").lower() != "true":
        return None
    url = request.getfixturevalue("pg_database")
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def readme_paths() -> list[tuple[str, str]]:
    """(method, path) for every route the README names in backticks, e.g. `GET/POST /api/lists`."""
    found = []
    for snippet in re.findall(r"`((?:[A-Z]+(?:/[A-Z]+)* )?/[^`\s]*)`", README.read_text(encoding="utf-8")):
        methods, _, path = snippet.rpartition(" ")
        if "…" in path or path.startswith("/usr/"):
            continue
        path = re.sub(r"\[\?[^\]]*\]$", "", path).split("?")[0]
        variants = [path]
        optional = re.search(r"\[(/[^\]]*)\]", path)
        if optional:  # `/api/metrics[/{id}]`: both forms
            variants = [path.replace(optional.group(0), ""), path.replace(optional.group(0), optional.group(1))]
        for method in (methods or "GET").split("/"):
            found += [(method, re.sub(r"\{[^}]+\}", "x1", v)) for v in variants]
    return found


def test_every_path_the_readme_names_is_served(tmp_path):
    from starlette.routing import Match

    from assent.server import create_app
    from assent.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'routes.db'}")
    upgrade(engine)
    app = create_app(engine)
    paths = readme_paths()
    assert ("POST", "/client/subscriptions") in paths and ("GET", "/api/openapi.json") in paths
    missing = []
    for method, path in paths:
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        if not any(route.matches(scope)[0] is Match.FULL for route in app.routes):
            missing.append(f"{method} {path}")
    engine.dispose()
    assert not missing, f"the README names paths the server does not serve: {missing}"
