"""Time, parsed and given in one place: timezone-aware UTC everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

from ...domain import DomainError
from ...domain.instants import in_utc


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str, field: str) -> datetime:
    """ISO 8601; a time without an offset is read as UTC, as Klaviyo does."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(field, "is not an ISO 8601 date or time", value) from None
    return in_utc(parsed, field)
