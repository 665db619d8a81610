"""Ledger events in canonical form: the shortcuts a bulk job takes for its alike profiles
(chain.content_hasher, forms.encoder_like and the personal text written straight in) give what
the general encoding gives, byte for byte. Pure: no database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assent.domain.chain import content_hash, content_hasher, personal_digest
from assent.store import forms

# Text that needs escaping in JSON, and text that does not; no lone surrogates (no event holds one).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "bulk.1@example.com", "+14155550100", 'a"b', "a\\b", "tab\there", "é", "\u2028", "\x7f", "salt", "email"]
)
instants = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))


@given(texts, texts, instants, texts, st.none() | texts, texts, st.none() | texts)
@example("01ACCOUNT", "01PROFILE", datetime(2026, 1, 1, tzinfo=UTC), "consent.changed", None, "{}", None)
def test_a_content_hasher_hashes_as_content_hash(account_id, profile_id, at, type_, metric, payload, text):
    digest = personal_digest(text)
    hasher = content_hasher(account_id, at, type_, metric, payload)
    assert hasher(profile_id, digest) == content_hash(account_id, profile_id, at, type_, metric, payload, digest)


_encode_sorted = msgspec.json.Encoder(order="sorted").encode


@given(st.dictionaries(texts, texts, max_size=3), st.text("0123456789abcdef", min_size=16, max_size=16))
@example({"email": "bulk.1@example.com"}, "0123456789abcdef")
@example({"phone_number": "+14155550100"}, "0123456789abcdef")
@example({"email": "\u00e9lodie@example.fr"}, "0123456789abcdef")
@example({"salt": "mine"}, "0123456789abcdef")
@example({"email": 'a"b@example.com'}, "0123456789abcdef")
def test_personal_text_is_the_canonical_encoding_of_personal_with_its_salt(personal, salt):
    expected = _encode_sorted({**personal, "salt": salt}).decode()
    assert forms._personal_text(MappingProxyType(personal), salt) == expected
    assert forms._personal_text(personal, salt) == expected


@pytest.fixture
def fixed_salts(monkeypatch):
    """_salt hands out a known sequence, restarted by calling the fixture's result."""
    state = {}

    def restart() -> None:
        state["salts"] = (f"{i:016x}" for i in itertools.count())

    restart()
    monkeypatch.setattr(forms, "_salt", lambda: next(state["salts"]))
    return restart


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # restarted in each example
@given(
    texts, texts, instants, st.none() | texts, texts,
    st.dictionaries(st.sampled_from(["email", "phone_number", "ip"]), texts, max_size=2),
)  # fmt: skip
def test_an_event_encoded_like_another_through_encoder_like_is_as_encode_like_makes_it(
    fixed_salts, account_id, profile_id, at, metric, payload, personal
):
    like = forms.EncodedEvent(at, "consent.changed", metric, payload, None, "", "")
    fixed_salts()
    general = forms.encode_like(account_id, profile_id, like, MappingProxyType(personal))
    fixed_salts()
    made = forms.encoder_like(account_id, like)(profile_id, MappingProxyType(personal))
    assert made == general and type(made) is forms.EncodedEvent
    assert (made.personal is None) == (not personal)


def test_copy_line_escapes_text_and_writes_each_time_at_its_own_offset():
    from enum import StrEnum

    class Kind(StrEnum):
        A = "a\tb"

    noon = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    same_instant = noon.astimezone(timezone(timedelta(hours=2)))
    row = ("x\\y\tz\n\r", None, True, False, 7, noon, same_instant, datetime(2026, 5, 1, 12, 0), Kind.A, "")
    assert forms.copy_line(row) == (
        "x\\\\y\\tz\\n\\r\t\\N\tt\tf\t7\t2026-05-01T12:00:00+00:00\t2026-05-01T14:00:00+02:00\t"
        "2026-05-01T12:00:00\ta\\tb\t\n"
    )
    # Formatted once and kept, an instant is still written at the offset each row gives it.
    assert forms.copy_line((same_instant, noon)) == "2026-05-01T14:00:00+02:00\t2026-05-01T12:00:00+00:00\n"
