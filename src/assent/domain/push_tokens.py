"""Push tokens as Klaviyo describes them: a device's token with its platform, vendor and the
permission the person gave on that device. Push marketing consent follows these permissions."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"


class Vendor(StrEnum):
    """Written lower-case; Klaviyo's responses name them as below (`VENDOR_NAMES`)."""

    APNS = "apns"
    FCM = "fcm"


VENDOR_NAMES = {Vendor.APNS: "APNs", Vendor.FCM: "FCM"}


class EnablementStatus(StrEnum):
    AUTHORIZED = "AUTHORIZED"
    DENIED = "DENIED"
    NOT_DETERMINED = "NOT_DETERMINED"
    PROVISIONAL = "PROVISIONAL"
    UNAUTHORIZED = "UNAUTHORIZED"


class Background(StrEnum):
    AVAILABLE = "AVAILABLE"
    DENIED = "DENIED"
    RESTRICTED = "RESTRICTED"


# The statuses that make a device count for push marketing: Klaviyo's "at least one authorized
# push token". PROVISIONAL is left out on purpose: iOS grants it without asking the person, and a
# marketing push needs an explicit opt-in (App Store Review Guideline 4.5.4).
ACTIVE = frozenset({EnablementStatus.AUTHORIZED})

# The method recorded on the push consent changes the tokens cause.
PUSH_TOKEN_METHOD = "PUSH_TOKEN"
