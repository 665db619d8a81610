"""The console's settings page: the account's public id and a signup form snippet, its settings
(sending, branding, SMS, webhooks, decisions; an owner changes them), its staff users, and its
private API keys (an owner creates and revokes them; a new key is shown once)."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...config import settings as config
from ...domain import DomainError
from ...services.accounts import accounts
from ...services.accounts import settings as account_settings
from ...services.console import lists as console_lists
from ...services.console import staff
from ...services.shared.errors import NotFound
from .common import guarded, page, refused, text
from .session import Session

# The account settings as the page groups them; every setting is in one group.
GROUPS = (
    ("Sending and branding", ("sender_name", "sender_email", "postal_address", "brand_logo_url", "brand_color")),
    ("Double opt-in and signup", ("doi_token_days", "signup_consent_text", "signup_consent_text_version")),
    ("SMS", ("sms_number", "sms_join_keyword", "sms_reply_stop", "sms_reply_start", "sms_reply_join",
             "sms_reply_help")),
    ("Bounce, complaint and SMS webhooks", ("twilio_auth_token", "sendgrid_public_key", "ses_topic_arn",
                                            "soft_bounce_limit")),
    ("Send decisions and exports", ("jurisdictions", "frequency_caps", "ad_audience_consent")),
    ("Privacy", ("retention_months",)),
)  # fmt: skip


def _owner_only(request: Request, s: Session, what: str = "API keys are created and revoked by owners.",
                ) -> Response | None:  # fmt: skip
    if s.user.role != "owner":
        return refused(request, s, 403, "Only an owner can do this", what)
    return None


def routes(engine: Engine) -> list[BaseRoute]:
    async def show(request: Request, s: Session, form: FormData | None, status: int = 200,
                   **extra: Any) -> Response:  # fmt: skip
        aid = s.user.account_id
        account = await anyio.to_thread.run_sync(accounts.get_account, engine, aid)
        keys = await anyio.to_thread.run_sync(accounts.list_keys, engine, aid)
        users = await anyio.to_thread.run_sync(staff.list_users, engine, aid)
        lists = await anyio.to_thread.run_sync(console_lists.overview, engine, aid)
        values = await anyio.to_thread.run_sync(account_settings.all_values, engine, aid)
        groups = [(title, [(account_settings.SETTINGS[n], values[n]) for n in names]) for title, names in GROUPS]
        return page(request, s, "settings.html", {
            "account": account, "keys": keys, "users": users, "lists": lists, "base": config().link_base,
            "scopes": accounts.SCOPES, "nav": "settings", "groups": groups,
            "warnings": account_settings.setting_warnings(values), **extra}, status)  # fmt: skip

    async def overview(request: Request, s: Session, form: FormData | None) -> Response:
        q = request.query_params
        return await show(request, s, form, revoked=q.get("revoked"), saved=q.get("saved"))

    async def create_key(request: Request, s: Session, form: FormData | None) -> Response:
        if (no := _owner_only(request, s)) is not None:
            return no
        scopes = [str(v) for v in form.getlist("scopes")] if form is not None else []
        if not any(v.strip() for v in scopes):  # full access is a choice of its own, never "nothing ticked"
            return await show(request, s, form, 400, error="Tick the scopes the key needs, or Full access.")
        try:
            new = await anyio.to_thread.run_sync(
                accounts.create_key, engine, s.user.account_id, ",".join(scopes), text(form, "label")[:200]
            )
        except DomainError as e:
            return await show(request, s, form, 400, error=f"{e.message[:1].upper()}{e.message[1:]}.")
        return await show(request, s, form, new_key=new)

    async def save_settings(request: Request, s: Session, form: FormData | None) -> Response:
        if (no := _owner_only(request, s, "Account settings are changed by owners.")) is not None:
            return no
        current = await anyio.to_thread.run_sync(account_settings.all_values, engine, s.user.account_id)
        changed = {}
        for name, setting in account_settings.SETTINGS.items():
            if form is None or name not in form:
                continue
            value = text(form, name)
            if setting.secret and not value:
                continue  # a secret is never shown back: an empty field keeps it
            if value != current[name]:
                changed[name] = value
        try:
            await anyio.to_thread.run_sync(account_settings.set_values, engine, s.user.account_id, changed)
        except DomainError as e:
            return await show(request, s, form, 400, error=f"{e.field}: {e.message}.", error_field=e.field)
        return RedirectResponse(f"/console/settings?saved={len(changed)}#account-settings", status_code=303)

    async def revoke_key(request: Request, s: Session, form: FormData | None) -> Response:
        if (no := _owner_only(request, s)) is not None:
            return no
        key_id = request.path_params["id"]
        try:
            await anyio.to_thread.run_sync(accounts.revoke_key, engine, s.user.account_id, key_id)
        except NotFound:
            return refused(request, s, 404, "No such key", "This account has no key with this id.")
        return RedirectResponse(f"/console/settings?revoked={key_id}", status_code=303)

    return [
        Route("/console/settings", guarded(engine, overview)),
        Route("/console/settings/keys", guarded(engine, create_key, write=True), methods=["POST"]),
        Route("/console/settings/account", guarded(engine, save_settings, write=True), methods=["POST"]),
        Route("/console/settings/keys/{id}/revoke", guarded(engine, revoke_key, write=True), methods=["POST"]),
    ]
