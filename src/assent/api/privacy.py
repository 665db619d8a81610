"""Data privacy: Klaviyo's deletion job (`POST /api/data-privacy-deletion-jobs`), and Assent's
access export (`GET /api/profiles/{id}/data-export`, an extension).

A deletion is carried out before the 202 answers (Klaviyo's runs later): a read right after sees
the profile gone. The person's opt-out is kept as tombstones (services/privacy/tombstones.py)."""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..services.privacy import erasure
from ..services.profiles.locator import Locator
from ..wire.documents import no_content
from ..wire.errors import from_domain, invalid
from .operation import Call, Operation

# --- request body (Klaviyo's DataPrivacyCreateDeletionJobQuery) -----------------------------------


class DeletionProfileAttributes(Struct, frozen=True):
    email: str | None | UnsetType = UNSET
    phone_number: str | None | UnsetType = UNSET


class DeletionProfile(Struct):
    type: Literal["profile"]
    attributes: DeletionProfileAttributes = DeletionProfileAttributes()
    id: str | None | UnsetType = UNSET


class DeletionProfileRelationship(Struct):
    data: DeletionProfile


class DeletionJobAttributes(Struct):
    profile: DeletionProfileRelationship


class DeletionJob(Struct):
    type: Literal["data-privacy-deletion-job"]
    attributes: DeletionJobAttributes


class DataPrivacyCreateDeletionJobQuery(Struct):
    data: DeletionJob


_PROFILE = "/data/attributes/profile/data"


def _locator(profile: DeletionProfile) -> tuple[Locator, str]:
    """The one identifier the body names, and where it sits in the body."""
    given = [
        (Locator(name, value), pointer)
        for name, value, pointer in (
            ("id", profile.id, f"{_PROFILE}/id"),
            ("email", profile.attributes.email, f"{_PROFILE}/attributes/email"),
            ("phone_number", profile.attributes.phone_number, f"{_PROFILE}/attributes/phone_number"),
        )
        if isinstance(value, str) and value.strip()
    ]
    if len(given) != 1:
        raise invalid(
            "name the profile by exactly one of id, email or phone_number"
            + ("" if given else " (none was given)"),
            pointer=_PROFILE,
        )
    return given[0]


def post_deletion_job(call: Call) -> Response:
    body: DataPrivacyCreateDeletionJobQuery = call.body
    locator, pointer = _locator(body.data.attributes.profile.data)
    try:
        erasure.erase(call.engine, call.account_id, locator, actor=f"api key {call.key.id}")
    except DomainError as e:  # NotFound among them
        error = from_domain(e)
        error.pointer = pointer
        raise error from None
    return no_content(202)


OPERATIONS = [
    Operation("POST", "/api/data-privacy-deletion-jobs", "request_profile_deletion", post_deletion_job,
              ("data-privacy:write",), 3, 60,
              "Erase a profile's personal data, keeping its opt-out as a tombstone (202; done before the answer)",
              body=DataPrivacyCreateDeletionJobQuery, status=202, tag="Data Privacy"),
]  # fmt: skip
