"""Cursors: opaque to clients, a sort key and a direction to the server."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from ..wire.errors import invalid

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Cursor:
    key: tuple[Any, ...]  # the sort key of the row the page starts after or ends before
    forward: bool  # a `next` cursor (the page after `key`), else a `prev` one (the page before it)

    @property
    def after(self) -> tuple[Any, ...] | None:
        return self.key if self.forward else None

    @property
    def before(self) -> tuple[Any, ...] | None:
        return None if self.forward else self.key


def write_cursor(direction: str, key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(_encode([direction, list(key)])).decode().rstrip("=")


def read_cursor(raw: str | None) -> Cursor | None:
    if raw is None or raw == "":
        return None
    # The official SDK may send a whole `links.next` URL, or the cursor with a leading '='.
    if "page[cursor]=" in raw or "page%5Bcursor%5D=" in raw:
        try:
            query = urlsplit(raw).query
        except ValueError:  # a host the parser cannot read ("http://[x"): the query still follows "?"
            query = ""
        query = query or raw.split("?", 1)[-1]
        values = parse_qs(query).get("page[cursor]") or parse_qs(query.replace("%5B", "[").replace("%5D", "]")).get(
            "page[cursor]"
        )
        raw = values[0] if values else raw
    raw = raw.lstrip("=")
    try:
        direction, key = msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if direction not in ("n", "p") or not isinstance(key, list) or not key:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise invalid("page[cursor] is not a cursor this server gave out", parameter="page[cursor]") from None
    return Cursor(tuple(key), forward=direction == "n")
