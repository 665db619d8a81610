"""Unsubscribe links (RFC 2369 / RFC 8058 one-click) and the unsubscribes they lead to.

A link carries a signed token naming the account, the profile, the channel (email), the list and
the message it was sent in: the one-click POST carries nothing else (RFC 8058 §3), and the
signature means a link can be neither forged nor guessed for somebody else. The token never
expires: CAN-SPAM wants the opt-out working for at least 30 days after the send, CASL 60, and a
link that stops working is an opt-out refused."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine

from ...domain import Channel, ConsentEvent, ConsentStatus, DomainError, MissingAddress, ProfileState, Proof, Purpose
from ...domain import SuppressionReason as SR
from ...domain import transitions as t
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts import settings
from ..accounts.accounts import load_account
from ..consent import changes as consent
from ..lists.lists import MailingList, load_list
from ..profiles.reading import current_state
from ..shared.errors import NotFound
from ..shared.tokens import TokenError, make_token, read_token
from . import preferences

KIND = "unsubscribe"
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1, exactly

# Why the person left: a fixed set the page offers (free text goes to Proof.note).
REASONS = {
    "too_many": "I get too many emails",
    "not_relevant": "The emails aren't relevant to me",
    "no_longer_interested": "I'm no longer interested",
    "never_signed_up": "I never signed up for these emails",
    "other": "Another reason",
}
MAX_NOTE = 500
MAX_MESSAGE_ID = 255

# Klaviyo's method vocabulary for email opt-outs (upper-snake-cased): the one-click POST of a
# mailbox provider, and the page a person confirms on.
METHOD_ONE_CLICK = "ONE_CLICK_UNSUBSCRIBE"
METHOD_PAGE = "PREFERENCE_PAGE"

Scope = Literal["list", "all"]


# --- links ------------------------------------------------------------------------------------


def unsubscribe_links(
    engine: Engine,
    account_id: str,
    locator: consent.Locator,
    *,
    list_id: str | None,
    message_id: str | None,
    base_url: str,
) -> dict[str, Any]:
    """The unsubscribe link of one message to one profile, the List-Unsubscribe and
    List-Unsubscribe-Post header values that carry it, and the preference-centre link.

    NotFound for a profile or list not in the account; MissingAddress for a profile with no email."""
    base = base_url.rstrip("/")
    if list_id is not None and not list_id.strip():
        raise DomainError("list_id", "is empty")
    message_id = _message_id(message_id)
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = consent.find_profile(conn, account, locator)
        if not row.email:
            raise MissingAddress("email", "the profile has no email address to unsubscribe", row.id)
        if list_id is not None:
            load_list(conn, account_id, list_id)
    data = {"a": account_id, "p": row.id, "c": Channel.EMAIL.value, "l": list_id, "m": message_id}
    token = make_token(engine, KIND, data)
    url = f"{base}/u/{token}"
    warnings = []
    if not url.startswith("https://"):
        # RFC 8058 §3.1: the List-Unsubscribe field MUST carry an HTTPS URI for one-click.
        warnings.append("one-click unsubscribe needs an https link: serve the pages over https (ASSENT_PUBLIC_URL)")
    return {
        "token": token,
        "url": url,
        "list_unsubscribe": f"<{url}>",
        "list_unsubscribe_post": ONE_CLICK_BODY,
        "preferences_url": f"{base}/p/{preferences.make_token(engine, account_id, row.id)}",
        "profile_id": row.id,
        "list_id": list_id,
        "message_id": message_id,
        "warnings": warnings,
    }


def _message_id(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_MESSAGE_ID:
        raise DomainError("message_id", f"may be at most {MAX_MESSAGE_ID} characters long", f"{len(value)} characters")
    return value or None


def read(engine: Engine, token: str) -> dict[str, Any]:
    """The data of an unsubscribe token; TokenError when it is forged, altered or made for
    another purpose (a preference-centre or confirmation token)."""
    data = read_token(engine, KIND, token)  # no max age: the link must keep working (see above)
    ok = (
        isinstance(data.get("a"), str)
        and isinstance(data.get("p"), str)
        and data.get("c") == Channel.EMAIL.value
        and isinstance(data.get("l"), str | None)
        and isinstance(data.get("m"), str | None)
    )
    if not ok:
        raise TokenError("this link is not valid")
    return data


# --- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the unsubscribe page shows: read only, a GET must change nothing."""

    account_id: str
    profile_id: str
    email_hint: str  # the address, masked: enough to recognise, not to harvest from a forwarded link
    look: settings.Look
    list_id: str | None
    list_name: str | None  # None when the link names no list, or its list has been deleted since
    message_id: str | None
    unsubscribed: bool  # from all email marketing already
    left_list: bool  # from the named list already


def look_of(conn: Connection, account_id: str) -> settings.Look:
    return settings.look(conn, account_id, load_account(conn, account_id).name)


def describe(engine: Engine, data: dict[str, Any]) -> Recipient:
    """NotFound when the profile is gone (erased since the message was sent)."""
    account_id, profile_id, list_id = data["a"], data["p"], data["l"]
    with read_transaction(engine) as conn:
        look = look_of(conn, account_id)
        row = profile_store.get(conn, account_id, profile_id)
        if row is None:
            raise NotFound("profile", "no profile in this account has this id", profile_id)
        state = current_state(conn, account_id, row)
        mailing_list = _existing_list(conn, account_id, list_id)
    return Recipient(
        account_id=account_id,
        profile_id=profile_id,
        email_hint=mask_email(row.email or ""),
        look=look,
        list_id=list_id,
        list_name=mailing_list.name if mailing_list else None,
        message_id=data["m"],
        unsubscribed=state.status(Channel.EMAIL, Purpose.MARKETING) is ConsentStatus.UNSUBSCRIBED,
        left_list=mailing_list is not None and _left(state, mailing_list.id),
    )


def _existing_list(conn: Connection, account_id: str, list_id: str | None) -> MailingList | None:
    if list_id is None:
        return None
    try:
        return load_list(conn, account_id, list_id)
    except NotFound:
        return None


def _left(state: ProfileState, list_id: str) -> bool:
    entry = state.list_suppressions.get(list_id)
    return entry is not None and entry.reason == SR.UNSUBSCRIBE.value


def mask_email(email: str) -> str:
    local, at, domain = email.partition("@")
    if not at:
        return ""
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 2), 6)}@{domain}"


# --- unsubscribing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    profile_id: str
    scope: Scope  # what was done: a list the profile is not on widens to "all", as Klaviyo does
    list_id: str | None
    list_name: str | None
    changed: bool  # False when it was done already: a repeat adds nothing to the ledger


def one_click(engine: Engine, token_data: dict[str, Any], proof: Proof) -> Unsubscribed:
    """RFC 8058 one-click: the list the link names (else all email marketing), at once."""
    scope: Scope = "list" if token_data["l"] else "all"
    proof = replace(proof, source=proof.source or "one-click")
    return _unsubscribe(engine, token_data, scope, proof, METHOD_ONE_CLICK)


def unsubscribe_from(
    engine: Engine,
    token_data: dict[str, Any],
    scope: str,
    reason: str | None,
    proof: Proof,
    note: str | None = None,
) -> Unsubscribed:
    """The page's unsubscribe: from the link's list only, or from all email marketing, with the
    reason the person chose (one of REASONS) and what they wrote (`note`, at most MAX_NOTE)."""
    if scope not in ("list", "all"):
        raise DomainError("scope", "choose list or all", scope)
    if scope == "list" and not token_data["l"]:
        raise DomainError("scope", "this link names no list: choose all", scope)
    reason = (reason or "").strip() or None
    if reason is not None and reason not in REASONS:
        raise DomainError("reason", f"choose one of {', '.join(REASONS)}", reason)
    text = " ".join((note if note is not None else proof.note or "").split())[:MAX_NOTE] or None
    if text and reason is None:
        reason = "other"
    proof = replace(proof, source=proof.source or "unsubscribe page", reason=reason, note=text)
    return _unsubscribe(engine, token_data, cast(Scope, scope), proof, METHOD_PAGE)


def _unsubscribe(engine: Engine, data: dict[str, Any], scope: Scope, proof: Proof, method: str) -> Unsubscribed:
    account_id, profile_id = data["a"], data["p"]
    # The message the person unsubscribed from is the link's, whatever the caller said.
    proof = replace(proof, message_id=data["m"])
    list_id = data["l"] if scope == "list" else None
    names: list[str] = []

    def transition(state: ProfileState, now: datetime, mailing_list: MailingList | None) -> list[ConsentEvent]:
        if mailing_list is not None:
            names.append(mailing_list.name)
        # Email only: an unsubscribe link never touches SMS, push or WhatsApp consent.
        return t.unsubscribe(state, Channel.EMAIL, Purpose.MARKETING, now=now, list_id=list_id, method=method,
                             proof=proof)  # fmt: skip

    locator = consent.Locator("id", profile_id)
    try:
        change = consent.change(engine, account_id, locator, transition, list_id=list_id, create=False)
    except NotFound as e:
        if e.field != "list" or list_id is None:
            raise
        # The list was deleted after the send: nobody is on it any more, and for a list the
        # profile is not on an unsubscribe is channel-wide (Klaviyo), so do exactly that.
        list_id = None
        change = consent.change(engine, account_id, locator, transition, create=False)
    left = list_id is not None and _left(change.state, list_id)
    return Unsubscribed(
        profile_id=change.profile_id,
        scope="list" if left else "all",
        list_id=list_id if left else None,
        list_name=names[0] if left and names else None,
        changed=bool(change.events),
    )
