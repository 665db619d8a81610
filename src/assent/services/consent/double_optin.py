"""Double opt-in actions: what the confirmation page's buttons do (confirm, "this wasn't me", send
a new link). SMS requests are confirmed by a Y/YES reply instead (`confirm_pending_sms`). The
confirmation email itself is composed and queued in `confirmations`.

A confirmation link names the account, profile, channel, purpose and list in a signed token; the
page reads it without changing anything (link scanners fetch every link they see) and only a POST
from the page's button confirms. Pending is not consent: the request stays open until confirmed,
cancelled or withdrawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Engine

from ...domain import Channel, ConsentEvent, ConsentStatus, ProfileState, Proof, Purpose, replay
from ...domain import transitions as t
from ...store import outbox as outbox_store
from ...store.db import read_transaction, write_transaction
from ..accounts.accounts import load_account
from ..accounts.settings import Look
from ..lists.lists import MailingList
from ..profiles.locator import Locator, find_profile
from ..profiles.reading import current_state
from ..shared import outbox, tokens
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from .changes import Change, change
from .confirmations import LIST_HEADER, MESSAGE_KIND, TOKEN_KIND, Composer
from .confirmations import address_digest as digest_of

RESEND_INTERVAL = timedelta(minutes=5)

# What a link's request is now, as the page tells it.
PENDING, CONFIRMED, CLOSED = "pending", "confirmed", "closed"


@dataclass(frozen=True, slots=True)
class Request:
    """The double opt-in request a confirmation link names."""

    account_id: str
    profile_id: str
    channel: Channel
    purpose: Purpose
    list_id: str | None
    message_id: str | None  # the outbox message that carried the link
    address_digest: str | None

    def key(self) -> tuple[Channel, Purpose, str]:
        return (self.channel, self.purpose, self.list_id or "")

    def addressed(self, state: ProfileState) -> bool:
        address = state.address(self.channel)
        return address is not None and (self.address_digest is None or digest_of(address) == self.address_digest)

    def status(self, state: ProfileState) -> str:
        if not self.addressed(state):
            return CLOSED
        if self.key() in state.pending:
            return PENDING
        member = self.list_id is None or self.list_id in state.lists
        return CONFIRMED if state.status(self.channel, self.purpose) is ConsentStatus.SUBSCRIBED and member else CLOSED


@dataclass(frozen=True, slots=True)
class Link:
    """A confirmation link read: its request, whether it expired, and what the page shows."""

    request: Request
    expired: bool
    status: str  # PENDING, CONFIRMED or CLOSED
    look: Look
    list_name: str


# --- the confirmation page ----------------------------------------------------------------------


def _request(data: dict[str, Any]) -> Request:
    try:
        return Request(
            account_id=str(data["a"]),
            profile_id=str(data["p"]),
            channel=Channel(data["c"]),
            purpose=Purpose(data["u"]),
            list_id=str(data["l"]) or None,
            message_id=data.get("m"),
            address_digest=data.get("e"),
        )
    except (KeyError, ValueError, TypeError):
        raise tokens.TokenError("this link is not valid") from None


def read_link(engine: Engine, token: str) -> Link:
    """What a confirmation link names and where its request stands; changes nothing.

    Raises TokenError for a forged or altered link, NotFound when its profile or list is gone."""
    request = _request(tokens.read_token(engine, TOKEN_KIND, token))
    with read_transaction(engine) as conn:
        composer = Composer(conn, request.account_id, None)
        list_name = composer.list_name(request.list_id)
        row = find_profile(conn, load_account(conn, request.account_id), Locator("id", request.profile_id))
        state = current_state(conn, request.account_id, row)
    expired = False
    try:  # the lifetime is the account's setting, so it is checked once the account is known
        tokens.read_token(engine, TOKEN_KIND, token, max_age_seconds=composer.days * 86400)
    except tokens.TokenError as e:
        expired = e.expired
    return Link(request, expired, request.status(state), composer.look, list_name)


def _settle(engine: Engine, link: Link, step: Callable[..., list[ConsentEvent]], proof: Proof) -> Change:
    """Confirm or cancel the link's request while it is still pending; otherwise write nothing."""
    r = link.request

    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        if r.status(state) != PENDING:
            return []
        return step(state, r.channel, r.purpose, r.list_id, now=now, proof=proof)

    return change(engine, r.account_id, Locator("id", r.profile_id), transition, list_id=r.list_id, create=False)


def confirm(engine: Engine, link: Link, proof: Proof) -> str:
    """Confirm the link's request (the caller has checked it has not expired). Returns CONFIRMED
    when it is confirmed now or was already, CLOSED when there is nothing left to confirm;
    confirming again writes nothing."""
    return link.request.status(_settle(engine, link, t.confirm_double_optin, proof).state)


def cancel(engine: Engine, link: Link, proof: Proof) -> bool:
    """Close the request ("this wasn't me"), consent unchanged. An expired link may still cancel
    (refusing is always allowed). Returns whether a request was open."""
    return bool(_settle(engine, link, t.cancel_double_optin, proof).events)


SENT, TOO_SOON, NOT_PENDING = "sent", "too_soon", "not_pending"


def resend(engine: Engine, link: Link, base_url: str | None = None) -> str:
    """Queue a fresh confirmation email while the request is still open, at most one per
    RESEND_INTERVAL per profile and list (counting the first). Returns SENT, TOO_SOON or NOT_PENDING."""
    r = link.request
    if r.channel is not Channel.EMAIL:
        return NOT_PENDING
    with write_transaction(engine) as conn:
        row = find_profile(conn, load_account(conn, r.account_id), Locator("id", r.profile_id))
        state = current_state(conn, r.account_id, row)
        if r.status(state) != PENDING or state.email is None:
            return NOT_PENDING
        since = utcnow() - RESEND_INTERVAL
        for sent in outbox_store.recent(conn, r.account_id, state.email, MESSAGE_KIND, since):
            if msgspec.json.decode(sent.headers or "{}").get(LIST_HEADER, "") == (r.list_id or ""):
                return TOO_SOON
        Composer(conn, r.account_id, base_url).queue(r.profile_id, state.email, r.purpose, r.list_id)
    outbox.wake()
    return SENT


# --- SMS ----------------------------------------------------------------------------------------


def confirm_pending_sms(engine: Engine, account_id: str, phone_number: str, proof: Proof) -> bool:
    """Confirm every pending SMS opt-in of the profile with this number (a Y/YES reply); returns
    whether anything was pending. Each keeps its original method and records `double_optin: true`."""

    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        events: list[ConsentEvent] = []
        for key in [k for k in state.pending if k[0] is Channel.SMS]:
            if key not in state.pending:  # granted along with an earlier one (a channel-wide request)
                continue
            channel, purpose, list_id = key
            evs = t.confirm_double_optin(state, channel, purpose, list_id or None, now=now, proof=proof)
            events += evs
            state = replay(evs, state)
        return events

    try:
        done = change(engine, account_id, Locator("phone_number", phone_number), transition, create=False)
    except NotFound:
        return False
    return bool(done.events)
