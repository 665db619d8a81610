"""Signed ledger checkpoints on SQLite and PostgreSQL: the head signed with Ed25519, and a database
rewritten whole (an event edited, every later hash and the head recomputed, so the chain alone
verifies) caught against a checkpoint published before the rewrite."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from assent.domain import Channel, DomainError, Purpose
from assent.domain.chain import checkpoint_from_json, checkpoint_message, content_hash, link_hash
from assent.services.consent import changes as consent
from assent.services.consent import checkpoints
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.store.tables import consent_events

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


@pytest.fixture(scope="module")
def key():
    return checkpoints.load_key_from_pem(checkpoints.new_key().private_pem)


def _subscribe(engine, account_id: str, *emails: str) -> None:
    for email in emails:
        consent.subscribe(engine, account_id, Locator("email", email), EMAIL)


def rewrite_whole_ledger(engine, account_id: str, seq: int, old: str, new: str) -> None:
    """What someone who can write the whole database does: edit one event's payload, then recompute
    its hash, every later hash and the account's head, so the chain is consistent again."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE consent_events SET payload = replace(payload, :old, :new) WHERE account_id = :a AND seq = :s"),
            {"old": old, "new": new, "a": account_id, "s": seq},
        )
        rows = conn.execute(
            consent_events.select()
            .where(consent_events.c.account_id == account_id, consent_events.c.seq >= seq)
            .order_by(consent_events.c.seq)
        ).all()
        prev = conn.execute(
            text("SELECT hash FROM consent_events WHERE account_id = :a AND seq = :s"), {"a": account_id, "s": seq - 1}
        ).scalar() or ""
        for row in rows:
            content = content_hash(account_id, row.profile_id, row.occurred_at, row.type, row.metric, row.payload,
                                   row.personal_digest)  # fmt: skip
            h = link_hash(row.seq, content, prev)
            conn.execute(
                text("UPDATE consent_events SET prev_hash = :p, hash = :h WHERE account_id = :a AND seq = :s"),
                {"p": prev, "h": h, "a": account_id, "s": row.seq},
            )
            prev = h
        conn.execute(text("UPDATE accounts SET ledger_head = :h WHERE id = :a"), {"h": prev, "a": account_id})


def test_a_checkpoint_signs_the_ledger_head_with_ed25519(engine, account_id, key) -> None:
    _subscribe(engine, account_id, "a@example.com", "b@example.com")
    made, new = checkpoints.checkpoint(engine, account_id, key)
    assert new
    with engine.connect() as conn:
        seq, head = conn.execute(text("SELECT ledger_seq, ledger_head FROM accounts WHERE id = :a"),
                                 {"a": account_id}).one()  # fmt: skip
    assert (made.seq, made.head_hash) == (seq, head)
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(made.public_key))
    public.verify(base64.b64decode(made.signature), checkpoint_message(account_id, seq, head, made.signed_at))
    # The same head is signed once; a later head gets its own checkpoint.
    again, new = checkpoints.checkpoint(engine, account_id, key)
    assert (again, new) == (made, False)
    _subscribe(engine, account_id, "c@example.com")
    later, new = checkpoints.checkpoint(engine, account_id, key)
    assert new and later.seq > made.seq
    assert checkpoints.listing(engine, account_id) == [made, later]
    checks = checkpoints.check_all(engine, account_id, [made, later, made])
    assert [(c.checkpoint, c.stored, c.published, c.problem) for c in checks] == [
        (made, True, True, None),
        (later, True, True, None),
    ]


def test_a_rewritten_database_fails_verification_against_an_earlier_published_checkpoint(engine, account_id, key):
    _subscribe(engine, account_id, "a@example.com", "b@example.com", "c@example.com")
    consent.unsubscribe(engine, account_id, Locator("email", "b@example.com"), Channel.EMAIL)
    published = checkpoint_from_json(checkpoints.checkpoint(engine, account_id, key)[0].as_json())
    # The published copy is the stored checkpoint, checked once.
    assert [c.problem for c in checkpoints.check_all(engine, account_id, [published])] == [None]
    # The unsubscribe is turned back into a consent and every hash recomputed.
    with engine.connect() as conn:
        seq = conn.execute(text("SELECT min(seq) FROM consent_events WHERE account_id = :a AND payload LIKE "
                                "'%\"UNSUBSCRIBED\"%'"), {"a": account_id}).scalar()  # fmt: skip
    rewrite_whole_ledger(engine, account_id, seq, '"UNSUBSCRIBED"', '"SUBSCRIBED"')
    assert ledger.verify(engine, account_id).ok  # the chain alone cannot tell
    checks = checkpoints.check_all(engine, account_id, [published])
    assert [(c.stored, c.published) for c in checks] == [(True, True)]
    for c in checks:
        assert c.problem is not None and "rewritten" in c.problem
    # The rewritten chain is refused a new signature: it does not extend the last checkpoint.
    _subscribe(engine, account_id, "d@example.com")
    with pytest.raises(DomainError, match="no longer has the hash its checkpoint signed"):
        checkpoints.checkpoint(engine, account_id, key)
    # Deleting the stored checkpoints hides nothing from the published one.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoints WHERE account_id = :a"), {"a": account_id})
    [check] = checkpoints.check_all(engine, account_id, [published])
    assert check.published and "rewritten" in (check.problem or "")


def test_a_forged_or_untrusted_checkpoint_is_refused(engine, account_id, key) -> None:
    _subscribe(engine, account_id, "a@example.com", "b@example.com")
    made = checkpoints.checkpoint(engine, account_id, key)[0]
    forged = checkpoint_from_json({**made.as_json(), "seq": made.seq - 1})
    [_, check] = checkpoints.check_all(engine, account_id, [forged])
    assert "signature does not match" in (check.problem or "")
    other = checkpoints.new_key()
    [check] = checkpoints.check_all(engine, account_id, [], trusted_keys=frozenset({other.public_key}))
    assert "not a trusted key" in (check.problem or "")
    [check] = checkpoints.check_all(engine, account_id, [], trusted_keys=frozenset({made.key_id}))
    assert check.problem is None


def test_a_checkpoint_needs_events_and_a_readable_ed25519_key(engine, account_id, key, tmp_path, monkeypatch) -> None:
    with pytest.raises(DomainError, match="no events yet"):
        checkpoints.checkpoint(engine, account_id, key)
    monkeypatch.delenv("ASSENT_LEDGER_KEY", raising=False)
    with pytest.raises(DomainError) as e:
        checkpoints.load_key()
    assert e.value.field == "ASSENT_LEDGER_KEY"
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    monkeypatch.setenv("ASSENT_LEDGER_KEY", str(junk))
    with pytest.raises(DomainError, match="not an unencrypted PEM private key"):
        checkpoints.load_key()
    made = tmp_path / "ledger.pem"
    pair = checkpoints.write_new_key(made)
    assert made.stat().st_mode & 0o777 == 0o600
    with pytest.raises(DomainError, match="never overwritten"):
        checkpoints.write_new_key(made)
    monkeypatch.setenv("ASSENT_LEDGER_KEY", str(made))
    assert base64.b64encode(checkpoints.load_key().public_key().public_bytes_raw()).decode() == pair.public_key
