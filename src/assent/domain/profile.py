"""What a profile holds besides its consent: its fields (Klaviyo's profile attributes, the location
flattened), in the order the store's profile rows carry them. `properties` (free-form) is apart."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import DomainError, excerpt

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
    "address1",
    "address2",
    "city",
    "region",
    "zip",
    "country",
    "timezone",
    "latitude",
    "longitude",
    "ip",
)

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
