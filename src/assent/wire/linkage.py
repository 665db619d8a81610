"""Resource linkage in request bodies (`relationships.list.data = {type, id}`) and the way Assent's
own resources name a profile, shared by the modules that take them."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

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


class ProfileLocator(Struct):
    """A profile named by exactly one of its id or identifiers."""

    id: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone_number: str | UnsetType = UNSET
    external_id: str | UnsetType = UNSET
