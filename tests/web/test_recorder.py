"""The recorder is the one way to the ledger: no other module touches the appender, a bulk
subscribe and a one-click unsubscribe both write through it, its after-commit hooks run only once
the transaction commits, and the services import each other without cycles (none dodged with
imports inside functions)."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import assent
from assent.domain import ProfileState, SuppressionReason, replay
from assent.domain import transitions as t
from assent.services.shared.recorder import Hook, Recorded, Written, recording
from assent.store import ledger as ledger_store
from tests.web.test_unsubscribe import ONE_CLICK, events, link, make_profile

SRC = Path(assent.__file__).parent
ALLOWED = {SRC / "store" / "ledger.py", SRC / "services" / "shared" / "recorder.py"}


def _names(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.rsplit(".", 1)[-1])
    return found


def test_only_the_recorder_touches_the_ledger_appender() -> None:
    touching = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path not in ALLOWED and "LedgerAppender" in _names(ast.parse(path.read_text()))
    ]
    assert touching == []


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _service_imports(path: Path, modules: set[str]) -> tuple[set[str], dict[str, set[str]]]:
    """The services modules `path` imports at module level, and those it imports inside a function
    (by where: file and line)."""
    tree = ast.parse(path.read_text())
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]

    def imported(node: ast.ImportFrom) -> set[str]:
        base = package.split(".")
        base = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
        found = {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
        return {m for m in found if m in modules and m.startswith("assent.services.")}

    top = set().union(*(imported(n) for n in tree.body if isinstance(n, ast.ImportFrom) and n.level > 0))
    inner = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    inner[f"{path.relative_to(SRC / 'services')}:{node.lineno}"] = imported(node)
    return top, inner


def test_services_import_each_other_without_cycles_or_imports_inside_functions() -> None:
    paths = sorted((SRC / "services").rglob("*.py"))
    modules = {_module(path) for path in paths}
    graph, inner = {}, []
    for path in paths:
        top, late = _service_imports(path, modules)
        # The recorder's hooks load their modules when they first have work (a command that writes
        # no event, or sends no confirmation, never pays for them): still edges, so not a dodged cycle.
        if path == SRC / "services" / "shared" / "recorder.py":
            top |= set().union(*late.values())
            late = {}
        graph[_module(path)] = top
        inner += late
    assert inner == []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, f"import cycle: {' -> '.join([*path[path.index(module) :], module])}"
        if module in done:
            return
        for dependency in sorted(graph[module]):
            visit(dependency, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])


@pytest.fixture
def ledger_writes(monkeypatch) -> list[tuple[str, int]]:
    """Every write of the ledger as (who, events): "recorder" when services/shared/recorder.py makes
    it (Recorder.record's flush, or record_at_once's append in the database)."""
    writes: list[tuple[str, int]] = []
    flush, append = ledger_store.LedgerAppender.flush, ledger_store.LedgerAppender.append_in_database

    def who() -> str:
        caller = sys._getframe(2).f_code.co_filename  # the frame that called the appender
        return "recorder" if Path(caller).parts[-3:] == ("services", "shared", "recorder.py") else "elsewhere"

    def flushed(self):
        n = flush(self)
        writes.append((who(), n))
        return n

    def appended(self, events, unchanged=None):
        written = append(self, events, unchanged)
        writes.append((who(), len(events)))
        return written

    monkeypatch.setattr(ledger_store.LedgerAppender, "flush", flushed)
    monkeypatch.setattr(ledger_store.LedgerAppender, "append_in_database", appended)
    return writes


def test_a_bulk_subscribe_and_a_one_click_unsubscribe_reach_the_ledger_through_the_recorder(
    server, api, ledger_writes
) -> None:
    body = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": f"bulk{i}@example.com",
                                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
                            },
                        }
                        for i in range(3)
                    ]
                }
            },
        }
    }
    r = api.post("/api/profile-subscription-bulk-create-jobs", json=body)
    assert r.status_code == 202, r.text
    assert ledger_writes == [("recorder", 3)]

    profile_id = make_profile(server, api, "click@example.com")
    url = link(api, {"id": profile_id}).json()["data"]["attributes"]["url"]
    before = len(events(api, profile_id))
    ledger_writes.clear()
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as visitor:
        r = visitor.post(urlsplit(url).path, data=ONE_CLICK)
    assert r.status_code == 200, r.text
    written = len(events(api, profile_id)) - before
    assert written > 0 and ledger_writes == [("recorder", written)]


def test_after_commit_hooks_run_once_the_transaction_commits_and_never_after_a_rollback(server, api) -> None:
    seen: list[str] = []

    def in_transaction(conn, written: Written) -> bool:
        seen.append(f"in {len(written.recorded)}")
        return True

    hook = Hook("probe", in_transaction, lambda: seen.append("after"))
    profile_id = make_profile(server, api, "hooks@example.com")
    state = ProfileState(email="hooks@example.com")
    changes = t.suppress(state, SuppressionReason.USER_SUPPRESSED, now=datetime.now(UTC))
    change = Recorded(profile_id, replay(changes, state), changes)
    with pytest.raises(RuntimeError), recording(server.engine, api.account_id, hooks=(hook,)) as rec:
        rec.record([Recorded(profile_id, state, [])])  # no events: no hooks
        assert seen == []
        rec.record([change])
        assert seen == ["in 1"]
        raise RuntimeError("roll back")
    assert seen == ["in 1"]  # rolled back: nothing runs after
    seen.clear()
    with recording(server.engine, api.account_id, hooks=(hook,)) as rec:
        rec.record([change])
        rec.record([change])
    assert seen == ["in 1", "in 1", "after"]  # once, after the commit
