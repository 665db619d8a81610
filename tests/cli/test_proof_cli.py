"""`assent consent-texts`, `assent ledger keygen|checkpoint` and `assent proof` as the real console
script on both backends."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from sqlalchemy import text

from assent.domain import Channel, Proof, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent import texts
from assent.services.consent.changes import Locator
from assent.store.db import make_engine
from tests.cli.test_cli import ASSENT, assent, assent_json
from tests.store.test_checkpoints import rewrite_whole_ledger


@pytest.fixture
def brand(db_url):
    engine = make_engine(db_url)
    account_id = accounts.create_account(engine, "Proof brand", "US").account.id
    yield engine, account_id
    engine.dispose()


def test_consent_texts_cli_stores_lists_shows_and_refuses_a_taken_version(db_url, brand, tmp_path) -> None:
    _, account_id = brand
    words = "Yes, text me offers from Brand Co.\nReply STOP to stop.\n"
    source = tmp_path / "words.txt"
    source.write_text(words, encoding="utf-8")
    made = assent_json("consent-texts", "create", "--account", account_id, "--version", "sms-1", "--file",
                       str(source), db=db_url)  # fmt: skip
    assert made["text"] == words and made["sha256"] == hashlib.sha256(words.encode()).hexdigest()
    [listed] = assent_json("consent-texts", "list", "--account", account_id, db=db_url)
    assert listed["id"] == made["id"]
    shown = assent("consent-texts", "show", "--account", account_id, made["id"], db=db_url, check=True).stdout
    assert "Reply STOP to stop." in shown and made["sha256"] in shown
    again = assent("consent-texts", "create", "--account", account_id, "--version", "sms-1", "--text", "other",
                   db=db_url)  # fmt: skip
    assert again.returncode == 1 and again.stderr.startswith("error: version: a consent text with this version")
    bad = assent("consent-texts", "create", "--account", account_id, "--version", "bad version", "--text", "x",
                 db=db_url)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("error: version:")


def test_ledger_keygen_checkpoint_and_verify_against_a_published_checkpoint(db_url, brand, tmp_path) -> None:
    engine, account_id = brand
    key_file = tmp_path / "ledger.pem"
    made = json.loads(assent("ledger", "keygen", "--out", str(key_file), "--json", check=True).stdout)
    assert key_file.exists() and made["public_key"]
    refused = assent("ledger", "checkpoint", "--account", account_id, db=db_url)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ASSENT_LEDGER_KEY: is not set")
    for email in ("a@example.com", "b@example.com"):
        consent.subscribe(engine, account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("email", "b@example.com"), Channel.EMAIL)
    env = {**{k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}, "ASSENT_LEDGER_KEY": str(key_file)}
    signed = subprocess.run([ASSENT, "ledger", "checkpoint", "--account", account_id, "--json", "--db", db_url],
                            capture_output=True, text=True, env=env, check=True)  # fmt: skip
    checkpoint = json.loads(signed.stdout)
    assert checkpoint["key_id"] == made["key_id"] and checkpoint["seq"] >= 3
    published = tmp_path / "checkpoint.json"
    published.write_text(signed.stdout)
    listed = assent_json("ledger", "checkpoints", "--account", account_id, db=db_url)
    assert listed == [checkpoint]
    ok = assent("ledger", "verify", "--account", account_id, "--checkpoint", str(published), "--trust",
                made["public_key"], db=db_url, check=True)  # fmt: skip
    # The published copy is the stored checkpoint: one checkpoint, counted once.
    assert "1 signed checkpoint matches the ledger: 1 stored, 1 published copy given (a copy of a stored one)" in (
        ok.stdout
    )
    by_id = assent("ledger", "verify", "--account", account_id, "--trust", made["key_id"].upper(), db=db_url)
    assert by_id.returncode == 0 and "1 signed checkpoint matches the ledger" in by_id.stdout  # the stored one
    for garbage in ("garbage", made["public_key"][:-4], made["key_id"][:-1]):
        refused = assent("ledger", "verify", "--account", account_id, "--trust", garbage, db=db_url)
        assert refused.returncode == 1 and refused.stderr.startswith("error: trust: is neither a public key")

    with engine.connect() as conn:
        seq = conn.execute(text("SELECT max(seq) FROM consent_events WHERE account_id = :a AND payload LIKE "
                                "'%\"UNSUBSCRIBED\"%'"), {"a": account_id}).scalar()  # fmt: skip
    rewrite_whole_ledger(engine, account_id, seq, '"UNSUBSCRIBED"', '"SUBSCRIBED"')
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoints WHERE account_id = :a"), {"a": account_id})
    assert assent("ledger", "verify", "--account", account_id, db=db_url).returncode == 0  # the chain alone
    failed = assent("ledger", "verify", "--account", account_id, "--checkpoint", str(published), db=db_url)
    assert failed.returncode == 1
    assert f"published checkpoint at seq {checkpoint['seq']} fails" in failed.stderr and "rewritten" in failed.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": "x"}')
    refused = assent("ledger", "verify", "--account", account_id, "--checkpoint", str(bad), db=db_url)
    assert refused.returncode == 1 and refused.stderr.startswith("error: checkpoint:")


def test_proof_cli_writes_a_bundle_and_a_page_and_verifies_it_offline(db_url, brand, tmp_path) -> None:
    engine, account_id = brand
    key_file = tmp_path / "ledger.pem"
    made = json.loads(assent("ledger", "keygen", "--out", str(key_file), "--json", check=True).stdout)
    assent("consent-texts", "create", "--account", account_id, "--version", "news-1", "--text",
           "Email me <b>offers</b>.", db=db_url, check=True)  # fmt: skip
    consent.subscribe(engine, account_id, Locator("email", "ann@example.com"), [(Channel.EMAIL, Purpose.MARKETING)],
                      method="FORM", proof=texts.attested(engine, account_id, Proof(
                          source="signup form", consent_text_version="news-1", ip="203.0.113.9")))  # fmt: skip
    missing = assent("proof", "--account", account_id, "--email", "ann@example.com", "--channel", "email", db=db_url)
    assert missing.returncode == 1 and "assent ledger checkpoint" in missing.stderr
    assent("ledger", "checkpoint", "--account", account_id, "--key", str(key_file), db=db_url, check=True)
    bundle_file, page = tmp_path / "proof.json", tmp_path / "proof.html"
    assent("proof", "--account", account_id, "--email", "ann@example.com", "--channel", "email", "--out",
           str(bundle_file), db=db_url, check=True)  # fmt: skip
    bundle = json.loads(bundle_file.read_text())
    assert bundle["summary"]["consent"]["ip"] == "203.0.113.9" and bundle["consent_text"]["version"] == "news-1"
    assent("proof", "--account", account_id, "--email", "ann@example.com", "--channel", "email", "--format", "html",
           "-o", str(page), db=db_url, check=True)  # fmt: skip
    html = page.read_text()
    assert "Verified offline" in html and "203.0.113.9" in html and "Email me &lt;b&gt;offers&lt;/b&gt;." in html

    # Offline: no --db, no database at all, only the file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSENT_")}
    env["ASSENT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nowhere' / 'none.db'}"
    ok = subprocess.run([ASSENT, "proof", "verify", str(bundle_file), "--trust", made["public_key"]],
                        capture_output=True, text=True, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("the proof holds") and "ok    signature" in ok.stdout
    refused = subprocess.run([ASSENT, "proof", "verify", str(bundle_file), "--trust", "not-a-key"],
                             capture_output=True, text=True, env=env)  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.startswith("error: trust:")
    bundle["consent_text"]["text"] = "Email me offers and sell my data."
    bundle_file.write_text(json.dumps(bundle))
    bad = subprocess.run([ASSENT, "proof", "verify", str(bundle_file), "--json"], capture_output=True, text=True,
                         env=env)  # fmt: skip
    assert bad.returncode == 1
    result = json.loads(bad.stdout)
    assert result["ok"] is False and [c["name"] for c in result["checks"] if not c["ok"]] == ["consent text"]
    unreadable = assent("proof", "verify", str(tmp_path / "missing.json"))
    assert unreadable.returncode == 1 and unreadable.stderr.startswith("error: file: cannot read it")
