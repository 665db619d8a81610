"""Errors of the use cases, beside the domain's own (DomainError names the field at fault)."""

from __future__ import annotations

from ...domain import DomainError


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class IdentityConflict(Conflict):
    """Identifiers that would put one person's consent on another: nothing is merged or re-keyed."""

    code = "identifier_conflict"

    @classmethod
    def two_profiles(cls, first: tuple[str, str], second: tuple[str, str]) -> IdentityConflict:
        (f1, v1), (f2, v2) = first, second
        return cls(f2, f"{f1} {v1} and {f2} {v2} belong to two different profiles; nothing was merged", v2)

    @classmethod
    def other_identifier(cls, matched: tuple[str, str], given: tuple[str, str]) -> IdentityConflict:
        (f1, v1), (f2, v2) = matched, given
        return cls(
            f2,
            f"{f1} {v1} belongs to a profile whose {f2} is not {v2}; an identifier changes only by an explicit "
            "edit of the profile (PATCH /api/profiles/{id}, or `assent profiles update`)",
            v2,
        )
