"""Numbers out of range on the command line and in the account's settings: a message naming the
option or setting and a non-zero exit, never a traceback (an overflow in SQLite, a process pool,
a timedelta or a calendar), and nothing written. Settings on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from assent.domain import DomainError
from assent.services.accounts import settings
from assent.services.privacy import retention
from tests.cli.test_cli import assent, assert_one_line_error

HUGE = "9" * 23


@pytest.mark.parametrize(
    "args, option",
    [
        (("outbox", "--limit", HUGE), "--limit"),
        (("profiles", "import", "--account", "A", "--workers", HUGE, "rows.csv"), "--workers"),
        (("profiles", "import", "--account", "A", "--workers", "0", "rows.csv"), "--workers"),  # as serve refuses 0
        (("demo", "--profiles", "-5"), "--profiles"),
        (("serve", "--workers", HUGE), "--workers"),  # uvicorn started processes until the machine gave out
        (("sync", "--account", "A", "--to", "sqlite:///mirror.db", "--follow", "--poll", "nan"), "--poll"),
        (("sync", "--account", "A", "--to", "sqlite:///mirror.db", "--follow", "--poll", "-1"), "--poll"),
        (("stream", "--account", "A", "--to", "nats://127.0.0.1:1", "--follow", "--poll", "inf"), "--poll"),
        (("webhooks", "deliver", "--interval", "inf"), "--interval"),  # sleep() overflowed after the first round
        (("webhooks", "deliver", "--interval", "nan"), "--interval"),
        (("webhooks", "deliver", "--interval", "0.01"), "--interval"),
    ],
)
def test_an_out_of_range_number_option_is_a_usage_error_naming_it_not_a_traceback(args, option, tmp_path):
    result = assent(*args, db=f"sqlite:///{tmp_path / 'assent.db'}")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and option in result.stderr, result.stderr
    assert "Invalid value" in result.stderr, result.stderr


def test_a_retention_dry_run_past_the_settings_range_is_one_line_naming_months(db_url, account_id):
    result = assent("profiles", "retention", "--account", account_id, "--dry-run", "--months", HUGE, db=db_url)
    assert_one_line_error(result, "months: must be from 0 to 1200")


@pytest.mark.parametrize(
    "name, value",
    [
        ("doi_token_days", "9999999999"),  # a link expiry past datetime's range: signups to a double opt-in list failed
        ("doi_token_days", "0"),
        ("retention_months", "99999999999999"),  # an erasure cutoff before year 1: the daily job failed
        ("retention_months", "1201"),
        ("soft_bounce_limit", "0"),
        ("soft_bounce_limit", "9" * 5000),  # more digits than int() reads
        ("soft_bounce_limit", "²"),  # a digit to str.isdigit(), not to int()
    ],
)
def test_a_numeric_setting_out_of_its_range_is_refused_naming_it_and_not_stored(engine, account_id, name, value):
    before = settings.all_values(engine, account_id)[name]
    with pytest.raises(DomainError) as refused:
        settings.set_value(engine, account_id, name, value)
    assert refused.value.field == name
    assert settings.all_values(engine, account_id)[name] == before


def test_numeric_settings_at_the_ends_of_their_range_are_stored(engine, account_id):
    settings.set_values(engine, account_id, {"doi_token_days": "365", "retention_months": "1200",
                                             "soft_bounce_limit": "1"})  # fmt: skip
    assert retention.plan(engine, account_id).months == 1200
    settings.set_value(engine, account_id, "retention_months", "0")
    assert retention.plan(engine, account_id).cutoff is None
