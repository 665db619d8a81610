"""Bounce and complaint webhooks of the email providers, one URL per account:

- `POST /webhooks/email/ses/{public_id}`: Amazon SES notifications through an SNS HTTP(S)
  subscription (SubscriptionConfirmation is confirmed; Notification carries Bounce, Complaint,
  Delivery). Every message's SNS signature is checked; with the account setting `ses_topic_arn`
  other topics are refused.
- `POST /webhooks/email/sendgrid/{public_id}`: SendGrid's Event Webhook; with the account setting
  `sendgrid_public_key` the signature is required.

`/webhooks/email/ses` and `/webhooks/email/sendgrid` with `?company_id=PUBLIC_ID` are the same.
A refused message is answered 403 and changes nothing.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..integrations import sendgrid, ses
from ..services.workflows import bounces
from ..wire.bodies import lone_surrogate, read_limited, too_deep
from .pages import Refused

log = logging.getLogger("assent.web.email_events")

MAX_SNS_BODY = 1024 * 1024  # SNS messages are at most 256 KB
MAX_SENDGRID_BODY = 10 * 1024 * 1024  # SendGrid batches events; a post stays well under this


def _screen(body: bytes) -> bytes:
    """Refuse what the JSON parsers and the database cannot take, before they see it: nesting
    deeper than a provider ever sends, the NUL character (which PostgreSQL cannot hold) and a
    lone UTF-16 surrogate (which no UTF-8 text can carry), escaped in any string. A provider
    sends neither: such a body is refused whole, before any of its events is applied."""
    if too_deep(body):
        raise Refused(400, "the body nests objects and arrays too deeply")
    if b"\\u0000" in body:
        raise Refused(400, "the body holds a NUL character (\\u0000)")
    lone = lone_surrogate(body) if b"\\u" in body else None
    if lone is not None:
        raise Refused(400, f"the body holds a lone UTF-16 surrogate ({lone[0]}) at byte {lone[1]}")
    return body


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _account(engine: Engine, request: Request) -> bounces.WebhookAccount | None:
    public_id = request.path_params.get("public_id") or request.query_params.get("company_id") or ""
    if not public_id or len(public_id) > 64:
        return None
    return await anyio.to_thread.run_sync(bounces.webhook_account, engine, public_id)


def routes(engine: Engine) -> list[BaseRoute]:
    async def ses_webhook(request: Request) -> Response:
        account = await _account(engine, request)
        if account is None:
            return _error(404, "no account has this webhook address")
        body = await read_limited(request, MAX_SNS_BODY)
        if body is None:
            return _error(413, "the message is too large for an SNS message")
        try:
            message = ses.parse_envelope(_screen(body))
        except ValueError as e:
            return _error(400, str(e))
        try:
            # Verified before anything else is looked at, the topic included.
            await anyio.to_thread.run_sync(ses.authenticate, message)
        except ses.NotAuthentic as e:
            log.warning("SES webhook of account %s refused: %s", account.account_id, e)
            return _error(403, f"not a message signed by SNS: {e}")
        except ses.Unavailable as e:
            log.warning("SES webhook of account %s: no signing certificate: %s", account.account_id, e)
            return _error(503, "the signing certificate could not be fetched; retry later")
        if account.ses_topic_arn and message.topic_arn != account.ses_topic_arn:
            log.warning("SES webhook of account %s refused: topic %s", account.account_id, message.topic_arn)
            return _error(403, "this account does not take messages of this topic")
        if message.type == "SubscriptionConfirmation":
            try:
                await anyio.to_thread.run_sync(ses.confirm_subscription, message)
            except ses.NotAuthentic as e:
                return _error(403, str(e))
            except ses.Unavailable as e:
                log.warning("SES subscription of account %s not confirmed: %s", account.account_id, e)
                return _error(502, "the subscription could not be confirmed")
            log.info("SES subscription confirmed for account %s, topic %s", account.account_id, message.topic_arn)
            return JSONResponse({"confirmed": True})
        if message.type != "Notification":
            return JSONResponse({})  # UnsubscribeConfirmation: nothing to do
        _screen(message.message.encode())
        report = await anyio.to_thread.run_sync(bounces.apply, engine, account.account_id, "ses", ses.feedback(message))
        return JSONResponse(report.as_dict())

    async def sendgrid_webhook(request: Request) -> Response:
        account = await _account(engine, request)
        if account is None:
            return _error(404, "no account has this webhook address")
        body = await read_limited(request, MAX_SENDGRID_BODY)
        if body is None:
            return _error(413, "the post is too large")
        signature = request.headers.get(sendgrid.SIGNATURE_HEADER)
        timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER)
        if account.sendgrid_public_key:
            try:
                valid = await anyio.to_thread.run_sync(
                    sendgrid.verify, account.sendgrid_public_key, signature, timestamp, body
                )
            except sendgrid.BadKey as e:
                log.error("SendGrid verification key of account %s is unusable: %s", account.account_id, e)
                valid = False
            if not valid:
                log.warning("SendGrid webhook of account %s refused: bad or missing signature", account.account_id)
                return _error(403, "the signature does not match the post")
        try:
            # A batch can be large: parsed off the event loop, like the database work.
            feedback = await anyio.to_thread.run_sync(sendgrid.feedback, _screen(body))
        except ValueError as e:
            return _error(400, str(e))
        report = await anyio.to_thread.run_sync(bounces.apply, engine, account.account_id, "sendgrid", feedback)
        return JSONResponse(report.as_dict())

    return [
        Route("/webhooks/email/ses/{public_id}", ses_webhook, methods=["POST"]),
        Route("/webhooks/email/ses", ses_webhook, methods=["POST"]),
        Route("/webhooks/email/sendgrid/{public_id}", sendgrid_webhook, methods=["POST"]),
        Route("/webhooks/email/sendgrid", sendgrid_webhook, methods=["POST"]),
    ]
