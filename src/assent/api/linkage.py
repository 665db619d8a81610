"""Resource linkage in request bodies (`relationships.list.data = {type, id}`), shared by the jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

# An empty id would name no list, yet be recorded as one.
ResourceId = Annotated[str, Meta(min_length=1)]


class ListIdentifier(Struct):
    type: Literal["list"]
    id: ResourceId


class SegmentIdentifier(Struct):
    type: Literal["segment"]
    id: ResourceId


class ListRelationship(Struct):
    data: ListIdentifier


class SegmentRelationship(Struct):
    data: SegmentIdentifier


class ListsRelationship(Struct):
    data: list[ListIdentifier]
