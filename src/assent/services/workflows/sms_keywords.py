"""Inbound SMS keywords: opt-out (STOP and its synonyms), opt-in again (START / UNSTOP / YES),
HELP / INFO, and the account's join keyword. Each inbound message is handled once: its provider
message id is claimed in the same transaction as the consent change it causes, so a replayed
webhook changes nothing and gets no second reply.

What START / UNSTOP / YES do (CTIA treats them as the opt-in words that undo a STOP):
- with an SMS double opt-in pending for the number, they confirm it;
- else they restore the SMS consent the number held before it opted out (marketing and/or
  transactional, whichever it had), and nothing more: a bare "START" from a number that never
  consented is not the prior express written consent marketing texts need (TCPA PEWC: seller,
  number and disclosures), so it grants nothing. Joining is the join keyword's job.

Only a signed message grants or restores consent. Without the account's `twilio_auth_token` no
signature can be checked, and anyone who knows the brand's (public) SMS number could post
`From=<someone else's number>&Body=JOIN`: consent would land on a person who never gave it. So an
unsigned message may withdraw consent (STOP and its synonyms: a withdrawal must never be lost, and a
forged one costs the brand reach, never a person's rights) and get the HELP reply, but JOIN, START,
UNSTOP and YES (a pending SMS double opt-in's confirmation too) change nothing, record nothing and
are answered with `UNSIGNED_REPLY`, which says so."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine

from ...domain import (
    Channel,
    ConsentEvent,
    ConsentStatus,
    DomainError,
    EventType,
    InvalidIdentifier,
    ProfileState,
    Proof,
    Purpose,
)
from ...domain import transitions as t
from ...domain.erasure import ErasedIdentifier
from ...domain.identity import normalize_phone
from ...store import ledger, projection, receipts
from ...store import profiles as profile_store
from ...store import settings as settings_store
from ...store.db import read_transaction
from ..accounts import settings
from ..accounts.accounts import Account, load_account
from ..consent.changes import change_in
from ..consent.double_optin import confirm_pending_sms
from ..lists.lists import MailingList
from ..profiles.locator import Locator
from ..shared.clock import utcnow
from ..shared.recorder import recording

log = logging.getLogger("assent.sms")

PROVIDER = "twilio"
METHOD = "TEXT"
SOURCE = "sms keyword"
NOTE_LIMIT = 160  # one SMS segment: the proof keeps what the person typed, not a novel

# The FCC's per-se revocation words (47 CFR 64.1200(a)(10)), Twilio's defaults, and the spellings
# providers also honour (STOP ALL at Telnyx, OPT-OUT at AWS).
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT", "OPT-OUT"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES", "Y"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# Answered to a JOIN / START / UNSTOP / YES that came unsigned, named with the brand. Fixed rather
# than a setting: it must stay true in every case (subscribed or not, pending or not), and only a
# real texter, through Twilio, ever receives it; a forger gets it back as the HTTP answer.
UNSIGNED_REPLY = "Signing up by text is not available on this number, so nothing was changed. Reply HELP for help."
_SMS_PURPOSES = (Purpose.MARKETING, Purpose.TRANSACTIONAL)
_TRAILING_PUNCTUATION = re.compile(r"[.!]+$")
# Twilio posts its other channels to the same webhook, their addresses prefixed: "whatsapp:+1…",
# "messenger:…", "rcs:…". A phone-number parser reads past the prefix.
_CHANNEL_PREFIX = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*:")


class Action(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    JOIN = "join"


@dataclass(frozen=True, slots=True)
class Keyword:
    action: Action
    word: str  # what the ledger records as method_detail


def normalize_keyword(text: str) -> str:
    """Upper case, runs of whitespace as one space, trailing "." / "!" dropped: " opt  out! " is "OPT OUT".

    Letters in their compatibility forms are read as the letters they are (NFKC: a phone's
    full-width "ＳＴＯＰ" is STOP) and invisible format characters (a zero-width space a keyboard
    or a copy left) are dropped: the person typed the word. Look-alikes from other scripts (a
    Cyrillic "ЅТОР") are other words, and stay so."""
    text = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    return _TRAILING_PUNCTUATION.sub("", " ".join(text.split()).upper()).strip()


def classify(body: str, join_keyword: str, opt_out_type: str | None = None) -> Keyword | None:
    """What a message asks for: the whole message, trimmed, must be the keyword. The provider's own
    classification (Twilio's OptOutType) is honoured as well, so its wider matching ("stop texting
    me please") opts out too. Opting out wins over everything; the join keyword cannot shadow the
    opt-out and help words, but may be an opt-in word if the account chose so."""
    word = normalize_keyword(body)
    provider = (opt_out_type or "").strip().upper()
    join = normalize_keyword(join_keyword)
    if word in OPT_OUT_WORDS or provider == "STOP":
        return Keyword(Action.STOP, word if word in OPT_OUT_WORDS else "STOP")
    if word in HELP_WORDS or provider == "HELP":
        return Keyword(Action.HELP, word if word in HELP_WORDS else "HELP")
    if join and word == join:
        return Keyword(Action.JOIN, word)
    if word in OPT_IN_WORDS or provider == "START":
        return Keyword(Action.START, word if word in OPT_IN_WORDS else "START")
    return None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound text, as the provider reported it."""

    from_number: str
    to_number: str
    body: str
    message_id: str
    opt_out_type: str | None = None
    # The provider's signature was checked and is valid (the account has an auth token). Only a
    # signed message grants or restores consent; the default is the safe one.
    signed: bool = False


def sms_number(value: str, region: str | None, field: str) -> str:
    """The E.164 number of an SMS sender or recipient; InvalidIdentifier for anything no text
    message comes from or goes to: another channel's address (a WhatsApp message is not an SMS,
    and consent is per channel), a number with an extension, a short code, a name."""
    if _CHANNEL_PREFIX.match(value):
        raise InvalidIdentifier(field, "is another channel's address, not an SMS number", value)
    return normalize_phone(value, region, field)


@dataclass(frozen=True, slots=True)
class Routing:
    account_id: str
    auth_token: str  # "" when the account checks no signatures


class AmbiguousNumber(DomainError):
    code = "conflict"


def route(engine: Engine, to_number: str) -> Routing | None:
    """The account whose `sms_number` is the number texted, or None."""
    try:
        number = sms_number(to_number or "", None, "To")
    except DomainError:
        return None
    with read_transaction(engine) as conn:
        owners = [account_id for account_id, _ in settings_store.accounts_with_setting(conn, "sms_number", number)]
        if not owners:
            # A number saved in another form ("(415) 555-0100"): compare them normalised, each in
            # its account's region. Rare, and no costlier than the exact query (neither has an index).
            for account_id, value in settings_store.accounts_with_setting(conn, "sms_number"):
                region = load_account(conn, account_id).default_region
                try:
                    if normalize_phone(value, region) == number:
                        owners.append(account_id)
                except DomainError:
                    continue
        if not owners:
            return None
        if len(owners) > 1:
            # Which brand's consent would a STOP withdraw? Refuse rather than guess.
            raise AmbiguousNumber("To", "several accounts use this SMS number", number)
        return Routing(owners[0], settings.get(conn, owners[0], "twilio_auth_token"))


def _brand(conn: Connection, account: Account) -> str:
    return settings.get(conn, account.id, "sender_name").strip() or account.name


def _reply(conn: Connection, account: Account, name: str) -> str:
    """The account's reply text, named with the brand: CTIA wants the program's name in HELP,
    opt-in and opt-out confirmations, and the default texts do not carry it."""
    return _branded(conn, account, settings.get(conn, account.id, name).strip())


def _branded(conn: Connection, account: Account, text: str) -> str:
    brand = _brand(conn, account)
    if not text or not brand or brand.lower() in text.lower():
        return text
    return f"{brand}: {text}"


def _proof(message: Inbound) -> Proof:
    # No IP or user agent: the request comes from the provider, not from the person; the phone
    # number (recorded with every SMS consent event) is who it was.
    return Proof(source=SOURCE, message_id=message.message_id, note=message.body.strip()[:NOTE_LIMIT])


def _sms_pending(state: ProfileState) -> bool:
    return any(channel is Channel.SMS for channel, _, _ in state.pending)


def _restorable(conn: Connection, account_id: str, profile_id: str, state: ProfileState) -> list[Purpose]:
    """The SMS purposes the number consented to and then withdrew: what START gives back.

    A phone-number change resets SMS consent to never-subscribed, so consent given for an
    earlier number is not carried over."""
    held = dict.fromkeys(_SMS_PURPOSES, False)
    for stored in ledger.events(conn, account_id, profile_id=profile_id):
        e = stored.event
        if e.type is EventType.CONSENT_CHANGED and e.channel is Channel.SMS and e.purpose in held:
            if e.status is ConsentStatus.SUBSCRIBED:
                held[e.purpose] = True
            elif e.status is ConsentStatus.NEVER_SUBSCRIBED:
                held[e.purpose] = False
    return [p for p in _SMS_PURPOSES if held[p] and state.status(Channel.SMS, p) is ConsentStatus.UNSUBSCRIBED]


def _subscribed(state: ProfileState) -> bool:
    return any(state.status(Channel.SMS, p) is ConsentStatus.SUBSCRIBED for p in _SMS_PURPOSES)


def handle(engine: Engine, account_id: str, message: Inbound) -> str | None:
    """Apply an inbound text; returns the reply to send, or None for no reply.

    Messages that are no keyword change nothing and get no reply."""
    with read_transaction(engine) as conn:
        join_keyword = settings.get(conn, account_id, "sms_join_keyword")
        account = load_account(conn, account_id)
    keyword = classify(message.body, join_keyword, message.opt_out_type)
    if keyword is None:
        return None
    proof = _proof(message)
    phone = None
    if keyword.action is not Action.HELP:
        try:
            phone = sms_number(message.from_number or "", account.default_region, "From")
        except DomainError:
            # A short code, an alphanumeric sender, a number with an extension (no handset texts
            # from one) or another channel's sender: no profile's SMS consent is its to change,
            # nothing to record (never the number without its extension: somebody else's, maybe).
            log.warning("inbound %s from an unusable number ignored (message %s)", keyword.word, message.message_id)
            return None
    if keyword.action in (Action.JOIN, Action.START) and not message.signed:
        # Nobody vouches that the person holding `From` sent this: no consent may land on it. Not
        # even the receipt is claimed, so nothing at all is written.
        log.warning(
            "inbound %s to account %s not applied: unsigned (no twilio_auth_token), only opt-outs and HELP are "
            "accepted (message %s)", keyword.word, account_id, message.message_id,
        )  # fmt: skip
        with read_transaction(engine) as conn:
            return _branded(conn, account, UNSIGNED_REPLY)
    now = utcnow()
    pending = False
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        if not receipts.claim(conn, account_id, PROVIDER, message.message_id, now):
            return None  # a replay: handled already, and answered then
        if keyword.action is Action.HELP:
            # Sent whether or not the number is subscribed (CTIA); changes nothing.
            return _reply(conn, account, "sms_reply_help")
        assert phone is not None
        locator = Locator("phone_number", phone)
        if keyword.action is Action.STOP:
            try:
                change = change_in(recorder, locator, _stop(keyword, proof), now=now)
            except ErasedIdentifier:
                return None  # an erased number's opt-out is held by its tombstone: nothing to change

            # One confirmation per opt-out (FCC 64.1200(a)(12)): a STOP that changes nothing gets none.
            return _reply(conn, account, "sms_reply_stop") if change.events else None
        if keyword.action is Action.JOIN:
            change_in(recorder, locator, _join(keyword, proof), now=now, new_consent=True)
            return _reply(conn, account, "sms_reply_join")
        row = profile_store.find(conn, account_id, "phone_number", phone)
        if row is None:
            return None  # START from a number we never heard of: no consent to restore
        state = projection.load(conn, account_id, {row.id: (row.email, row.phone_number)})[row.id]
        if _sms_pending(state):
            pending = True  # confirmed by the double opt-in use case, once the receipt is committed
        else:
            restore = _restorable(conn, account_id, row.id, state)
            change = change_in(recorder, locator, _restore(keyword, proof, restore), now=now, create=False)
            return _reply(conn, account, "sms_reply_start") if _subscribed(change.state) else None
    # Receipt first, confirmation after: a crash in between loses this YES (the person can reply
    # again, a new message) rather than letting a replay confirm a request made later.
    if pending and phone is not None and confirm_pending_sms(engine, account_id, phone, proof):
        with read_transaction(engine) as conn:
            return _reply(conn, account, "sms_reply_start")
    return None


def _stop(keyword: Keyword, proof: Proof) -> Callable[[ProfileState, datetime, MailingList | None], list[ConsentEvent]]:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        # One SMS opt-out withdraws marketing and transactional alike (and closes pending SMS opt-ins);
        # email is another channel and stays as it is.
        return t.unsubscribe(
            state, Channel.SMS, Purpose.MARKETING, now=now, method=METHOD, method_detail=keyword.word, proof=proof
        )

    return transition


def _join(keyword: Keyword, proof: Proof) -> Callable[[ProfileState, datetime, MailingList | None], list[ConsentEvent]]:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        # Texting the keyword from the handset is itself the confirmation that the number is theirs.
        return t.subscribe(
            state,
            [(Channel.SMS, Purpose.MARKETING)],
            now=now,
            method=METHOD,
            method_detail=keyword.word,
            proof=proof,
        )

    return transition


def _restore(
    keyword: Keyword, proof: Proof, purposes: list[Purpose]
) -> Callable[[ProfileState, datetime, MailingList | None], list[ConsentEvent]]:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        if not purposes:
            return []
        return t.subscribe(
            state,
            [(Channel.SMS, p) for p in purposes],
            now=now,
            method=METHOD,
            method_detail=keyword.word,
            proof=proof,
        )

    return transition
