"""Double opt-in confirmation emails: composed and queued in the outbox, in the same transaction
as the request they confirm (the recorder's hook), or again on request (`double_optin.resend`).

A confirmation link names the account, profile, channel, purpose and list in a signed token, and
the address by a digest (`address_digest`)."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Sequence
from email.utils import formataddr

from sqlalchemy import Connection

from ...config import settings as config_settings
from ...domain import Channel, ConsentEvent, EventType, ProfileState, Purpose
from ..accounts import settings
from ..accounts.accounts import load_account
from ..lists.lookup import MailingList, load_list
from ..shared import outbox, tokens
from ..shared.ids import new_id

TOKEN_KIND = "confirm"  # the tokens' salt: a confirm link is refused everywhere else
MESSAGE_KIND = "doi_confirmation"  # the outbox kind of the confirmation email
LIST_HEADER = "X-Assent-List"  # which list a confirmation is for (the resend limit counts per list)


def address_digest(address: str) -> str:
    # The token is signed, not encrypted: it names the address by a digest, never in clear, so
    # that a link sent to an address the profile no longer has confirms nothing.
    return hashlib.sha256(address.encode()).hexdigest()[:16]


# --- the confirmation email ---------------------------------------------------------------------


def _one_line(text: str) -> str:
    """`text` for a header: a list or sender name may hold line breaks (any of str.splitlines'),
    which a header cannot (the message could not be built); each is a space."""
    return " ".join(text.splitlines())


class Composer:
    """Writes confirmation emails for one account within one transaction; the account's settings
    and list names are read once however many profiles a bulk job names."""

    def __init__(self, conn: Connection, account_id: str, base_url: str | None) -> None:
        self.conn = conn
        self.account_id = account_id
        self.base = (base_url or config_settings().link_base).rstrip("/")
        account = load_account(conn, account_id)
        self.look = settings.look(conn, account_id, account.name)
        self.brand, self.postal_address = self.look.brand, self.look.postal_address
        self.sender = formataddr((_one_line(self.brand), settings.get(conn, account_id, "sender_email")))
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
             "l": list_id or "", "m": message_id, "e": address_digest(address)},
        )  # fmt: skip
        confirm_url, cancel_url = f"{self.base}/c/{token}", f"{self.base}/c/{token}/cancel"
        name = self.list_name(list_id)
        message = outbox.Message(
            channel="email",
            recipient=address,
            kind=MESSAGE_KIND,
            subject=_one_line(f"Please confirm your subscription to {name}"),
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


def queue(conn: Connection, account_id: str, changes: Iterable[ProfileChange], base_url: str | None = None) -> int:
    """Queue a confirmation email for each email double opt-in request the changes opened, in the
    caller's transaction (so it is sent only if the request commits); returns how many were
    queued. The caller wakes the outbox after its commit when this is not 0."""
    composer: Composer | None = None
    queued = 0
    for profile_id, state, events in changes:
        for e in events:
            if e.type is not EventType.OPTIN_REQUESTED or e.channel is not Channel.EMAIL or e.purpose is None:
                continue
            # The request may have been settled later in the same change (a bulk job naming a
            # profile twice); only a request still open gets a link.
            if (e.channel, e.purpose, e.list_id or "") not in state.pending or state.email is None:
                continue
            composer = composer or Composer(conn, account_id, base_url)
            composer.queue(profile_id, state.email, e.purpose, e.list_id)
            queued += 1
    return queued
