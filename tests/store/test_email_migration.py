"""Migration 0005 stores every email in canonical form (lowercased), set-based, on SQLite and
PostgreSQL; where two profiles of an account would collide it refuses, changing nothing, and
`assent profiles duplicates` lists the collisions on that unmigrated database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from assent.services.accounts import accounts
from assent.services.profiles.reading import email_duplicates
from assent.store.db import current_revision, make_engine, upgrade
from assent.store.profiles import EmailCollisions
from assent.store.tables import outbox, profiles
from tests.cli.test_cli import assent
from tests.conftest import BACKENDS, database_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def old_db(request, tmp_path) -> Iterator[str]:
    """A database at revision 0004, before emails were canonical."""
    with database_at(request.param, tmp_path, "0004") as url:
        yield url


def _profile(conn, account_id: str, profile_id: str, email: str | None, phone: str | None = None) -> None:
    conn.execute(insert(profiles).values(
        account_id=account_id, id=profile_id, email=email, phone_number=phone, properties="{}",
        created_at=NOW, updated_at=NOW,
    ))  # fmt: skip


def _emails(engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {r.id: r.email for r in conn.execute(select(profiles.c.id, profiles.c.email))}


def test_the_migration_lowercases_every_stored_email_set_based(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    b = accounts.create_account(engine, "B", "US").account.id
    with engine.begin() as conn:
        _profile(conn, a, "P" * 26, "Bob@Example.COM")
        _profile(conn, a, "Q" * 26, "ÉLODIE@example.fr")
        _profile(conn, a, "R" * 26, None, "+14155550100")
        _profile(conn, b, "S" * 26, "bob@example.com")  # another account: not a collision
        _profile(conn, b, "T" * 26, "BOB@EXAMPLE.COM".replace("BOB", "Rob"))
        conn.execute(insert(outbox).values(
            account_id=a, id="O" * 26, channel="email", recipient="Bob@Example.COM", kind="optin", body_text="x",
            headers="{}", status="held", attempts=0, created_at=NOW,
        ))  # fmt: skip
    assert upgrade(engine)[1] == current_revision(engine)
    assert _emails(engine) == {
        "P" * 26: "bob@example.com", "Q" * 26: "élodie@example.fr", "R" * 26: None,
        "S" * 26: "bob@example.com", "T" * 26: "rob@example.com",
    }  # fmt: skip
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.recipient)).scalar_one() == "bob@example.com"
    engine.dispose()


def test_the_migration_refuses_colliding_profiles_and_changes_nothing(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    with engine.begin() as conn:
        _profile(conn, a, "P" * 26, "Bob@Example.COM")
        _profile(conn, a, "Q" * 26, "bob@example.com")
        _profile(conn, a, "R" * 26, "Ann@example.com")
    before = _emails(engine)
    with pytest.raises(EmailCollisions) as refused:
        upgrade(engine)
    message = str(refused.value)
    assert a in message and "bob@example.com" in message and "P" * 26 in message and "Q" * 26 in message
    assert refused.value.collisions == [(a, "bob@example.com", ["P" * 26, "Q" * 26])]
    assert _emails(engine) == before  # nothing changed, not even the profiles that did not collide
    assert current_revision(engine) == "0004"

    # The duplicates command reads the refused database, service and CLI alike.
    assert [(d.email, d.profile_ids) for d in email_duplicates(engine, a)] == [
        ("bob@example.com", ["P" * 26, "Q" * 26])
    ]
    listed = assent("profiles", "duplicates", "--account", a, "--json", db=old_db, check=True)
    assert json.loads(listed.stdout) == {
        "account_id": a, "duplicates": [{"email": "bob@example.com", "profile_ids": ["P" * 26, "Q" * 26]}]
    }  # fmt: skip
    cli_upgrade = assent("db", "upgrade", db=old_db)
    assert cli_upgrade.returncode == 1 and "bob@example.com" in cli_upgrade.stderr
    assert "Traceback" not in cli_upgrade.stderr

    # Once resolved (here: one address changed by hand), the upgrade goes through.
    with engine.begin() as conn:
        conn.execute(profiles.update().where(profiles.c.id == "Q" * 26).values(email="robert@example.com"))
    upgrade(engine)
    assert _emails(engine)["P" * 26] == "bob@example.com" and _emails(engine)["R" * 26] == "ann@example.com"
    assert email_duplicates(engine, a) == []
    engine.dispose()
