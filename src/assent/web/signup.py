"""Public signup, `POST /client/subscriptions?company_id=PUBLIC_ID`: Klaviyo's client API body
(JSON:API, answered 202 with no body) or a plain HTML form post (answered with a small page).

It takes no secret, so it answers CORS preflights for any origin, traps bots with a honeypot
field, and limits each client IP to a few posts a minute."""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

import anyio.to_thread
import msgspec
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..config import settings
from ..domain import Channel, DomainError, Purpose
from ..services.accounts.settings import Look
from ..services.shared.ratelimits import Windows
from ..services.workflows import signup as service
from ..wire import bodies
from ..wire.documents import error_response
from ..wire.errors import ApiError
from ..wire.linkage import ListIdentifier
from ..wire.ratelimit import RateLimiter, Throttled, take
from .pages import branded, proof_from, read_form, render

log = logging.getLogger("assent.web.signup")

PATH = "/client/subscriptions"
HONEYPOT = "website"  # hidden from people by the form's CSS; bots fill in every field
MAX_BODY = 64 * 1024
MAX_TEXT = 500  # custom_source and the referring page, as stored in the ledger
WINDOW_SECONDS = 60
JSON_TYPES = ("application/json", "application/vnd.api+json")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After, X-Klaviyo-Partial-Failure",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, revision",
    "Access-Control-Max-Age": "86400",
}
# Where a field of the service's errors sits in Klaviyo's body.
_POINTERS = {
    "email": "/data/attributes/profile/data/attributes/email",
    "phone_number": "/data/attributes/profile/data/attributes/phone_number",
    "list": "/data/relationships/list/data/id",
    "subscriptions.push": "/data/attributes/profile/data/attributes/subscriptions/push",
    "consent_text_version": "/data/attributes/consent_text_version",
}

_LABELS = {"email": "Email address:", "phone_number": "Phone number:"}
# Errors in how the site set the form up: logged for its owner, not explained to the person.
_OWNER_FIELDS = ("list", "company_id", "subscriptions.push", "consent_text_version")


class _Message(TypedDict):
    title: str
    message: str


_NOT_WORKING: _Message = {
    "title": "This form is not working",
    "message": "Your signup could not be saved because of a problem with this form, not with what you "
    "entered. Please try again later.",
}


# --- Klaviyo's body --------------------------------------------------------------------------


class _Consent(msgspec.Struct):
    consent: Literal["SUBSCRIBED"]
    consented_at: str | None = None


class _Email(msgspec.Struct):
    marketing: _Consent | None = None


class _Phone(msgspec.Struct):
    marketing: _Consent | None = None
    transactional: _Consent | None = None


class _Subscriptions(msgspec.Struct):
    email: _Email | None = None
    sms: _Phone | None = None
    whatsapp: _Phone | None = None
    push: dict[str, Any] | None = None


class _ProfileAttributes(msgspec.Struct):
    email: str | None = None
    phone_number: str | None = None
    subscriptions: _Subscriptions | None = None


class _ProfileData(msgspec.Struct):
    type: Literal["profile"]
    attributes: _ProfileAttributes
    id: str | None = None


class _Profile(msgspec.Struct):
    data: _ProfileData


class _Attributes(msgspec.Struct):
    profile: _Profile
    custom_source: str | None = None
    consent_text_version: str | None = None  # Assent's own: the wording the form showed


class _ListRelationship(msgspec.Struct):
    data: ListIdentifier | None = None


class _Relationships(msgspec.Struct):
    list: _ListRelationship | None = None


class _Data(msgspec.Struct):
    type: Literal["subscription"]
    attributes: _Attributes
    relationships: _Relationships | None = None


class _Body(msgspec.Struct):
    data: _Data


def _targets(subs: _Subscriptions | None) -> tuple[tuple[Channel, Purpose], ...] | None:
    """The channels a subscriptions object names; None without one (Klaviyo's default applies)."""
    if subs is None:
        return None
    named: list[tuple[tuple[Channel, Purpose], _Consent | None, str]] = [
        ((Channel.EMAIL, Purpose.MARKETING), subs.email.marketing if subs.email else None, "email/marketing"),
        ((Channel.SMS, Purpose.MARKETING), subs.sms.marketing if subs.sms else None, "sms/marketing"),
        ((Channel.SMS, Purpose.TRANSACTIONAL), subs.sms.transactional if subs.sms else None, "sms/transactional"),
        (
            (Channel.WHATSAPP, Purpose.MARKETING),
            subs.whatsapp.marketing if subs.whatsapp else None,
            "whatsapp/marketing",
        ),
        (
            (Channel.WHATSAPP, Purpose.TRANSACTIONAL),
            subs.whatsapp.transactional if subs.whatsapp else None,
            "whatsapp/transactional",
        ),
    ]
    out = []
    for target, given, where in named:
        if given is None:
            continue
        if given.consented_at is not None:
            raise ApiError(
                400, "invalid", "consented_at is accepted only with historical_import, which a form can't claim.",
                pointer=f"/data/attributes/profile/data/attributes/subscriptions/{where}/consented_at",
            )  # fmt: skip
        out.append(target)
    if subs.push is not None:
        out.append((Channel.PUSH, Purpose.MARKETING))  # refused by the service, with its reason
    return tuple(out)


def _short(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:MAX_TEXT] or None


def _version(value: object) -> str | None:
    """The consent text version as given, whole: the service refuses one too long to be stored,
    where cutting it would record a version the form never named."""
    return (value.strip() or None) if isinstance(value, str) else None


def _from_json(request: Request, body: _Body) -> service.SignupRequest:
    attributes = body.data.attributes
    profile = attributes.profile.data.attributes
    rel = body.data.relationships
    list_ref = rel.list.data if rel and rel.list else None
    custom_source = _short(attributes.custom_source)
    return service.SignupRequest(
        email=profile.email,
        phone_number=profile.phone_number,
        list_id=list_ref.id if list_ref else None,
        targets=_targets(profile.subscriptions),
        custom_source=custom_source,
        method_detail=custom_source or _short(request.headers.get("referer")),
        proof=proof_from(
            request, "client subscriptions API", consent_text_version=_version(attributes.consent_text_version)
        ),
    )


def _from_form(request: Request, form: FormData) -> service.SignupRequest:
    def text(name: str) -> str | None:
        value = form.get(name)
        return _short(value) if isinstance(value, str) else None

    custom_source = text("custom_source")
    return service.SignupRequest(
        email=text("email"),
        phone_number=text("phone_number"),
        list_id=text("list_id"),
        custom_source=custom_source,
        method_detail=custom_source or _short(request.headers.get("referer")),
        proof=proof_from(request, "signup form", consent_text_version=_version(form.get("consent_text_version"))),
    )


def _json_error(e: DomainError) -> ApiError:
    detail = f"{e.field}: {e.message}" + ("" if e.value is None else f" (got {e.value!r})")
    if e.field == "company_id":
        return ApiError(400, "invalid", detail, parameter="company_id")
    return ApiError(400, "invalid", detail, pointer=_POINTERS.get(e.field, "/data/attributes"))


def _safe_link(url: str | None) -> str | None:
    """A link back to the site: only http(s) URLs, so a crafted form can't inject a script link."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises on a port that is not one
    except ValueError:  # not a URL: an unclosed IPv6 bracket ("http://[::1"), a bad port
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def routes(engine: Engine, windows: Windows) -> list[BaseRoute]:
    # Posts a client IP may make per minute (ASSENT_SIGNUP_RATE_LIMIT, default 10; 0 = no limit).
    per_minute = settings().signup_rate_limit
    # Counted where every server process sees it (`windows`: the database, or Redis), per client address.
    limiter = RateLimiter(scale=1, windows=windows)

    def form_page(
        request: Request,
        template: str,
        status: int,
        branding: service.Branding,
        form: FormData | None = None,
        **extra: Any,
    ) -> Response:
        # The form shown again carries the brand's own wording and its version, never the posted
        # version (the person consents to what this page shows).
        values = {
            k: v for k, v in (form or {}).items() if isinstance(v, str) and k not in (HONEYPOT, "consent_text_version")
        }
        context = {
            **branded(branding.look),
            "consent_text": branding.consent_text,
            "consent_text_version": branding.consent_text_version,
            "action": f"{PATH}?{request.url.query}",
            "values": values,
            **extra,
        }
        return _cors(render(request, template, context, status))

    async def subscribe(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=PREFLIGHT)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_form = ctype in FORM_TYPES
        public_id = request.query_params.get("company_id", "")
        client = request.client.host if request.client else "unknown"
        retry = None
        if per_minute > 0:
            try:
                await take(limiter, "", f"signup:{client}", ((WINDOW_SECONDS, per_minute),))
            except Throttled as e:
                retry = e.retry
        if retry is not None:
            headers = {**CORS, "Retry-After": str(retry)}
            if is_form:
                response = render(
                    request, "message.html",
                    {"title": "Too many attempts", "message": f"Please try again in {retry} seconds."}, 429,
                )  # fmt: skip
                response.headers.update(headers)
                return response
            detail = f"Too many signups from this address; retry in {retry} seconds."
            return _cors(error_response([ApiError(429, "throttled", detail, headers=headers)]))
        if not is_form and ctype and ctype not in JSON_TYPES:
            detail = f"Send application/json, application/vnd.api+json or a form, not {ctype}."
            return _cors(error_response([ApiError(415, "unsupported_media_type", detail)]))
        if is_form:
            form, _ = await read_form(request, MAX_BODY, max_fields=50, repeatable=())
            return await _form_post(request, public_id, form)
        return await _json_post(request, public_id)

    async def _json_post(request: Request, public_id: str) -> Response:
        try:
            req = _from_json(request, await bodies.read_document(request, MAX_BODY, _Body))
            result = await anyio.to_thread.run_sync(service.signup, engine, public_id, req)
        except ApiError as e:
            return _cors(error_response([e]))
        except DomainError as e:
            return _cors(error_response([_json_error(e)]))
        headers = dict(CORS)
        if result.dropped:
            headers["X-Klaviyo-Partial-Failure"] = ",".join(result.dropped)
        return Response(status_code=202, headers=headers)

    async def _form_post(request: Request, public_id: str, form: FormData) -> Response:
        branding = await anyio.to_thread.run_sync(service.branding, engine, public_id)
        if branding is None:
            log.warning("signup form posted with company_id %r, which is no account's public id", public_id)
            return form_page(request, "message.html", 400, service.Branding(Look("")), **_NOT_WORKING)
        redirect = form.get("redirect")
        back = _safe_link(redirect if isinstance(redirect, str) else None) or _safe_link(request.headers.get("referer"))
        trap = form.get(HONEYPOT)
        if isinstance(trap, str) and trap.strip():
            # Answer exactly as a success does, so a bot learns nothing; write nothing.
            log.info("signup honeypot filled; nothing written")
            return form_page(request, "signup_thanks.html", 200, branding, back=back)
        try:
            await anyio.to_thread.run_sync(service.signup, engine, public_id, _from_form(request, form))
        except DomainError as e:
            if e.field in _OWNER_FIELDS:  # the site's form is wrong, not what the person typed
                log.warning("signup form of company_id %r: %s", public_id, e)
                return form_page(request, "message.html", 400, branding, **_NOT_WORKING)
            # The message may end with its own full stop (email-validator's do): one is enough.
            error = f"{_LABELS.get(e.field, e.field.replace('_', ' ').capitalize())} {e.message.rstrip('.')}."
            return form_page(request, "signup.html", 400, branding, form, error=error, error_field=e.field)
        return form_page(request, "signup_thanks.html", 200, branding, back=back)

    return [Route(path, subscribe, methods=["POST", "OPTIONS"]) for path in (PATH, PATH + "/")]


def _cors(response: Response) -> Response:
    response.headers.update(CORS)
    return response
