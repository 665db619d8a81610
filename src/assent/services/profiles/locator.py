"""The profile locator: how a command names its profile (by id or by one identifier), and finding it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row

from ...domain import DomainError
from ...domain.identity import normalize_email, normalize_phone
from ...store import profiles as profile_store
from ..accounts.accounts import Account
from ..shared.errors import NotFound

LOCATORS = ("id", "email", "phone_number", "external_id")


@dataclass(frozen=True, slots=True)
class Locator:
    """How a command names its profile: by id or by one identifier."""

    field: str
    value: str


def normalize_locator(account: Account, locator: Locator) -> Locator:
    if locator.field not in LOCATORS:
        raise DomainError("profile", f"identify the profile by one of {', '.join(LOCATORS)}", locator.field)
    if locator.field == "email":
        return Locator("email", normalize_email(locator.value))
    if locator.field == "phone_number":
        return Locator("phone_number", normalize_phone(locator.value, account.default_region))
    value = (locator.value or "").strip()
    if not value:
        raise DomainError(locator.field, "is empty")
    return Locator(locator.field, value)


def find_profile(conn: Connection, account: Account, locator: Locator) -> Row:
    locator = normalize_locator(account, locator)
    row = profile_store.find(conn, account.id, locator.field, locator.value)
    if row is None:
        raise NotFound(locator.field, "no profile in this account has this value", locator.value)
    return row
