"""Errors raised by the pure domain: each names the field and the offending value."""

from __future__ import annotations


class DomainError(ValueError):
    """Input that the consent rules refuse.

    `code` is stable and machine-readable; `field` names the input field at fault.
    """

    code = "invalid"

    def __init__(self, field: str, message: str, value: object = None) -> None:
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field}: {message}" + ("" if value is None else f" (got {value!r})"))


def excerpt(text: str, most: int = 80) -> str:
    """The start of `text` for a message that quotes input: at most `most` characters, then an ellipsis."""
    return text if len(text) <= most else text[:most] + "…"


class InvalidIdentifier(DomainError):
    code = "invalid_identifier"


class MissingAddress(DomainError):
    code = "missing_address"


class NothingPending(DomainError):
    code = "nothing_pending"
