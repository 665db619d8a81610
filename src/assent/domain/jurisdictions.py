"""Jurisdiction packs: which law's rules apply to a profile, from the account's `jurisdictions`
setting or (by default) from where the profile is.

A pack is a name for a body of law; its rules live in `pack_rules`. The legal sources are listed
in docs/jurisdictions.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from .errors import DomainError


class Pack(StrEnum):
    GDPR = "GDPR"  # EU/EEA: GDPR (EU 2016/679) with the ePrivacy Directive 2002/58/EC art. 13
    PECR = "PECR"  # United Kingdom: Privacy and Electronic Communications Regulations 2003, reg. 22
    UWG = "UWG"  # Germany: Gesetz gegen den unlauteren Wettbewerb §7, BGH I ZR 164/09
    CASL = "CASL"  # Canada: S.C. 2010, c. 23
    TCPA = "TCPA"  # United States: 47 U.S.C. §227, 47 CFR 64.1200, state telemarketing laws


# EU member states and the three other EEA states (Iceland, Liechtenstein, Norway).
EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})  # fmt: skip
# The Crown Dependencies share the UK's +44 numbering; their marketing laws follow PECR's model.
UK = frozenset({"GB", "GG", "JE", "IM"})

COUNTRY_PACKS: Mapping[str, frozenset[Pack]] = {
    **{c: frozenset({Pack.GDPR}) for c in EEA},
    "DE": frozenset({Pack.GDPR, Pack.UWG}),
    **{c: frozenset({Pack.PECR}) for c in UK},
    "CA": frozenset({Pack.CASL}),
    "US": frozenset({Pack.TCPA}),
}

# Country names a profile's `location.country` may hold (Klaviyo stores free text), besides the
# ISO 3166-1 alpha-2 and alpha-3 codes.
_COUNTRY_NAMES = {
    "austria": "AT", "belgium": "BE", "bulgaria": "BG", "croatia": "HR", "cyprus": "CY",
    "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "estonia": "EE", "finland": "FI",
    "france": "FR", "germany": "DE", "deutschland": "DE", "greece": "GR", "ireland": "IE",
    "italy": "IT", "latvia": "LV", "lithuania": "LT", "luxembourg": "LU", "malta": "MT",
    "netherlands": "NL", "the netherlands": "NL", "poland": "PL", "portugal": "PT", "romania": "RO",
    "slovakia": "SK", "slovenia": "SI", "spain": "ES", "sweden": "SE", "iceland": "IS",
    "liechtenstein": "LI", "norway": "NO", "united kingdom": "GB", "uk": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB", "guernsey": "GG",
    "jersey": "JE", "isle of man": "IM", "canada": "CA", "united states": "US",
    "united states of america": "US", "usa": "US", "u.s.": "US", "u.s.a.": "US",
}  # fmt: skip
_ALPHA3 = {
    "AUT": "AT", "BEL": "BE", "BGR": "BG", "HRV": "HR", "CYP": "CY", "CZE": "CZ", "DNK": "DK",
    "EST": "EE", "FIN": "FI", "FRA": "FR", "DEU": "DE", "GRC": "GR", "IRL": "IE", "ITA": "IT",
    "LVA": "LV", "LTU": "LT", "LUX": "LU", "MLT": "MT", "NLD": "NL", "POL": "PL", "PRT": "PT",
    "ROU": "RO", "SVK": "SK", "SVN": "SI", "ESP": "ES", "SWE": "SE", "ISL": "IS", "LIE": "LI",
    "NOR": "NO", "GBR": "GB", "GGY": "GG", "JEY": "JE", "IMN": "IM", "CAN": "CA", "USA": "US",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Window:
    """Hours of the day a marketing text may arrive, in the recipient's local time: [start, end)."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end


# TCPA quiet hours, 47 CFR 64.1200(c)(1), and the stricter state windows rules.md lists (data,
# not code: a new state is a new row). Keyed "US" or "US-<state code>".
QUIET_HOURS: Mapping[str, Window] = {
    "US": Window(time(8), time(21)),
    "US-FL": Window(time(8), time(20)),  # Fla. Stat. §501.616(6)(a)
    "US-OK": Window(time(8), time(20)),  # 15 O.S. §775C.4
    "US-MD": Window(time(8), time(20)),  # Md. Com. Law §14-4503 (Stop the Spam Calls Act 2023)
}
US_STATE_NAMES: Mapping[str, str] = {"florida": "FL", "oklahoma": "OK", "maryland": "MD"}


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a profile is, as far as the law cares: its country, US state, and time zone."""

    country: str | None = None  # ISO 3166-1 alpha-2
    region: str | None = None  # a US state's two-letter code, when known
    timezone: str | None = None  # an IANA zone name the profile gave


def country_code(value: str | None) -> str | None:
    """ISO alpha-2 code of a country given as a code or an English name; None when unknown."""
    if not value or not value.strip():
        return None
    v = value.strip()
    if len(v) == 2 and v.isalpha():
        return "GB" if v.upper() == "UK" else v.upper()
    if len(v) == 3 and v.isalpha() and v.upper() in _ALPHA3:
        return _ALPHA3[v.upper()]
    return _COUNTRY_NAMES.get(v.lower())


def _state_code(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    v = value.strip()
    if len(v) == 2 and v.isalpha():
        return v.upper()
    return US_STATE_NAMES.get(v.lower())


_TRAILING_STATE = re.compile(r",\s*([A-Z]{2})$")


def _phone(phone: str | None) -> phonenumbers.PhoneNumber | None:
    if not phone:
        return None
    try:
        return phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None


def _phone_state(number: phonenumbers.PhoneNumber) -> str | None:
    """A US number's state from its area code (geocoder: "Florida" or "San Francisco, CA")."""
    # Imported here: its data costs half a second and ~100 MB, which only this look-up needs.
    from phonenumbers import geocoder

    where = geocoder.description_for_number(number, "en")
    m = _TRAILING_STATE.search(where)
    return m.group(1) if m else _state_code(where)


def valid_zone(name: str | None) -> str | None:
    if not name or not name.strip():
        return None
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the zone database ("America")
        return None
    return name.strip()


def locate(country: str | None, region: str | None, timezone: str | None, phone: str | None) -> Recipient:
    """The profile's `location.country` (else its phone number's region), its US state (from
    `location.region`, else the phone's area code) and its time zone when it names a real one."""
    return _locate(country, region, timezone, _phone(phone))


def _locate(country: str | None, region: str | None, timezone: str | None,
            number: phonenumbers.PhoneNumber | None) -> Recipient:  # fmt: skip
    code = country_code(country)
    number_region = None
    if number is not None and (code is None or code == "US"):
        number_region = phonenumbers.region_code_for_number(number)  # a pattern search: once
    if code is None:
        code = number_region
    state = None
    if code == "US":
        state = _state_code(region)
        if state is None and number is not None and number_region == "US":
            state = _phone_state(number)
    return Recipient(code, state, valid_zone(timezone))


def packs_for(recipient: Recipient, configured: tuple[Pack, ...] | None) -> frozenset[Pack]:
    """The packs that apply: the account's explicit list, else those of the recipient's country
    (none for a country no pack covers, as Klaviyo applies none)."""
    if configured is not None:
        return frozenset(configured)
    return COUNTRY_PACKS.get(recipient.country or "", frozenset())


_ALIASES = {"EU": (Pack.GDPR,), "EEA": (Pack.GDPR,), "UK": (Pack.PECR,), "GB": (Pack.PECR,),
            "DE": (Pack.GDPR, Pack.UWG), "CA": (Pack.CASL,), "US": (Pack.TCPA,)}  # fmt: skip


def parse_jurisdictions(value: str | None, field: str = "jurisdictions") -> tuple[Pack, ...] | None:
    """The `jurisdictions` setting: "auto" (or empty) derives the packs from each profile's
    country; "none" applies none; otherwise a comma-separated list of packs (GDPR, PECR, UWG,
    CASL, TCPA) or countries standing for them (EU, UK, DE, CA, US) applied to every profile."""
    v = (value or "").strip()
    if v.lower() in ("", "auto"):
        return None
    if v.lower() == "none":
        return ()
    packs: list[Pack] = []
    for part in (p.strip().upper() for p in v.split(",")):
        if part in Pack.__members__:
            packs.append(Pack(part))
        elif part in _ALIASES:
            packs.extend(_ALIASES[part])
        else:
            names = ", ".join(Pack)
            raise DomainError(field, f"is auto, none, or a comma-separated list of {names} (or EU, UK, DE, CA, US)",
                              value or "")  # fmt: skip
    return tuple(dict.fromkeys(packs))


def window_key(recipient: Recipient) -> str:
    """The QUIET_HOURS key of the recipient's window: its state's, else the federal one."""
    key = f"US-{recipient.region}"
    return key if key in QUIET_HOURS else "US"


def quiet_window(recipient: Recipient) -> Window:
    return QUIET_HOURS[window_key(recipient)]


def zones(recipient: Recipient, phone: str | None) -> tuple[ZoneInfo, ...]:
    """The recipient's time zone: the profile's own, else every zone its phone number may be in
    (a send must fit the window in all of them)."""
    return _zones(recipient, _phone(phone))


def _zones(recipient: Recipient, number: phonenumbers.PhoneNumber | None) -> tuple[ZoneInfo, ...]:
    if recipient.timezone:
        return (ZoneInfo(recipient.timezone),)
    if number is None:
        return ()
    names = [n for n in phone_timezone.time_zones_for_number(number) if valid_zone(n)]
    return tuple(ZoneInfo(n) for n in names)


@dataclass(frozen=True, slots=True)
class Place:
    """What the packs read of a profile's whereabouts, worked out once from its country, region,
    time zone and phone number (the audience SQL stores it per profile): its country, US state
    and the names of its possible time zones (comma-separated, None when it has none)."""

    country: str | None
    region: str | None
    zones: str | None


def place_of(country: str | None, region: str | None, timezone: str | None, phone: str | None) -> Place:
    number = _phone(phone)  # parsed once for the place and the zones
    recipient = _locate(country, region, timezone, number)
    names = ",".join(z.key for z in _zones(recipient, number))
    return Place(recipient.country, recipient.region, names or None)


PHONE_TAIL = 2  # trailing digits of a long E.164 number that place_of does not read (see PlaceMemo)
# A number of 11 digits or more: shorter ones (small territories' 4- to 7-digit national numbers)
# are told apart by their last digits, and are their own keys.
_LONG_E164 = re.compile(r"\+\d{11,15}")


class PlaceMemo:
    """place_of, remembered per country, region, time zone and phone number less its last
    PHONE_TAIL digits. phonenumbers works out a number's region, area (US state) and time zones
    from its leading digits and patterns that leave the last two digits of a long number free, so
    such numbers differing only there have one place: a bulk load's profiles then cost a
    dictionary look-up each, not a parse and the pattern and prefix searches
    (tests/domain/test_jurisdictions.py holds it equal to place_of on a large random sample of
    numbers of every region; four digits would not do: +61 8 9195 74xx and 93xx differ). A short
    number, or one not in E.164 form, is its own key."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str | None, ...], Place] = {}

    def __call__(self, country: str | None, region: str | None, timezone: str | None, phone: str | None) -> Place:
        short = phone[:-PHONE_TAIL] + "#" * PHONE_TAIL if phone and _LONG_E164.fullmatch(phone) else phone
        key = (country, region, timezone, short)
        place = self._seen.get(key)
        if place is None:
            place = self._seen[key] = place_of(country, region, timezone, phone)
        return place
