"""PostgreSQL connections in the pool: one that sat idle is pinged before it is used again and
replaced when the server has dropped it; reads made in autocommit leave the connection as every
other user expects it, in a transaction of its own. Each test runs on PostgreSQL only: SQLite's
connections are a file, which no server drops, and its reads always run in a transaction."""

from __future__ import annotations

import logging
import select

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from assent.store import db
from assent.store.db import read_statements, read_transaction, write_transaction


@pytest.fixture
def pg_engine(engine):
    if engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL's pool only")
    return engine


def _backend_pid(engine) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_no_request_reaches_a_500_a_pooled_connection_the_server_dropped_is_replaced(pg_engine, monkeypatch):
    dropped = _backend_pid(pg_engine)  # back in the pool now
    other = create_engine(pg_engine.url, poolclass=NullPool)  # not from the pool under test
    with other.connect() as admin:  # ends the pooled connection's server process
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
        admin.commit()
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # it has sat idle long enough to be pinged
    assert _backend_pid(pg_engine) != dropped  # the ping failed, and a new connection served


def test_reads_in_autocommit_leave_the_connection_transactional_for_the_next_write(pg_engine, account_id):
    with read_statements(pg_engine) as conn:
        assert conn.connection.driver_connection.autocommit
        conn.execute(text("SELECT 1")).scalar_one()
    with pytest.raises(RuntimeError), write_transaction(pg_engine) as conn:  # the same connection, from the pool
        assert not conn.connection.driver_connection.autocommit
        conn.execute(text("UPDATE accounts SET name = 'Renamed' WHERE id = :a"), {"a": account_id})
        raise RuntimeError("the write fails after its update")
    with read_transaction(pg_engine) as conn:  # rolled back whole
        name = conn.execute(text("SELECT name FROM accounts WHERE id = :a"), {"a": account_id}).scalar_one()
    assert name != "Renamed"


def test_a_pipelined_write_that_fails_tells_its_own_error_and_logs_no_warning(pg_engine, caplog):
    # A statement's error can reach the driver while later statements are still being queued (here
    # the server has answered the failed insert before the next statement is sent): it comes out of
    # the block as a SQLAlchemy error, and ending the pipeline after it (which finds the pipeline
    # aborted) logs nothing. A bulk job that fails so (an identifier another process took) is worked
    # out again, and the log stays quiet.
    with write_transaction(pg_engine) as conn:
        conn.execute(text("CREATE TEMP TABLE once (v int PRIMARY KEY) ON COMMIT DROP"))
        raw = db.driver_connection(conn)
        with caplog.at_level(logging.WARNING), pytest.raises(IntegrityError), db.pipeline(conn):
            db.send(conn, "INSERT INTO once VALUES (1)")
            db.send(conn, "INSERT INTO once VALUES (1)")
            select.select([raw.pgconn.socket], [], [], 10)  # the server's answer has arrived
            db.send(conn, "INSERT INTO once VALUES (2)")
        conn.rollback()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
