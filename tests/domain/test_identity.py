"""Identifier normalisation, and the email fast path held to email-validator's answers."""

from __future__ import annotations

import re

import pytest
from email_validator import EmailNotValidError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assent.domain import InvalidIdentifier, identity
from assent.domain.identity import normalize_email, normalize_phone, slow_normalize_email


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("Foo.Bar+tag@GMail.COM", "foo.bar+tag@gmail.com"),
        ("jane@example.com", "jane@example.com"),
        ("  Jane.Doe@Example.CO.UK \n", "jane.doe@example.co.uk"),
        ("Bob@Example.COM", "bob@example.com"),
        ("ÉLODIE@Example.fr", "élodie@example.fr"),
        ("o'reilly!#$%&*/=?^_`{|}~-@Sub.Example.ORG", "o'reilly!#$%&*/=?^_`{|}~-@sub.example.org"),
    ],
)
def test_emails_are_canonical_the_whole_address_lowercased(given_, expected):
    assert normalize_email(given_) == expected


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("user@Bücher.DE", "user@bücher.de"),
        ("user@xn--bcher-kva.de", "user@bücher.de"),
        ("用户@例子.广告", "用户@例子.广告"),
    ],
)
def test_normalize_email_accepts_internationalised_domains(given_, expected):
    assert normalize_email(given_) == expected
    assert slow_normalize_email(given_) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plainaddress",
        "@example.com",
        "jane@",
        "jane@@example.com",
        "jane..doe@example.com",
        ".jane@example.com",
        "jane@example",
        "jane@-example.com",
        "jane@example-.com",
        "jane@exa_mple.com",
        "jane@example..com",
        "jane@example.test",
        "jane@host.localhost",
        "jane@printer.local",
        "jane@example.123",
        "ja ne@example.com",
        "jane@ab--cd.com",
        "jane@" + "a" * 64 + ".com",
    ],
)
def test_normalize_email_rejects_bad_addresses_naming_the_field_and_the_value(bad):
    with pytest.raises(InvalidIdentifier) as err:
        normalize_email(bad, field="data.attributes.email")
    assert err.value.field == "data.attributes.email"
    assert err.value.value == bad
    assert repr(bad) in str(err.value)
    assert err.value.code == "invalid_identifier"


def test_normalize_email_refuses_non_strings_naming_the_field():
    with pytest.raises(InvalidIdentifier) as err:
        normalize_email(None)  # type: ignore[arg-type]
    assert err.value.field == "email"


@pytest.mark.parametrize(
    ("given_", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("020 8366 1177", "GB", "+442083661177"),
        ("+44 20 8366 1177", "US", "+442083661177"),  # an explicit country code wins over the region
        ("  +1 415 555 2671 ", None, "+14155552671"),
        ("030 1234567", "DE", "+49301234567"),
    ],
)
def test_normalize_phone_gives_e164_reading_national_numbers_in_the_default_region(given_, region, expected):
    assert normalize_phone(given_, region) == expected


@pytest.mark.parametrize(
    ("bad", "region"),
    [
        ("", "US"),
        ("   ", "US"),
        ("not a number", "US"),
        ("12", "US"),
        ("(415) 555-267", "US"),
        ("+1 555 0100", "US"),
        ("+999 1234 5678", "US"),
        ("020 8366 1177", None),  # a national number without a region cannot be read
    ],
)
def test_normalize_phone_rejects_invalid_numbers_naming_the_field(bad, region):
    with pytest.raises(InvalidIdentifier) as err:
        normalize_phone(bad, region, field="phone_number")
    assert err.value.field == "phone_number"
    assert err.value.value == bad


@pytest.mark.parametrize(
    "given_",
    ["+1 415 555 0100 ext. 12", "+14155550100;ext=5", "(415) 555-0100 x7", "tel:+1-415-555-0100;ext=5",
     "+1 415 555 0100 x", "+1 415 555 0100 X", "+1 415 555 0100,", "+1 415 555 0100 ;", "+1 415 555 0100 #",
     "+1 415 555 0100 ext", "+1 415 555 0100 (office)", "+1 415 555 0100 ｘ", "1-800-FLOWERS", "+1 415 555 CALL"],
)  # fmt: skip
def test_consent_never_lands_on_a_shared_line_a_number_with_an_extension_or_its_mark_is_refused(given_):
    with pytest.raises(InvalidIdentifier) as e:
        normalize_phone(given_, "US", "From")
    assert e.value.field == "From" and e.value.value == given_
    assert "has an extension" in e.value.message


@pytest.mark.parametrize(
    "given_", ["+14155550100", "(415) 555-0100", "415.555.0100.", "+1 (415) 555-0100 ", "4155550100"]
)
def test_a_number_alone_is_its_e164_form(given_):
    assert normalize_phone(given_, "US", "From") == "+14155550100"


def test_normalize_phone_names_the_field_it_was_given():
    with pytest.raises(InvalidIdentifier) as err:
        normalize_phone("nope", field="data.attributes.phone_number")
    assert err.value.field == "data.attributes.phone_number"


# --- The fast email path agrees with email-validator -----------------------------------------------

_LOCAL_CHARS = "abcXYZ019._+-!#$%&'*/=?^`{|}~"
_LABEL_CHARS = "abzAQZ059-"
_TLDS = [
    "com",
    "COM",
    "Org",
    "io",
    "uk",
    "museum",
    "xn--p1ai",
    "test",
    "local",
    "localhost",
    "invalid",
    "onion",
    "arpa",
    "example",
    "123",
    "c0m",
    "a",
    "x-y",
    "co-",
    "t" * 63,
    "t" * 64,
]

local_parts = st.one_of(
    st.text(_LOCAL_CHARS, min_size=1, max_size=70),
    st.lists(st.text(_LOCAL_CHARS.replace(".", ""), min_size=1, max_size=12), min_size=1, max_size=4).map(".".join),
    st.sampled_from(["a" * 64, "a" * 65, '"quoted"', "é", "a..b", ".a", "a."]),
)
labels = st.one_of(
    st.text(_LABEL_CHARS, min_size=1, max_size=12),
    st.sampled_from(["a--b", "ab--cd", "xn--bcher-kva", "xn--abc", "-a", "a-", "a" * 63, "a" * 64, "1234"]),
    st.integers(50, 70).map(lambda n: "L" * n),
)
domains = st.builds(
    lambda ls, tld: ".".join([*ls, tld]),
    st.lists(labels, min_size=0, max_size=5),
    st.one_of(st.sampled_from(_TLDS), st.text(_LABEL_CHARS, min_size=1, max_size=8)),
)
email_like = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains),
    # Near the 254-character limit on the whole address and the 63-character limit on a label.
    st.builds(
        lambda local, n: f"{local}@{'d' * 63}.{'e' * 63}.{'f' * 63}.{'g' * n}.com",
        st.text("aB1.", min_size=1, max_size=8).filter(lambda s: ".." not in s and s[0] != "." and s[-1] != "."),
        st.integers(40, 66),
    ),
    st.text(_LOCAL_CHARS + _LABEL_CHARS + "@ ", max_size=40),
)


def _slow(value: str) -> str | None:
    try:
        return slow_normalize_email(value)
    except EmailNotValidError:
        return None


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example("FTP@a.aw")  # an RFC 2142 role mailbox: email-validator lowercases the local part
@given(email_like)
@example("Foo.Bar+tag@GMail.COM")
@example("a@b.test")
@example("a@b.xn--p1ai")
@example("a@ab--cd.com")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com")
def test_fast_email_path_never_accepts_what_email_validator_refuses_and_agrees_on_the_result(value):
    fast = identity._fast_email(value)
    if fast is not None:
        assert _slow(value) == fast


_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(email_like)
@example("bulk.123@example.com")
@example("Foo.Bar+tag@GMail.COM")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".com")
def test_fast_email_path_takes_every_plain_address_email_validator_takes(value):
    # Plain: ASCII atext and dots in a local part of 64 characters at most (email-validator takes
    # longer ones; the fast path leaves them to it), a domain of letters, digits, dots and hyphens
    # with no "--", and an alphabetic top-level label of two letters or more.
    slow = _slow(value)
    local, _, domain = value.rpartition("@")
    tld = domain.rpartition(".")[2]
    plain = (_PLAIN.fullmatch(value) is not None and len(local) <= 64 and "--" not in domain and tld.isalpha()
             and len(tld) >= 2)  # fmt: skip
    if slow is not None and plain:
        assert identity._fast_email(value) == slow


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(email_like)
def test_normalize_email_and_slow_normalize_email_both_fail_or_agree(value):
    slow = _slow(value)
    try:
        normal = normalize_email(value)
    except InvalidIdentifier:
        normal = None
    assert normal == slow


# Digits after a "+", shaped like E.164 numbers of many countries (and many invalid ones), plus
# national numbers and punctuation that must take the full parse.
phone_like = st.one_of(
    st.builds(lambda cc, rest: f"+{cc}{rest}",
              st.sampled_from(["1", "7", "33", "44", "47", "49", "61", "81", "262", "353", "590", "972"]),
              st.text(alphabet="0123456789", min_size=4, max_size=13)),
    st.text(alphabet="+0123456789 -()", min_size=1, max_size=18),
)  # fmt: skip


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phone_like)
@example("+12062300000")
@example("+390612345678")  # an Italian number whose national part starts with 0: full parse only
def test_fast_phone_path_agrees_with_phonenumbers_full_parse(value):
    try:
        expected = identity.slow_normalize_phone(value, "US")
    except Exception:  # noqa: BLE001 — any refusal by phonenumbers
        expected = None
    fast = identity._fast_phone(value.strip())
    if fast is not None:
        assert fast == expected
    try:
        got = normalize_phone(value, "US")
    except InvalidIdentifier:
        got = None
    assert got == expected
