"""Which field each column of an import file's header fills.

Headers are compared by their letters and digits alone, so case, spaces, `_`, `-` and other
punctuation don't matter: `First Name`, `first_name`, `FIRSTNAME` and `first-name` are one name.
Besides the field names themselves, the table below accepts the headers of Klaviyo's profile
exports and of common ESP and shop exports (Mailchimp, Shopify, Brevo, ActiveCampaign). Adding a
name is one line in the table. A column that matches nothing goes into `properties` under its
header as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...domain.profile import PROFILE_FIELDS

IDENTIFIERS = ("email", "phone_number", "external_id")

# Field -> the other headers that mean it (the field's own name always does).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("Email Address", "E-mail", "E-mail Address", "Email_Address", "$email", "Mail"),
    "phone_number": ("Phone Number", "Phone", "Mobile", "Mobile Phone", "Mobile Number", "Cell Phone", "$phone_number"),
    "external_id": ("External ID", "Customer ID", "$external_id"),
    "first_name": ("First Name", "Given Name", "FNAME", "$first_name"),
    "last_name": ("Last Name", "Surname", "Family Name", "LNAME", "$last_name"),
    "organization": ("Organisation", "Company", "Company Name", "$organization"),
    "title": ("Job Title", "$title"),
    "locale": ("$locale",),
    "image": ("Image URL", "$image"),
    "address1": ("Address", "Address 1", "Address Line 1", "Street", "$address1"),
    "address2": ("Address 2", "Address Line 2", "$address2"),
    "city": ("Town", "$city"),
    "region": ("State", "State / Region", "Province", "State / Province", "$region"),
    "zip": ("Zip Code", "Postal Code", "Postcode", "$zip"),
    "country": ("$country",),
    "timezone": ("Time Zone", "$timezone"),
    "latitude": ("$latitude",),
    "longitude": ("$longitude",),
    "ip": ("IP Address",),
    "email_consent": ("Email Marketing Consent", "Email Consent", "Accepts Email Marketing", "Accepts Marketing"),
    "sms_consent": ("SMS Marketing Consent", "SMS Consent", "Accepts SMS Marketing"),
    "consented_at": ("Consented At",),
}  # fmt: skip

# Columns read from no row: ids of another system (or of Assent, which picks its own), and
# `properties`, which only NDJSON can nest.
IGNORED_HEADERS = ("id", "Klaviyo ID", "Profile ID", "properties")

FIELDS = (*PROFILE_FIELDS, "email_consent", "sms_consent", "consented_at")


def header_key(header: str) -> str:
    """What two headers must share to mean the same column."""
    return re.sub(r"[\W_]+", "", header.casefold())


_FIELD_BY_KEY = {header_key(name): field for field in FIELDS for name in (field, *HEADER_ALIASES.get(field, ()))}
_IGNORED_KEYS = {header_key(name) for name in IGNORED_HEADERS}


@dataclass(frozen=True, slots=True)
class Column:
    number: int  # 1-based, as a spreadsheet counts
    header: str
    field: str | None  # the Assent field; None for a property or an ignored column
    property: str | None = None  # the key in `properties`
    ignored: str | None = None  # why the column is not read

    def as_dict(self) -> dict:
        return {k: v for k, v in (("column", self.number), ("header", self.header), ("field", self.field),
                                  ("property", self.property), ("ignored", self.ignored)) if v is not None}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ColumnMap:
    columns: tuple[Column, ...]

    @property
    def keys(self) -> list[str | None]:
        """The key each column's cell gets in a row's record (None: not read)."""
        return [c.field or c.property for c in self.columns]

    @property
    def used(self) -> list[Column]:
        return [c for c in self.columns if c.ignored is None]

    @property
    def ignored(self) -> list[Column]:
        return [c for c in self.columns if c.ignored is not None]

    def has_identifier(self) -> bool:
        return any(c.field in IDENTIFIERS for c in self.columns)


def map_header(header: Sequence[str]) -> ColumnMap:
    """Each column's field; the first of two columns meaning the same field wins, the other is ignored."""
    columns: list[Column] = []
    taken: dict[str, str] = {}  # field or property -> the header that took it
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        key = header_key(name)
        field = _FIELD_BY_KEY.get(key)
        target = field or name
        if not key:
            columns.append(Column(number, name, None, ignored="no header"))
        elif key in _IGNORED_KEYS:
            columns.append(Column(number, name, None, ignored="not imported"))
        elif target in taken:
            columns.append(Column(number, name, None, ignored=f"{target} is read from column {taken[target]!r}"))
        else:
            taken[target] = name
            columns.append(Column(number, name, field) if field else Column(number, name, None, property=name))
    return ColumnMap(tuple(columns))


def accepted_identifier_headers() -> str:
    """The headers accepted for each identifier, for a message."""
    return "; ".join(f"{f}: {', '.join((f, *HEADER_ALIASES[f]))}" for f in IDENTIFIERS)
