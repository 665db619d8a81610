"""`POST /webhooks/sms/twilio`: Twilio's inbound-message webhook. The texted number (`To`) names
the account; its keyword is applied and answered in TwiML.

With the account's `twilio_auth_token` set, X-Twilio-Signature is required (403 without). Without
it, posts are unsigned and accepted for what cannot land consent on anyone: opt-outs and HELP. An
unsigned JOIN / START / UNSTOP / YES changes nothing and is answered 200 with a TwiML reply saying
so: a texter reached through Twilio learns the truth, a forger gets it back as the HTTP answer,
and Twilio neither retries (it does on a 5xx) nor calls the number's fallback URL (it does when it
gets no TwiML, an error status included), which could apply the message elsewhere."""

from __future__ import annotations

import logging

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..config import public_url
from ..integrations import twilio
from ..services.workflows import sms_keywords
from .pages import read_form

log = logging.getLogger("assent.sms")

PATH = "/webhooks/sms/twilio"
MAX_BODY = 64 * 1024  # a message is at most 1,600 characters, with a few dozen fields around it
# The fields read: Twilio posts each once. Given twice, the signature covers both while only one
# would be read (which number texted, which account it was texted to): refused rather than picked.
_READ = ("To", "From", "Body", "MessageSid", "OptOutType")
MAX_MESSAGE_SID = 64  # Twilio's are 34 characters ("SM" and 32 hex digits); a receipt holds 200
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def called_url(request: Request) -> str:
    """The URL Twilio called, which its signature covers: behind a proxy the request's own URL is
    not it, so the configured public base wins when there is one."""
    base = public_url()
    if not base:
        return str(request.url)
    query = request.url.query
    return base + request.url.path + (f"?{query}" if query else "")


def _twiml(message: str | None) -> Response:
    return Response(twilio.twiml(message), media_type=twilio.TWIML_CONTENT_TYPE)


def routes(engine: Engine) -> list[BaseRoute]:
    async def inbound(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in _FORM_TYPES:
            return PlainTextResponse("Send the message as application/x-www-form-urlencoded.", status_code=415)
        form, _ = await read_form(request, MAX_BODY, max_fields=200, max_files=0)
        params = [(name, value) for name, value in form.multi_items() if not isinstance(value, UploadFile)]
        repeated = next((name for name in _READ if len(form.getlist(name)) > 1), None)
        if repeated is not None:
            return PlainTextResponse(f"The field {repeated} is given more than once.", status_code=400)
        fields = dict(params)
        try:
            routing = await anyio.to_thread.run_sync(sms_keywords.route, engine, fields.get("To", ""))
        except sms_keywords.AmbiguousNumber:
            log.error("inbound SMS to %s: several accounts use this number", fields.get("To"))
            return PlainTextResponse("Several accounts use this number.", status_code=409)
        if routing is None:
            return PlainTextResponse("No account uses this number.", status_code=404)
        if routing.auth_token and not twilio.valid_signature(
            routing.auth_token, called_url(request), params, request.headers.get("x-twilio-signature")
        ):
            return PlainTextResponse("The X-Twilio-Signature is missing or wrong.", status_code=403)
        if not fields.get("MessageSid") or not fields.get("From"):
            return PlainTextResponse("From and MessageSid are required.", status_code=400)
        if len(fields["MessageSid"]) > MAX_MESSAGE_SID:
            return PlainTextResponse(f"MessageSid is longer than {MAX_MESSAGE_SID} characters.", status_code=400)
        message = sms_keywords.Inbound(
            from_number=fields["From"],
            to_number=fields.get("To", ""),
            body=fields.get("Body", ""),
            message_id=fields["MessageSid"],
            opt_out_type=fields.get("OptOutType") or None,
            signed=bool(routing.auth_token),  # checked above: a token set means a valid signature
        )
        reply = await anyio.to_thread.run_sync(sms_keywords.handle, engine, routing.account_id, message)
        return _twiml(reply)

    return [Route(PATH, inbound, methods=["POST"])]
