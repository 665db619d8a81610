"""Input at the edges on the command line, on SQLite and PostgreSQL: a message naming the
option, never a traceback, and nothing granted that was not asked for."""

from __future__ import annotations

import pytest

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.writes import ProfileInput, create_profile
from tests.cli.test_cli import assent, assent_json, assert_one_line_error

GUAM = "+16715550123"


def test_bad_input_gets_a_message_never_a_traceback_an_audience_at_the_end_of_the_calendar(db_url, engine, account_id):
    guam = {"phone_number": GUAM, "country": "US", "timezone": "Pacific/Guam"}
    create_profile(engine, account_id, ProfileInput(guam))
    consent.subscribe(engine, account_id, Locator("phone_number", GUAM), [(Channel.SMS, Purpose.MARKETING)])
    out = assent_json("audience", "count", "--account", account_id, "--all", "--channel", "sms",
                      "--at", "9999-12-31T23:59:59Z", db=db_url)  # fmt: skip
    assert (out["allowed"], out["deferred"]) == (0, 1), out
    bad = assent("audience", "count", "--account", account_id, "--all", "--at", "9999-12-31T23:00:00-05:00", db=db_url)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "at" in bad.stderr, bad.stderr


@pytest.mark.parametrize("scopes", ["", ",", " ", " , ,"])
def test_bad_input_gets_a_message_naming_the_field_an_empty_scope_list_is_not_full_access(db_url, account_id, scopes):
    before = assent_json("keys", "list", "--account", account_id, db=db_url)
    result = assent("keys", "create", "--account", account_id, "--scopes", scopes, db=db_url)
    assert_one_line_error(result, "--scopes", "--scopes '*'")
    assert assent_json("keys", "list", "--account", account_id, db=db_url) == before


def test_bad_input_gets_a_message_naming_the_field_full_access_mixed_with_scopes(db_url, account_id):
    before = assent_json("keys", "list", "--account", account_id, db=db_url)
    result = assent("keys", "create", "--account", account_id, "--scopes", "profiles:read,*", db=db_url)
    assert_one_line_error(result, "--scopes", "mixes *")
    assert assent_json("keys", "list", "--account", account_id, db=db_url) == before
    made = assent_json("keys", "create", "--account", account_id, "--scopes", "*", "--label", "all", db=db_url)
    assert made["scopes"] == ["*"]
