"""Where a page of a listing sits, as the layers above services see it: the sort keys of its first
and last rows (what cursors are made from) and whether there is more either side. The store's
keyset pages (store.paging.Page) have these fields; `position` copies them out, leaving the rows
behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class PagePosition(Protocol):
    @property
    def first(self) -> tuple | None: ...  # the sort key of the first row, for a `prev` cursor
    @property
    def last(self) -> tuple | None: ...  # and of the last, for a `next` cursor
    @property
    def has_next(self) -> bool: ...
    @property
    def has_prev(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Position:
    """A page position worked out by hand (a listing not paged by the store's keyset query)."""

    first: tuple | None
    last: tuple | None
    has_next: bool
    has_prev: bool


def position(page: PagePosition) -> Position:
    """Where a page sits, without its rows (which stay in the services)."""
    return Position(page.first, page.last, page.has_next, page.has_prev)
