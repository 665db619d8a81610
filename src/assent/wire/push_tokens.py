"""Klaviyo's push token bodies (PushTokenCreateQuery, PushTokenUnregisterQuery), shared by the
private API (api/push_tokens.py) and the public client API (web/push_tokens.py), and how they
become the service's values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from ..domain import DomainError
from ..domain.push_tokens import Background, EnablementStatus, Platform, Vendor
from ..services.push import tokens as service
from ..services.push.tokens import Device, Owner
from .errors import ApiError, from_domain, invalid

Text = Annotated[str, Meta(max_length=service.MAX_METADATA)]
Identifier = Annotated[str, Meta(max_length=320)]

# --- request bodies (Klaviyo's PushTokenCreateQuery and PushTokenUnregisterQuery) ---------------


class DeviceMetadata(Struct):
    device_id: Text | None | UnsetType = UNSET
    klaviyo_sdk: Literal["android", "flutter", "flutter_community", "react_native", "swift"] | None | UnsetType = UNSET
    sdk_version: Text | None | UnsetType = UNSET
    device_model: Text | None | UnsetType = UNSET
    os_name: Literal["android", "ios", "ipados", "macos", "tvos"] | None | UnsetType = UNSET
    os_version: Text | None | UnsetType = UNSET
    manufacturer: Text | None | UnsetType = UNSET
    app_name: Text | None | UnsetType = UNSET
    app_version: Text | None | UnsetType = UNSET
    app_build: Text | None | UnsetType = UNSET
    app_id: Text | None | UnsetType = UNSET
    environment: Literal["debug", "release"] | None | UnsetType = UNSET


class PushProfileAttributes(Struct):
    """The profile's identifiers; Klaviyo's other profile attributes are accepted and not applied
    (a profile is edited with POST /api/profile-import)."""

    email: Identifier | None | UnsetType = UNSET
    phone_number: Identifier | None | UnsetType = UNSET
    external_id: Identifier | None | UnsetType = UNSET


class PushProfileData(Struct):
    type: Literal["profile"]
    attributes: PushProfileAttributes
    id: Annotated[str, Meta(max_length=64)] | None | UnsetType = UNSET


class PushProfile(Struct):
    data: PushProfileData


Token = Annotated[str, Meta(max_length=service.MAX_TOKEN)]
EnablementName = Literal["AUTHORIZED", "DENIED", "NOT_DETERMINED", "PROVISIONAL", "UNAUTHORIZED"]


class PushTokenCreateAttributes(Struct):
    token: Token
    platform: Literal["android", "ios"]
    vendor: Literal["apns", "fcm"]
    profile: PushProfile
    enablement_status: EnablementName | None | UnsetType = UNSET
    background: Literal["AVAILABLE", "DENIED", "RESTRICTED"] | None | UnsetType = UNSET
    device_metadata: DeviceMetadata | None | UnsetType = UNSET


class PushTokenCreateData(Struct):
    type: Literal["push-token"]
    attributes: PushTokenCreateAttributes


class PushTokenCreateQuery(Struct):
    data: PushTokenCreateData


class PushTokenUnregisterAttributes(Struct):
    token: Token
    platform: Literal["android", "ios"]
    profile: PushProfile
    vendor: Literal["apns", "fcm"] | None | UnsetType = UNSET


class PushTokenUnregisterData(Struct):
    type: Literal["push-token-unregister"]
    attributes: PushTokenUnregisterAttributes


class PushTokenUnregisterQuery(Struct):
    data: PushTokenUnregisterData


# --- from bodies to service values ----------------------------------------------------------------

PROFILE_POINTER = "/data/attributes/profile/data"


def _given(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def owner_of(profile: PushProfile) -> Owner:
    data, attrs = profile.data, profile.data.attributes
    owner = Owner(_given(data.id), _given(attrs.email), _given(attrs.phone_number), _given(attrs.external_id))
    if not any((owner.id, owner.email, owner.phone_number, owner.external_id)):
        raise invalid("name the profile by its id, email, phone_number or external_id", pointer=PROFILE_POINTER)
    return owner


def device_of(attrs: PushTokenCreateAttributes) -> Device:
    meta = attrs.device_metadata
    metadata = (
        {k: v for k in DeviceMetadata.__struct_fields__ if isinstance(v := getattr(meta, k), str)}
        if isinstance(meta, DeviceMetadata)
        else None
    )
    status = attrs.enablement_status if isinstance(attrs.enablement_status, str) else "AUTHORIZED"
    background = attrs.background if isinstance(attrs.background, str) else "AVAILABLE"
    return Device(attrs.token, Platform(attrs.platform), Vendor(attrs.vendor), EnablementStatus(status),
                  Background(background), metadata or None)  # fmt: skip


def answer(e: DomainError) -> ApiError:
    """A service error, pointed at the field of Klaviyo's body it is about."""
    if e.field == "token":
        return from_domain(e, "/data/attributes")
    if e.field in ("id", "email", "phone_number", "external_id"):
        where = PROFILE_POINTER if e.field == "id" else f"{PROFILE_POINTER}/attributes"
        return from_domain(e, where)
    error = from_domain(e, "")
    error.pointer = PROFILE_POINTER
    return error
