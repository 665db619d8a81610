"""SQLite copies its write-ahead log back into the database (a checkpoint) after the writer lock is
released, not inside the COMMIT that the next writer waits for: a bulk job's commit used to carry,
every tenth job or so, the copy of ten jobs' pages."""

from __future__ import annotations

import fcntl
import os

import pytest

from assent.domain import Channel, Purpose
from assent.services.consent.bulk import ConsentItem, subscribe_profiles
from assent.store import db

EMAIL_M = (Channel.EMAIL, Purpose.MARKETING)


@pytest.fixture
def sqlite_engine(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    return engine


def _writer_lock_free(engine) -> bool:
    fd = os.open(f"{engine.url.database}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_checkpoints_run_after_the_writer_lock_is_released(sqlite_engine, account_id, monkeypatch):
    checkpointed, free = [], []
    checkpoint = db._checkpoint

    def watched(driver):
        free.append(_writer_lock_free(sqlite_engine))
        checkpoint(driver)
        checkpointed.append(driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())

    monkeypatch.setattr(db, "_checkpoint", watched)
    for n in range(db.CHECKPOINT_EVERY + 1):
        subscribe_profiles(sqlite_engine, account_id, [ConsentItem(None, f"c{n}@example.com", None, (EMAIL_M,))])
    assert free and all(free)
    busy, log, copied = checkpointed[0]
    assert busy == 0 and log == copied  # every page of the log is back in the database


def test_sqlites_own_checkpoint_is_only_a_backstop(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == db.WAL_BACKSTOP_PAGES
