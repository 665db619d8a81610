"""Errors of the use cases, beside the domain's own (DomainError names the field at fault)."""

from __future__ import annotations

from ..domain import DomainError


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"
