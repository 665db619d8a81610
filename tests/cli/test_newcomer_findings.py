"""What a newcomer found on the command line, on SQLite and PostgreSQL: a message naming the
option, never a traceback, and nothing granted that was not asked for."""

from __future__ import annotations

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.writes import ProfileInput, create_profile
from tests.cli.test_cli import assent, assent_json

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
