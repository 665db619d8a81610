"""JSON:API resources built from the services' typed values: the profile resource as Klaviyo shapes
it, with its `subscriptions` object (every `can_receive_*` is decide()'s answer for a flow send).
The API answers with them; the CLI prints the same resource (`assent profiles get`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ..config import settings
from ..domain import Channel, ChannelConsent, ProfileState, Purpose
from ..domain.decisions import receive_flags
from ..services.profiles.locator import Locator
from ..services.profiles.reading import get_profile
from ..services.profiles.views import ProfileView


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _consent_block(c: ChannelConsent, with_method_detail: bool = True) -> dict[str, Any]:
    block: dict[str, Any] = {
        "consent": c.status.value,
        "consent_timestamp": _iso(c.consent_timestamp),
        "last_updated": _iso(c.last_updated),
        "method": c.method,
    }
    if with_method_detail:
        block["method_detail"] = c.method_detail if c.method is None or c.method_detail is not None else ""
    return block


def subscriptions(state: ProfileState) -> dict[str, Any]:
    """Klaviyo's `subscriptions` object; every `can_receive_*` is the answer of `decide` for a flow send."""

    flags = receive_flags(state)  # decide()'s answers for a flow send, worked out together

    def can(channel: Channel, purpose: Purpose = Purpose.MARKETING) -> bool:
        return flags[(channel, purpose)]

    email = state.consent(Channel.EMAIL)
    email_marketing = {
        "can_receive_email_marketing": can(Channel.EMAIL),
        **_consent_block(email),
        "custom_method_detail": email.custom_method_detail,
        "double_optin": email.double_optin,
        "suppression": [{"reason": r.value, "timestamp": _iso(at)} for r, at in sorted(state.suppressions.items())],
        "list_suppressions": [
            {"list_id": list_id, "reason": s.reason, "timestamp": _iso(s.timestamp)}
            for list_id, s in sorted(state.list_suppressions.items())
        ],
    }
    sms_m, sms_t = state.consent(Channel.SMS), state.consent(Channel.SMS, Purpose.TRANSACTIONAL)
    push = state.consent(Channel.PUSH)

    def whatsapp(purpose: Purpose) -> dict[str, Any]:
        c = state.consent(Channel.WHATSAPP, purpose)
        return {
            "consent": c.status.value,
            "can_receive": can(Channel.WHATSAPP, purpose),
            "consent_timestamp": _iso(c.consent_timestamp),
            "last_updated": _iso(c.last_updated),
            "created_timestamp": _iso(c.consent_timestamp),
            "metadata": None,
            "valid_until": None,
            "phone_number": state.phone_number if c.status.value == "SUBSCRIBED" else None,
        }

    return {
        "email": {"marketing": email_marketing},
        "sms": {
            "marketing": {"can_receive_sms_marketing": can(Channel.SMS), **_consent_block(sms_m)},
            "transactional": {
                "can_receive_sms_transactional": can(Channel.SMS, Purpose.TRANSACTIONAL),
                **_consent_block(sms_t),
            },
        },
        "mobile_push": {
            "marketing": {
                "can_receive_push_marketing": can(Channel.PUSH),
                "consent": push.status.value,
                "consent_timestamp": _iso(push.consent_timestamp),
            }
        },
        "whatsapp": {p.value: whatsapp(p) for p in (Purpose.MARKETING, Purpose.TRANSACTIONAL, Purpose.CONVERSATIONAL)},
    }


def profile_resource(row: ProfileView, base: str | None = None) -> dict[str, Any]:
    """The JSON:API `profile` resource, as Klaviyo shapes it (subscriptions when the view has its
    state); `base` is the scheme and host links start with (the configured one by default)."""
    base = base or settings().link_base
    location = dict(row.location)
    attributes: dict[str, Any] = {
        "email": row.email,
        "phone_number": row.phone_number,
        "external_id": row.external_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "organization": row.organization,
        "locale": row.locale,
        "title": row.title,
        "image": row.image,
        "created": _iso(row.created_at),
        "updated": _iso(row.updated_at),
        "last_event_date": _iso(row.last_event_at),
        "location": location,
        "properties": row.properties,
    }
    if row.state is not None:
        attributes["subscriptions"] = subscriptions(row.state)
    return {
        "type": "profile",
        "id": row.id,
        "attributes": attributes,
        "relationships": {
            rel: {
                "links": {
                    "self": f"{base}/api/profiles/{row.id}/relationships/{rel}/",
                    "related": f"{base}/api/profiles/{row.id}/{rel}/",
                }
            }
            for rel in ("lists", "segments")
        },  # fmt: skip
        "links": {"self": f"{base}/api/profiles/{row.id}/"},
    }


def get_profile_resource(
    engine: Engine, account_id: str, locator: Locator, as_of: datetime | None = None
) -> dict[str, Any]:
    """The profile resource with its subscriptions, now or as of `as_of`."""
    return profile_resource(get_profile(engine, account_id, locator, as_of))
