"""Identifiers: 26-character ULIDs, sortable by creation time, like Klaviyo's profile ids."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    return str(ULID())
