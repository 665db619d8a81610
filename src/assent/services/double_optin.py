"""Double opt-in: the confirmation email queued with a pending request, and what the confirmation
page's buttons do (confirm, "this wasn't me", send a new link). SMS requests are confirmed by a
Y/YES reply instead (`confirm_pending_sms`).

A confirmation link names the account, profile, channel, purpose and list in a signed token; the
page reads it without changing anything (link scanners fetch every link they see) and only a POST
from the page's button confirms. Pending is not consent: the request stays open until confirmed,
cancelled or withdrawn.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine

from ..domain import Channel, ConsentEvent, ConsentStatus, EventType, ProfileState, Proof, Purpose, replay
from ..domain import transitions as t
from ..store import outbox as outbox_store
from ..store.db import read_transaction, write_transaction
from . import outbox, settings, tokens
from .accounts import load_account
from .clock import utcnow
from .consent import Change, Locator, change, find_profile
from .errors import NotFound
from .ids import new_id
from .lists import MailingList, load_list
from .profiles import current_state, public_url

TOKEN_KIND = "confirm"  # the tokens' salt: a confirm link is refused everywhere else
MESSAGE_KIND = "doi_confirmation"  # the outbox kind of the confirmation email
LIST_HEADER = "X-Assent-List"  # which list a confirmation is for (the resend limit counts per list)
RESEND_INTERVAL = timedelta(minutes=5)

# What a link's request is now, as the page tells it.
PENDING, CONFIRMED, CLOSED = "pending", "confirmed", "closed"


def _digest(address: str) -> str:
    # The token is signed, not encrypted: it names the address by a digest, never in clear, so
    # that a link sent to an address the profile no longer has confirms nothing.
    return hashlib.sha256(address.encode()).hexdigest()[:16]


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
        return address is not None and (self.address_digest is None or _digest(address) == self.address_digest)

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
    brand: str
    postal_address: str
    list_name: str


# --- the confirmation email ---------------------------------------------------------------------


class _Composer:
    """Writes confirmation emails for one account within one transaction; the account's settings
    and list names are read once however many profiles a bulk job names."""

    def __init__(self, conn: Connection, account_id: str, base_url: str | None) -> None:
        self.conn = conn
        self.account_id = account_id
        self.base = (base_url or public_url()).rstrip("/")
        account = load_account(conn, account_id)
        self.brand = settings.get(conn, account_id, "sender_name") or account.name
        self.sender = formataddr((self.brand, settings.get(conn, account_id, "sender_email")))
        self.postal_address = settings.get(conn, account_id, "postal_address")
        self.days = settings.get_int(conn, account_id, "doi_token_days")
        self._lists: dict[str, MailingList] = {}

    def list_name(self, list_id: str | None) -> str:
        if list_id is None:
            return self.brand
        if list_id not in self._lists:
            self._lists[list_id] = load_list(self.conn, self.account_id, list_id)
        return self._lists[list_id].name

    def queue(self, profile_id: str, address: str, purpose: Purpose, list_id: str | None) -> str:
        message_id = new_id()
        token = tokens.make_token_in(
            self.conn,
            TOKEN_KIND,
            {"a": self.account_id, "p": profile_id, "c": Channel.EMAIL.value, "u": purpose.value,
             "l": list_id or "", "m": message_id, "e": _digest(address)},
        )  # fmt: skip
        confirm_url, cancel_url = f"{self.base}/c/{token}", f"{self.base}/c/{token}/cancel"
        name = self.list_name(list_id)
        message = outbox.Message(
            channel="email",
            recipient=address,
            kind=MESSAGE_KIND,
            subject=f"Please confirm your subscription to {name}",
            body_text=self._text(name, confirm_url, cancel_url),
            body_html=self._html(name, confirm_url, cancel_url),
            sender=self.sender,
            # Auto-Submitted keeps out-of-office replies away (RFC 3834).
            headers=(("Auto-Submitted", "auto-generated"), (LIST_HEADER, list_id or "")),
        )
        return outbox.enqueue(self.conn, self.account_id, message, message_id=message_id)

    def _footer(self) -> str:
        return f"{self.brand} · {self.postal_address}" if self.postal_address else self.brand

    def _text(self, name: str, confirm_url: str, cancel_url: str) -> str:
        return (
            f"Please confirm that you want to receive {name} from {self.brand}.\n\n"
            f"Confirm your subscription:\n{confirm_url}\n\n"
            "You will not receive anything until you confirm. "
            f"This link is valid for {self.days} days.\n\n"
            f"Didn't ask for this? Let us know and we won't ask again:\n{cancel_url}\n\n"
            f"--\n{self._footer()}\n"
        )

    def _html(self, name: str, confirm_url: str, cancel_url: str) -> str:
        e = html.escape
        return (
            '<!doctype html><html><body style="font-family:sans-serif;max-width:36rem;margin:auto">'
            f"<p>Please confirm that you want to receive <strong>{e(name)}</strong> from {e(self.brand)}.</p>"
            f'<p><a href="{e(confirm_url)}" style="display:inline-block;padding:.6rem 1.2rem;background:#222;'
            f'color:#fff;border-radius:6px;text-decoration:none">Confirm my subscription</a></p>'
            "<p>You will not receive anything until you confirm. "
            f"This link is valid for {self.days} days.</p>"
            f"<p>Didn't ask for this? <a href=\"{e(cancel_url)}\">This wasn't me</a>.</p>"
            f'<p style="color:#666;font-size:.8rem">{e(self._footer())}</p>'
            "</body></html>"
        )


ProfileChange = tuple[str, ProfileState, Sequence[ConsentEvent]]  # (profile id, state after, its events)


def queue_confirmations(
    conn: Connection, account_id: str, changes: Iterable[ProfileChange], base_url: str | None = None
) -> int:
    """Queue a confirmation email for each email double opt-in request the changes opened, in the
    caller's transaction (so it is sent only if the request commits); returns how many were
    queued. The caller calls `outbox.wake()` after its commit when this is not 0."""
    composer: _Composer | None = None
    queued = 0
    for profile_id, state, events in changes:
        for e in events:
            if e.type is not EventType.OPTIN_REQUESTED or e.channel is not Channel.EMAIL or e.purpose is None:
                continue
            # The request may have been settled later in the same change (a bulk job naming a
            # profile twice); only a request still open gets a link.
            if (e.channel, e.purpose, e.list_id or "") not in state.pending or state.email is None:
                continue
            composer = composer or _Composer(conn, account_id, base_url)
            composer.queue(profile_id, state.email, e.purpose, e.list_id)
            queued += 1
    return queued


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
        composer = _Composer(conn, request.account_id, None)
        list_name = composer.list_name(request.list_id)
        row = find_profile(conn, load_account(conn, request.account_id), Locator("id", request.profile_id))
        state = current_state(conn, request.account_id, row)
    expired = False
    try:  # the lifetime is the account's setting, so it is checked once the account is known
        tokens.read_token(engine, TOKEN_KIND, token, max_age_seconds=composer.days * 86400)
    except tokens.TokenError as e:
        expired = e.expired
    return Link(request, expired, request.status(state), composer.brand, composer.postal_address, list_name)


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
        _Composer(conn, r.account_id, base_url).queue(r.profile_id, state.email, r.purpose, r.list_id)
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
