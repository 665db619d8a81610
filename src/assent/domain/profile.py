"""What a profile holds besides its consent: its fields (Klaviyo's profile attributes, the location
flattened), in the order the store's profile rows carry them. `properties` (free-form) is apart."""

from __future__ import annotations

import re

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
