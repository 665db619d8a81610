"""The API's ASGI routes: the operation tables, and what every request goes through —
authentication, the revision header, scopes, rate limits, body decoding and error documents."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import public_url, settings
from ..domain import DomainError
from ..services.accounts import accounts
from ..services.accounts.accounts import ApiKey
from ..services.shared import database
from ..wire import bodies
from ..wire.documents import MEDIA_TYPE, error_response, json_response
from ..wire.errors import ApiError, from_domain, invalid
from ..wire.ratelimit import NeedsClaim, RateLimiter
from . import catalog
from .operation import Call, Lean, Operation, plain_self_path, query_values_of

log = logging.getLogger("assent.api")

MAX_BODY = 5 * 1024 * 1024  # Klaviyo's payload limit for bulk jobs
_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_BODY_TYPES = ("application/vnd.api+json", "application/json")
KEY_CACHE_SECONDS = 5.0
# Routes take every method, so that a wrong one gets a JSON:API 405 rather than a plain-text one.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class KeyCache:
    """Digests cost an HMAC and a query; a key is remembered for a few seconds (a revoked key
    stops working within KEY_CACHE_SECONDS)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: dict[str, tuple[float, ApiKey | None]] = {}

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """(known, key) without touching the database: cheap enough for the event loop."""
        hit = self.known.get(secret)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def lookup(self, secret: str) -> ApiKey | None:
        now = time.monotonic()
        key = accounts.authenticate(self.engine, secret)
        if len(self.known) > 10_000:
            self.known.clear()
        self.known[secret] = (now + KEY_CACHE_SECONDS, key)
        return key


# scheme, Host header and server address -> the link base Starlette's request.url gives for them
# (it depends on nothing else); a handful of entries in practice, cleared if a client varies them.
_bases: dict[tuple[object, bytes | None, object], str] = {}


def base_url(request: Request) -> str:
    """Links' scheme, host and port: ASSENT_PUBLIC_URL, else the request's own, as request.url
    makes it; worked out once per scheme, Host header and server address (parsing a whole URL per
    request costs more than the rest of a small request's routing)."""
    return scope_base_url(request.scope)


def scope_base_url(scope: Scope) -> str:
    """base_url of the request with this ASGI scope."""
    configured = public_url()
    if configured:
        return configured
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    key = (scope.get("scheme", "http"), host, scope.get("server"))
    base = _bases.get(key)
    if base is None:
        headers = [] if host is None else [(b"host", host)]
        url = URL(scope={"scheme": key[0], "server": key[2], "path": "/", "headers": headers})
        base = f"{url.scheme}://{url.netloc}"
        if len(_bases) >= 1024:
            _bases.clear()
        _bases[key] = base
    return base


class Api:
    def __init__(self, engine: Engine, limiter: RateLimiter, operations: list[Operation]) -> None:
        self.engine = engine
        self.limiter = limiter
        self.keys = KeyCache(engine)
        # Few handler threads: more only fight over the GIL (and the database's connections).
        self.threads = anyio.CapacityLimiter(settings().handler_threads)
        # The hop to a handler thread costs more than a single-row SQLite read.
        self.inline_reads = database.reads_in_microseconds(engine)
        self.operations = operations
        # Per lean operation: query string -> its plan (None: the general path answers it).
        self.plans: dict[str, dict[bytes, Any]] = {op.operation_id: {} for op in operations if op.lean is not None}

    async def authenticate(self, request: Request) -> ApiKey:
        given = request.headers.getlist("authorization")
        if len(given) > 1:  # which would count, the first or the last, is each reader's guess: neither
            raise ApiError(401, "not_authenticated", f"Send the Authorization header once, not {len(given)} times.")
        header = given[0] if given else ""
        scheme, _, secret = header.partition(" ")
        if not header:
            raise ApiError(401, "not_authenticated", "Missing the Authorization header: Klaviyo-API-Key <private key>.")
        if scheme != "Klaviyo-API-Key" or not secret.strip():
            raise ApiError(
                401, "not_authenticated", "The Authorization header must be `Klaviyo-API-Key <private key>`."
            )
        known, key = self.keys.cached(secret.strip())
        if not known:
            key = await anyio.to_thread.run_sync(self.keys.lookup, secret.strip(), limiter=self.threads)
        if key is None:
            raise ApiError(
                401, "authentication_failed", "The private API key is not valid.",
                title="Incorrect authentication credentials.",
            )  # fmt: skip
        return key

    async def serve(self, op: Operation, request: Request) -> Response:
        try:
            key = await self.authenticate(request)
            revision = request.headers.get("revision")
            if not revision:
                raise invalid("The revision header is required, e.g. `revision: 2026-10-15`.", parameter="revision")
            if not _REVISION.match(revision):
                raise invalid(f"revision must look like YYYY-MM-DD, not {revision!r}", parameter="revision")
            missing = [s for s in op.scopes if not key.allows(s)]
            if missing:
                raise ApiError(
                    403, "permission_denied", f"This API key lacks the scope{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} that {op.method} {op.path} needs.",
                )  # fmt: skip
            try:
                allowance = self.limiter.hit(key.id, op.operation_id, op.burst, op.steady, scope=key.account_id,
                                             block=False)  # fmt: skip
            except NeedsClaim:  # the shared store is asked off the event loop
                allowance = await anyio.to_thread.run_sync(
                    partial(self.limiter.hit, key.id, op.operation_id, op.burst, op.steady, scope=key.account_id),
                    limiter=self.threads,
                )
            body = await self.read_body(op, request) if op.body is not None else None
            call = Call(request, self.engine, key, dict(request.path_params), body, base_url(request))
            if self.inline_reads and op.inline is not None and op.inline(request):
                response = self.run(op, call)
            else:
                response = await anyio.to_thread.run_sync(self.run, op, call, limiter=self.threads)
            if allowance is not None:
                response.headers.update(allowance.headers())
            return response
        except ApiError as e:
            return error_response([e])

    def run(self, op: Operation, call: Call) -> Response:
        try:
            return op.handler(call)
        except (ApiError, DomainError, OperationalError) as e:
            return failed(e)

    async def lean(self, op: Operation, lean: Lean, scope: Scope, path: dict[str, str], send: Send) -> bool:
        """Answer a plain GET as serve() would, without Starlette's Request and Response: True when
        answered. Anything serve() would answer otherwise (no key, or one this process has not
        looked up lately, a bad revision, a missing scope, a rate limit to ask the shared store
        about or to refuse, a query the operation's plan leaves to the general path, an unplain
        path or query) is left to it (False), before anything is counted."""
        authorization = revision = None
        for name, value in scope["headers"]:  # the first of each, as request.headers.get gives it
            if name == b"authorization":
                if authorization is not None:
                    return False  # given twice: serve() refuses it
                authorization = value
            elif name == b"revision" and revision is None:
                revision = value
        if authorization is None or not revision or not _REVISION.match(revision.decode("latin-1")):
            return False
        scheme, _, secret = authorization.decode("latin-1").partition(" ")
        secret = secret.strip()
        if scheme != "Klaviyo-API-Key" or not secret:
            return False
        _, key = self.keys.cached(secret)
        if key is None or not all(key.allows(s) for s in op.scopes):
            return False
        raw_query: bytes = scope["query_string"]
        plans = self.plans[op.operation_id]
        plan = plans.get(raw_query, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = lean.plan(query_values_of(raw_query))
            if len(plans) >= 1024:
                plans.clear()
            plans[raw_query] = plan
        if plan is None:
            return False
        tail = plain_self_path(scope["path"], raw_query)
        if tail is None:
            return False
        try:
            allowance = self.limiter.hit(key.id, op.operation_id, op.burst, op.steady, scope=key.account_id,
                                         block=False)  # fmt: skip
        except (NeedsClaim, ApiError):  # neither counted the request: serve() asks again
            return False
        base = scope_base_url(scope)
        response: Response | None = None
        try:
            if self.inline_reads:
                body = lean.answer(self.engine, key, path, plan, base, base + tail)
            else:
                answer = partial(lean.answer, self.engine, key, path, plan, base, base + tail)
                body = await anyio.to_thread.run_sync(answer, limiter=self.threads)
        except (ApiError, DomainError, OperationalError) as e:
            response = failed(e)
        except DataError as e:
            response = await _unstorable(Request(scope), e)
        if response is not None:
            if allowance is not None:
                response.headers.update(allowance.headers())
            await response(scope, _no_body, send)
            return True
        headers = [(b"content-length", str(len(body)).encode()), _CONTENT_TYPE]
        if allowance is not None:
            headers += [(k.lower().encode(), v.encode()) for k, v in allowance.headers().items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    async def read_body(self, op: Operation, request: Request) -> object:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype not in _BODY_TYPES:
            raise ApiError(415, "unsupported_media_type", f"Send the body as application/vnd.api+json, not {ctype}.")
        try:
            return await bodies.read_document(request, MAX_BODY, op.body)
        except ApiError as e:
            if op.explain is None:
                raise
            raise op.explain(e) from None


def failed(e: Exception) -> Response:
    """The error document of what a handler raised; re-raises what has none."""
    if isinstance(e, ApiError):
        return error_response([e])
    if isinstance(e, DomainError):
        return error_response([from_domain(e)])
    if isinstance(e, OperationalError) and "locked" in str(e):  # SQLite's writer lock held past the busy timeout
        return error_response([ApiError(503, "busy", "The database is busy; retry.", headers={"Retry-After": "1"})])
    raise e


_UNPLANNED = object()
_CONTENT_TYPE = (b"content-type", MEDIA_TYPE.encode())


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class LeanReads:
    """ASGI middleware in front of the router: the plain, successful requests of the operations
    that have a lean way (Operation.lean: a client's poll of one profile and a sync job's walk over
    every profile are the busiest) answered from the scope, skipping the router's walk over every
    route, Starlette's Request, Response and exception layers; every other request, and every
    request it declines, goes on to the app.
    It sits inside the app's server-error layer, so an unexpected error still gets the JSON:API
    500. Its paths take ids of letters and digits only (any other id takes the router)."""

    def __init__(self, app: ASGIApp, api: Api) -> None:
        self.app = app
        self.api = api
        self.paths = [(_lean_path(op.path), op, op.lean) for op in api.operations if op.lean and op.method == "GET"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            for pattern, op, lean in self.paths:
                found = pattern.fullmatch(path)
                if found is not None:
                    if await self.api.lean(op, lean, scope, found.groupdict(), send):
                        return
                    break
        await self.app(scope, receive, send)


def _lean_path(path: str) -> re.Pattern[str]:
    """`path` with or without a trailing slash, each {parameter} letters and digits."""
    pattern = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9A-Za-z]{1,64})", pattern) + "/?")


def _endpoint(api: Api, by_method: dict[str, Operation]) -> Callable:
    allowed = ", ".join(sorted(by_method))

    async def endpoint(request: Request) -> Response:
        op = by_method.get(request.method)
        if op is None:
            detail = f"Method {request.method} is not allowed here; use {allowed}."
            return error_response([ApiError(405, "method_not_allowed", detail, headers={"Allow": allowed})])
        return await api.serve(op, request)

    return endpoint


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response([ApiError(404, "not_found", f"No such endpoint: {request.url.path}")])


async def _unstorable(request: Request, exc: Exception) -> Response:
    # The last line of defence: a value the database refused (out of its range, or a character it
    # cannot hold) that no decoder caught. Its transaction was rolled back, so nothing was written.
    error = ApiError(400, "invalid", "A value in the request cannot be stored.")
    log.warning(
        "%s %s: the database refused a value (error id %s): %s",
        request.method,
        request.url.path,
        error.id,
        str(getattr(exc, "orig", exc)).splitlines()[0],
    )
    return error_response([error])


async def _server_error(request: Request, exc: Exception) -> Response:
    # The server logs the traceback (Starlette re-raises to it after this answer).
    return error_response([ApiError(500, "error", "The server met an unexpected error.")])


def make_api(engine: Engine, limiter: RateLimiter) -> Api:
    """The Api that answers every catalog operation: its routes, and its LeanReads in front."""
    return Api(engine, limiter, catalog.operations())


def routes(api: Api) -> list[BaseRoute]:
    """The API's routes (every catalog operation, with and without a trailing slash, and the
    OpenAPI document), answered through one Api: authentication, limits, bodies, errors."""
    operations = api.operations
    grouped: dict[str, dict[str, Operation]] = defaultdict(dict)
    for op in operations:
        grouped[op.path][op.method] = op
    out: list[BaseRoute] = []
    for path, by_method in grouped.items():
        endpoint = _endpoint(api, by_method)
        out += [Route(path, endpoint, methods=ALL_METHODS), Route(path + "/", endpoint, methods=ALL_METHODS)]
    openapi = catalog.openapi_document(operations)

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi, headers={"content-type": "application/json"})

    out.append(Route("/api/openapi.json", openapi_json, methods=["GET"]))
    return out


# What the composing app registers: JSON:API answers for unknown paths and wrong methods, and the
# last lines of defence (a value the database refused, an unexpected error).
NOT_FOUND_HANDLERS = {404: _not_found, 405: _not_found, DataError: _unstorable}
SERVER_ERROR_HANDLER = _server_error
