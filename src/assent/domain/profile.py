"""What a profile holds besides its consent: its fields (Klaviyo's profile attributes, the location
flattened), in the order the store's profile rows carry them. `properties` (free-form) is apart."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import DomainError, excerpt

# Klaviyo's location, flattened: the last of a profile's fields.
LOCATION_FIELDS = (
    "address1", "address2", "city", "region", "zip", "country", "timezone", "latitude", "longitude", "ip"
)  # fmt: skip
PROFILE_FIELDS = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "title",
    "locale",
    "image",
    *LOCATION_FIELDS,
)

# The longest text each profile field keeps, in characters. The columns are unbounded text, so
# without a bound a megabyte name was stored and sent back on every read of the profile. 255 is
# generous for a name, an address line, a title or an organization, and covers every locale tag,
# time zone name, IP address and coordinate; the image is a URL, bounded as webhook URLs are. The
# identifiers have bounds of their own: email (320, the address's limit) and external_id.
MAX_TEXT = 255
MAX_IMAGE = 2_000
_IDENTIFIERS = ("email", "phone_number", "external_id")
TEXT_LIMITS = {name: MAX_IMAGE if name == "image" else MAX_TEXT for name in PROFILE_FIELDS if name not in _IDENTIFIERS}


def check_length(field: str, text: str, named: str = "") -> str:
    """A profile field's text as given, refused when longer than its bound (TEXT_LIMITS); the
    error names the field as the caller's input does (`named`, say "location.", then the name)."""
    limit = TEXT_LIMITS.get(field)
    if limit is not None and len(text) > limit:
        raise DomainError(f"{named}{field}", f"may be at most {limit} characters long", f"{len(text)} characters")
    return text


def check_lengths(values: Mapping[str, Any], named: str = "", location: str = "") -> None:
    """check_length for every text among `values`: a location field is named `named` + `location`
    + its name (the API nests them under "location"), any other `named` + its name."""
    for name, text in values.items():
        if isinstance(text, str) and len(text) > MAX_TEXT:  # the common case stops here
            check_length(name, text, named + (location if name in LOCATION_FIELDS else ""))


# Decimal degrees, as Klaviyo's location gives them (a number, or its text).
_DEGREES = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
COORDINATE_BOUNDS = {"latitude": 90.0, "longitude": 180.0}


def check_coordinate(field: str, text: str) -> str:
    """A latitude or longitude as given (trimmed text), refused unless it is a number of degrees in range."""
    if _DEGREES.fullmatch(text) is None:
        raise DomainError(field, "must be a number of decimal degrees", excerpt(text))
    bound = COORDINATE_BOUNDS[field]
    if not -bound <= float(text) <= bound:
        raise DomainError(field, f"must be between -{bound:g} and {bound:g} degrees", excerpt(text))
    return text


def check_coordinates(values: Mapping[str, Any], named: str = "") -> None:
    """check_coordinate for the latitude and longitude among `values` (absent or None: not given),
    the field named as the caller's input names it: `named` (say "location.") then the name."""
    for name in COORDINATE_BOUNDS:
        if (text := values.get(name)) is not None:
            try:
                check_coordinate(name, text)
            except DomainError as e:
                raise DomainError(f"{named}{name}", e.message, e.value) from None
