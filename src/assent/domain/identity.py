"""Identifier normalisation: emails with email-validator, phone numbers to E.164 with phonenumbers.

Both are pure (no DNS look-ups). An email address is stored and compared in one canonical form,
wholly lowercased (local part too, as Klaviyo and listmonk do): keeping the local part's case would
let `Bob@example.com` and `bob@example.com` become two profiles of one person. The common
plain-ASCII shape takes a fast path that gives the same answer as email-validator (a property
test holds the two together) at a fraction of the cost.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers

from .errors import InvalidIdentifier

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# email-validator refuses these special-use names (RFC 6761 and friends).
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
# A plain ASCII address, every check of the fast path in the one pattern (a call of it costs less
# than any test beside it): a local part of 64 characters at most (atext holds no "@"), a dot-atom;
# a domain with no "--" (it may be an IDNA A-label or a forbidden label), of labels, and a top-level
# label that is not a special-use name. The groups are atomic: a dot-atom, a label and the run of
# "label." before the top-level label can each match only one way, so backtracking into them could
# never make a match, only cost time. The address's 254-character limit is checked beside it.
_FAST_EMAIL = re.compile(
    rf"(?=[^@]{{1,64}}@)(?>{_ATEXT}(?:\.{_ATEXT})*+)@(?![^@]*--)(?>(?>{_LABEL})\.)++"
    rf"(?!(?i:{'|'.join(_SPECIAL_USE)})\Z)[A-Za-z]{{2,63}}"
)
_fast_match = _FAST_EMAIL.fullmatch


def _fast_email(value: str) -> str | None:
    """The canonical form of a plain ASCII address, as email-validator would give it, or None when
    it takes email-validator's path. Its domain has 253 characters at most with the address's limit."""
    if len(value) <= 254 and _fast_match(value) is not None:
        return value.lower()  # ASCII alone: the local part and the domain lowercased
    return None


def normalize_email(value: str, field: str = "email") -> str:
    """Return the canonical (lowercased) address or raise InvalidIdentifier naming `field`.

    Every way an address comes in (import, API, filters, CLI, forms, webhooks) goes through here."""
    if not isinstance(value, str):
        raise InvalidIdentifier(field, "must be a string", value)
    text = value.strip()
    if len(text) <= 254 and _fast_match(text) is not None:  # _fast_email, inline on this hot path
        return text.lower()
    # Imported here: most addresses take the fast path, and loading email-validator (its regular
    # expressions) is a sizeable share of a short command's start-up.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as e:
        raise InvalidIdentifier(field, f"is not a valid email address: {e}", value) from None


def slow_normalize_email(value: str) -> str:
    """email-validator alone (then lowercased); the reference the fast path is tested against."""
    from email_validator import validate_email

    return validate_email(value.strip(), check_deliverability=False).normalized.lower()


_E164_DIGITS = re.compile(r"\+([1-9]\d{6,14})")


def _fast_phone(text: str) -> str | None:
    """A number already in E.164 that is valid: returned as is, skipping the costly parse.

    Anything else (other punctuation, a national number, an invalid one) returns None and
    takes the full parse, so errors always come from one place."""
    m = _E164_DIGITS.fullmatch(text)
    if m is None:
        return None
    digits = m.group(1)
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national or national[0] == "0":  # leading zeros need the parser's care
                return None
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]
            if len(regions) > 1:  # +1, +7, +44, ...: one pass over the regions, not two
                return text if _valid_in_some_region(national, regions) else None
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
            return text if phonenumbers.is_valid_number(number) else None
    return None


# The number types a valid number is one of (phonenumbers' _number_type_helper), likeliest first.
_NUMBER_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail")  # fmt: skip
_Desc = tuple[frozenset[int], re.Pattern[str]]


@functools.cache
def _region_patterns(region: str) -> tuple[re.Pattern[str] | None, _Desc | None, tuple[_Desc, ...]] | None:
    """A region's leading-digits pattern, general description and number types, compiled once."""
    md = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
    if md is None:
        return None

    def desc(d: Any) -> _Desc | None:
        if d is None or not d.national_number_pattern:
            return None
        return frozenset(d.possible_length or ()), re.compile(d.national_number_pattern)

    leading = re.compile(md.leading_digits) if md.leading_digits is not None else None
    types = tuple(x for name in _NUMBER_TYPES if (x := desc(getattr(md, name))) is not None)
    return leading, desc(md.general_desc), types


def _matches(national: str, d: _Desc | None) -> bool:
    return d is not None and (not d[0] or len(national) in d[0]) and d[1].fullmatch(national) is not None


def _has_type(national: str, patterns: tuple[re.Pattern[str] | None, _Desc | None, tuple[_Desc, ...]]) -> bool:
    return _matches(national, patterns[1]) and any(_matches(national, d) for d in patterns[2])


def _valid_in_some_region(national: str, regions: tuple[str, ...]) -> bool:
    """phonenumbers.is_valid_number for a calling code shared by several regions, in one pass: the
    number's region is the first whose leading digits match it, or else whose number types do
    (region_code_for_number), and it is valid when it has a type there (is_valid_number_for_region)."""
    for region in regions:
        patterns = _region_patterns(region)
        if patterns is None:
            continue
        if patterns[0] is not None:
            if patterns[0].match(national):
                return _has_type(national, patterns)
        elif _has_type(national, patterns):
            return True
    return False


# A letter or one of these marks after a number's last digit: an extension's mark with nothing after
# it ("x", "#", a dialler's pause "," or wait ";"), a vanity number's letters ("1-800-FLOWERS") or a
# note ("(office)"). An extension with its digits ("x12") is the parser's to find.
_EXTENSION_MARK = re.compile(r"[^\W\d_]|[#,;*~]")
_AFTER_LAST_DIGIT = re.compile(r"\d(\D*)$")
_SHARED_LINE = (
    "has an extension, an extension's mark (x, ext, #, a comma or a semicolon) or letters after its digits: "
    "a shared line, or not the number in digits; no text message comes from or goes to one, and no one person's "
    "consent covers it. Give the number alone, in digits"
)


def normalize_phone(value: str, default_region: str | None = "US", field: str = "phone_number") -> str:
    """Return the number in E.164 or raise InvalidIdentifier naming `field`.

    Numbers without a country code are read in `default_region` (the account's). A number with an
    extension ("+1 415 555 0100 ext. 12"), an extension's mark and nothing after it, or letters
    after its digits is refused: its line is shared (a switchboard), so consent given or withdrawn
    for the number without the extension would land on whoever else answers it, two people would
    share one profile's number, and no text message comes from or goes to it. Klaviyo takes E.164
    alone."""
    if not isinstance(value, str):
        raise InvalidIdentifier(field, "must be a string", value)
    text = value.strip()
    fast = _fast_phone(text)
    if fast is not None:
        return fast
    if not text:
        raise InvalidIdentifier(field, "is empty", value)
    after = _AFTER_LAST_DIGIT.search(text)
    if after is not None and _EXTENSION_MARK.search(after.group(1)):
        raise InvalidIdentifier(field, _SHARED_LINE, value)
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as e:
        raise InvalidIdentifier(field, f"is not a phone number: {e}", value) from None
    if number.extension:
        raise InvalidIdentifier(field, _SHARED_LINE, value)
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(field, "is not a valid phone number", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def slow_normalize_phone(value: str, default_region: str | None = "US") -> str:
    """phonenumbers' full parse alone; the reference the fast path is tested against."""
    text = value.strip()
    number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_region(value: str, field: str = "default_region") -> str:
    region = (value or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidIdentifier(field, "is not a two-letter region code phonenumbers knows", value)
    return region


# An external id is the brand's own key, kept as given; PostgreSQL indexes it per account, and an
# index entry must fit in a third of a page (2,704 bytes), so a longer one was a 500 there.
MAX_EXTERNAL_ID = 320


def check_external_id(value: str, field: str = "external_id") -> str:
    """An external id (already trimmed) as stored: refused when longer than MAX_EXTERNAL_ID."""
    if len(value) > MAX_EXTERNAL_ID:
        raise InvalidIdentifier(field, f"may be at most {MAX_EXTERNAL_ID} characters long", f"{len(value)} characters")
    return value
