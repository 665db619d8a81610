"""What a profile holds besides its consent: its fields (Klaviyo's profile attributes, the location
flattened), in the order the store's profile rows carry them. `properties` (free-form) is apart."""

from __future__ import annotations

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
