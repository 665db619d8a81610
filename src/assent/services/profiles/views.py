"""A profile as the use cases hand it up: its fields, free-form properties and times, and its
consent state when it was asked for. The interfaces shape it for the wire (the API's profile
resource is built in api/resources.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from ...domain import ProfileState
from ...store.profile_read import ProfileRow
from ...store.rows import AnyRow

LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip")


@dataclass(frozen=True, slots=True)
class ProfileView:
    id: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    organization: str | None
    locale: str | None
    title: str | None
    image: str | None
    location: dict[str, Any]  # LOCATION's fields, in that order
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime | None
    state: ProfileState | None = None  # the consent state, when it was asked for
    joined_at: datetime | None = None  # when the profile joined the list, for a list's members


def profile_view(
    row: AnyRow | ProfileRow, state: ProfileState | None = None, *, joined_at: datetime | None = None
) -> ProfileView:
    """The view of a stored profile row."""
    return ProfileView(
        id=row.id,
        email=row.email,
        phone_number=row.phone_number,
        external_id=row.external_id,
        first_name=row.first_name,
        last_name=row.last_name,
        organization=row.organization,
        locale=row.locale,
        title=row.title,
        image=row.image,
        location={name: getattr(row, name) for name in LOCATION},
        properties=msgspec.json.decode(row.properties or "{}"),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_event_at=row.last_event_at,
        state=state,
        joined_at=joined_at,
    )
