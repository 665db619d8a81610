"""`assent sync` killed with SIGKILL mid-copy and mid-follow, and its target taken away and brought
back: after a restart the target matches Assent row for row, with nothing lost and nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from urllib.parse import urlsplit

import psycopg
import pymysql
import pytest

from assent.domain import Channel, Purpose
from assent.integrations.sync_target import target_for
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent import ledger_events
from assent.services.consent.changes import Locator
from assent.services.demo import synthetic
from assent.services.imports import importer as imports
from assent.services.outbound import sync
from assent.store.db import make_engine, upgrade
from tests.cli.test_cli import ASSENT

from .proxy import Proxy

PROFILES = 20_000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A SQLite source with an account of PROFILES imported profiles (email subscribed)."""
    work = tmp_path_factory.mktemp("source")
    url = f"sqlite:///{work / 'assent.db'}"
    engine = make_engine(url)
    upgrade(engine)
    account_id = accounts.create_account(engine, "Crash brand", "US").account.id
    csv_path = synthetic.write_csv(work / "profiles.csv", PROFILES)
    options = imports.ImportOptions(account_id, subscribe=((Channel.EMAIL, Purpose.MARKETING),), workers=1)
    imports.import_profiles(engine, csv_path, options)
    yield engine, url, account_id
    engine.dispose()


def _start(url: str, account_id: str, to: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    return subprocess.Popen([ASSENT, "sync", "--account", account_id, "--to", to, "--db", url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def _wait(predicate, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _address(to: str) -> tuple[str, int]:
    parts = urlsplit(to)
    return parts.hostname or "127.0.0.1", parts.port or (5432 if to.startswith("postgresql") else 3306)


def _via(to: str, proxy: Proxy) -> str:
    """The target URL with the proxy's port in place of the database's."""
    parts = urlsplit(to)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return to.replace(parts.netloc, f"{host}:{proxy.port}")


def _open_transaction(to: str) -> bool:
    """Whether some connection has a transaction open that wrote to the target database."""
    if to.startswith("postgresql"):
        name = urlsplit(to).path.lstrip("/")
        with psycopg.connect(to, autocommit=True) as conn:
            q = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS NOT NULL"
            return conn.execute(q, (name,)).fetchone()[0] > 0
    parts = urlsplit(to)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "")  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p "
                "ON p.ID = t.trx_mysql_thread_id WHERE p.DB = %s AND (t.trx_rows_modified > 0 "
                "OR t.trx_query LIKE 'LOAD DATA%%' OR t.trx_query LIKE 'INSERT%%')",
                (parts.path.lstrip("/"),),
            )
            return cur.fetchone()[0] > 0
    finally:
        conn.close()


def _position(to: str, account_id: str) -> int | None:
    target = target_for(to)
    try:
        target.prepare()
        p = target.position(account_id)
        return None if p is None else p.last_seq
    finally:
        target.close()


def _assert_exact_mirror(engine, account_id: str, to: str) -> None:
    target = target_for(to)
    try:
        report = sync.verify(engine, account_id, target)
        assert report.ok, (report.missing, report.extra, report.examples[:5])
        rows = target.rows(account_id, frozenset(report.tables))
        for table, table_rows in rows.items():  # nothing doubled
            assert len(table_rows) == len(set(table_rows)), table
        assert report.rows["consent"] >= PROFILES
    finally:
        target.close()


def _churn(engine, account_id: str, profile_ids: list[str], stop: threading.Event) -> None:
    """Unsubscribe, then subscribe again, profile after profile, until told to stop."""
    i = 0
    while not stop.is_set():
        locator = Locator("id", profile_ids[i % len(profile_ids)])
        if (i // len(profile_ids)) % 2 == 0:
            consent.unsubscribe(engine, account_id, locator, Channel.EMAIL)
        else:
            consent.subscribe(engine, account_id, locator, [(Channel.EMAIL, Purpose.MARKETING)])
        i += 1


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_kill_9_mid_copy_and_mid_follow_then_restart_loses_and_doubles_nothing(source, kind, request):
    engine, url, account_id = source
    to = request.getfixturevalue("pg_target" if kind == "postgres" else "mysql_target")
    some = [e.profile_id for e in ledger_events.events_after(engine, account_id, 0, 50).events]
    assert _position(to, account_id) is None  # (creates the tables, so what follows is the copy itself)

    # Mid-copy: killed while its one copy transaction is open, its bulk load half sent (held back
    # by a proxy after 1 MB, well into the first table's rows); nothing of it stays.
    proxy = Proxy(_address(to), hold_after=1_000_000)
    proxy.start()
    try:
        proc = _start(url, account_id, _via(to, proxy))
        while not proxy.held.wait(0.1):
            assert proc.poll() is None, proc.communicate()
        assert _open_transaction(to)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        proxy.stop()
    _wait(lambda: not _open_transaction(to), what="the server to roll the cut-off copy back")
    assert _position(to, account_id) is None

    # Mid-follow: killed while changes stream in; the restart takes up from the committed seq.
    follower = _start(url, account_id, to, "--follow", "--poll", "0.05")
    _wait(lambda: _position(to, account_id) is not None, what="the first copy")
    copied = _position(to, account_id)
    stop = threading.Event()
    writer = threading.Thread(target=_churn, args=(engine, account_id, some, stop))
    writer.start()
    try:
        _wait(lambda: (_position(to, account_id) or 0) > copied + 20, what="follow to apply changes")
        os.kill(follower.pid, signal.SIGKILL)
        follower.wait()
        time.sleep(0.3)  # more changes while nothing follows
    finally:
        stop.set()
        writer.join()
    head = ledger_events.head_seq(engine, account_id)
    assert _position(to, account_id) < head
    follower = _start(url, account_id, to, "--follow", "--poll", "0.05")
    try:
        _wait(lambda: _position(to, account_id) == head, what="the restarted follow to catch up")
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    _assert_exact_mirror(engine, account_id, to)


@pytest.mark.parametrize("kind", ["postgres", "mariadb"])
def test_follow_rides_out_a_target_outage(source, kind, request):
    engine, url, account_id = source
    to = request.getfixturevalue("pg_target" if kind == "postgres" else "mysql_target")
    proxy = Proxy(_address(to))
    proxy.start()
    follower = _start(url, account_id, _via(to, proxy), "--follow", "--poll", "0.05")
    try:
        _wait(lambda: _position(to, account_id) == ledger_events.head_seq(engine, account_id), what="the first copy")
        before = ledger_events.head_seq(engine, account_id)
        proxy.stop()  # the target goes away: open connections cut, new ones refused
        for e in ledger_events.events_after(engine, account_id, 100, 5).events:
            consent.unsuppress(engine, account_id, Locator("id", e.profile_id))
            consent.suppress(engine, account_id, Locator("id", e.profile_id))
        time.sleep(1.0)
        head = ledger_events.head_seq(engine, account_id)
        assert _position(to, account_id) == before < head
        proxy.start()  # and comes back
        _wait(lambda: _position(to, account_id) == head, what="follow to catch up after the outage")
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
        proxy.stop()
    assert follower.returncode == 0, err
    assert "trying again" in err
    _assert_exact_mirror(engine, account_id, to)
