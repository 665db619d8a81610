"""Klaviyo's client push token API, called by a mobile app with the account's public id:
`POST /client/push-tokens?company_id=PUBLIC_ID` (create or update the device's token) and
`POST /client/push-token-unregister?company_id=PUBLIC_ID` (the app gives the token up, e.g. on
log-out). Both take Klaviyo's bodies and answer 202 with no body; push marketing consent follows
the tokens (services/push/tokens.py).

Like the signup API it takes no secret: it answers CORS preflights and limits each client
address to a few posts a minute (the signup's limit, ASSENT_SIGNUP_RATE_LIMIT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config import settings
from ..domain import DomainError
from ..domain.push_tokens import Platform, Vendor
from ..services.push import tokens as service
from ..services.shared.ratelimits import Windows
from ..services.workflows.signup import account_by_public_id
from ..wire import bodies
from ..wire.documents import error_response
from ..wire.errors import ApiError
from ..wire.push_tokens import PushTokenCreateQuery, PushTokenUnregisterQuery, answer, device_of, owner_of
from ..wire.ratelimit import RateLimiter, Throttled, take
from .pages import proof_from

REGISTER = "/client/push-tokens"
UNREGISTER = "/client/push-token-unregister"
MAX_BODY = 100 * 1024  # Klaviyo's payload limit for push tokens
WINDOW_SECONDS = 60
JSON_TYPES = ("application/json", "application/vnd.api+json")
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, revision",
    "Access-Control-Max-Age": "86400",
}


def _account_id(engine: Engine, request: Request) -> str:
    try:
        return account_by_public_id(engine, request.query_params.get("company_id", "")).id
    except DomainError as e:
        detail = f"company_id: {e.message}" + ("" if e.value is None else f" (got {e.value!r})")
        raise ApiError(400, "invalid", detail, parameter="company_id") from None


def _register(engine: Engine, request: Request, body: PushTokenCreateQuery) -> None:
    attrs = body.data.attributes
    owner, device = owner_of(attrs.profile), device_of(attrs)
    account_id = _account_id(engine, request)
    service.register(engine, account_id, owner, device, proof=proof_from(request, "client push tokens API"))


def _unregister(engine: Engine, request: Request, body: PushTokenUnregisterQuery) -> None:
    attrs = body.data.attributes
    owner = owner_of(attrs.profile)
    vendor = Vendor(attrs.vendor) if isinstance(attrs.vendor, str) else None
    account_id = _account_id(engine, request)
    proof = proof_from(request, "client push token unregister API")
    service.unregister(engine, account_id, owner, attrs.token, Platform(attrs.platform), vendor, proof=proof)


def routes(engine: Engine, windows: Windows) -> list[BaseRoute]:
    per_minute = settings().signup_rate_limit  # 0: no limit
    limiter = RateLimiter(scale=1, windows=windows)

    def endpoint(body_type: Any, run: Callable[[Engine, Request, Any], None]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=PREFLIGHT)
            try:
                if per_minute > 0:
                    client = request.client.host if request.client else "unknown"
                    try:
                        await take(limiter, "", f"push:{client}", ((WINDOW_SECONDS, per_minute),))
                    except Throttled as e:
                        headers = {**CORS, "Retry-After": str(e.retry)}
                        detail = f"Too many requests from this address; retry in {e.retry} seconds."
                        raise ApiError(429, "throttled", detail, headers=headers) from None
                ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype and ctype not in JSON_TYPES:
                    raise ApiError(415, "unsupported_media_type", f"Send application/json, not {ctype}.")
                body = await bodies.read_document(request, MAX_BODY, body_type)
                await anyio.to_thread.run_sync(run, engine, request, body)
            except ApiError as e:
                return _cors(error_response([e]))
            except DomainError as e:
                return _cors(error_response([answer(e)]))
            return Response(status_code=202, headers=CORS)

        return handle

    register = endpoint(PushTokenCreateQuery, _register)
    unregister = endpoint(PushTokenUnregisterQuery, _unregister)
    return [
        Route(path, handler, methods=["POST", "OPTIONS"])
        for base, handler in ((REGISTER, register), (UNREGISTER, unregister))
        for path in (base, base + "/")
    ]


def _cors(response: Response) -> Response:
    response.headers.update(CORS)
    return response
