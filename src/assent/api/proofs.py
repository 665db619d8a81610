"""Assent's consent proof: `GET /api/profiles/{id}/consent-proof?channel=…[&purpose=…]` answers the
bundle that proves the profile's current consent on that channel offline (docs/proof.md)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..domain import DomainError
from ..services.consent import proofs as service
from ..services.shared.errors import NotFound
from ..wire.documents import json_response
from ..wire.errors import ApiError, invalid, not_found
from .operation import Call, Operation, Param


def get_profile_consent_proof(call: Call) -> Response:
    channel = call.query("channel") or ""
    profile_id = call.path["id"]
    try:
        bundle: dict[str, Any] = service.consent_proof(
            call.engine, call.account_id, profile_id, channel, call.query("purpose")
        )
    except NotFound as e:
        if e.field == "profile":
            raise not_found("profile", profile_id) from None
        raise ApiError(404, "not_found", e.message, parameter=e.field) from None
    except service.NoCheckpoint as e:
        raise ApiError(409, e.code, e.message) from None
    except DomainError as e:
        if e.field in ("channel", "purpose"):
            raise invalid(str(e), parameter=e.field) from None
        raise
    seq = bundle["events"][-1]["seq"]
    return json_response(
        {
            "data": {
                "type": "consent-proof",
                "id": f"{profile_id}.{bundle['channel']}.{bundle['purpose']}.{seq}",
                "attributes": bundle,
            },
            "links": {"self": call.self_link()},
        }
    )


OPERATIONS = [
    Operation(
        "GET", "/api/profiles/{id}/consent-proof", "get_profile_consent_proof", get_profile_consent_proof,
        ("profiles:read",), 3, 60,
        "The proof of a profile's current consent on a channel: its events, the consent text, and the hash chain "
        "to a signed checkpoint, to verify offline",
        params=(Param("channel", "email, sms, push, whatsapp or postal (required)"),
                Param("purpose", "marketing (default), transactional or conversational")),
        tag="Assent",
    ),
]  # fmt: skip
