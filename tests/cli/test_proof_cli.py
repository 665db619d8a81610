"""`assent consent-texts`, `assent ledger keygen|checkpoint` and `assent proof` as the real console
script on both backends."""

from __future__ import annotations

import hashlib

import pytest

from assent.services.accounts import accounts
from assent.store.db import make_engine
from tests.cli.test_cli import assent, assent_json


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
