"""The preference centre: what a person receives on each channel and which public lists they are
on, and saving their choices. A save applies only what differs from the stored state, in one
consent change (one transaction), so a re-sent form or a stale page changes nothing twice."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ...domain import (
    Channel,
    ConsentEvent,
    ConsentStatus,
    DomainError,
    EventType,
    InvalidIdentifier,
    OptInProcess,
    ProfileState,
    Proof,
    Purpose,
    replay,
)
from ...domain import transitions as t
from ...domain.identity import normalize_phone
from ...store import lists as list_store
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts import settings
from ..accounts.accounts import load_account
from ..consent import changes as consent
from ..lists.lists import MailingList
from ..profiles import writes as profile_writes
from ..profiles.reading import current_state
from ..shared import tokens
from ..shared.errors import NotFound

TOKEN_KIND = "preferences"
METHOD = "PREFERENCE_PAGE"
# The version of the consent wording the page shows beside the SMS and WhatsApp boxes; bump it
# whenever that wording changes, so the ledger says which text a person agreed to.
CONSENT_TEXT_VERSION = "preferences-1"

# Channels a person can switch on the page; push is granted on a device, not here.
EDITABLE = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.POSTAL)
SHOWN = (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.WHATSAPP, Channel.POSTAL)
LABELS = {
    Channel.EMAIL: "Email marketing",
    Channel.SMS: "SMS marketing",
    Channel.PUSH: "Push notifications (marketing)",
    Channel.WHATSAPP: "WhatsApp marketing",
    Channel.POSTAL: "Direct mail (postcards and letters)",
}
# Channels the page changes only when the form says their box was offered (its hidden `offered`
# field): direct mail needs no opt-in, so its box is ticked until an opt-out, and a form without
# the box (a page cached before it existed, a hand-made post) must not read as an opt-out.
OFFERED_ONLY = (Channel.POSTAL,)
_PHONE_CHANNELS = (Channel.SMS, Channel.WHATSAPP)


class PhoneNeeded(DomainError):
    """SMS or WhatsApp was asked for without a usable phone number."""

    code = "phone_number_needed"


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    channel: Channel
    label: str
    checked: bool  # subscribed, or waiting for a confirmation
    pending: bool
    status: ConsentStatus
    editable: bool
    unavailable: str | None = None  # why the box can't be ticked, e.g. no email address
    detail: str | None = None  # what the status rests on, e.g. "on 2 devices" for push


@dataclass(frozen=True, slots=True)
class ListChoice:
    id: str
    name: str
    checked: bool  # receiving it, or waiting for a confirmation
    pending: bool
    double_opt_in: bool


@dataclass(frozen=True, slots=True)
class Preferences:
    account_id: str
    profile_id: str
    look: settings.Look
    email: str | None  # masked: the page may be forwarded
    phone_number: str | None  # masked
    has_email: bool
    has_phone: bool
    channels: list[ChannelChoice]
    lists: list[ListChoice]


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the submitted form asks for: the boxes ticked (unticked ones are absent)."""

    channels: frozenset[Channel]
    lists: frozenset[str]
    phone_number: str | None = None  # typed on the page by a profile that has none
    unsubscribe_all_email: bool = False
    offered: frozenset[Channel] = frozenset()  # the OFFERED_ONLY channels whose box the form had


@dataclass(frozen=True, slots=True)
class Saved:
    preferences: Preferences
    events: list[ConsentEvent]

    @property
    def confirmation_needed(self) -> bool:
        return any(e.type is EventType.OPTIN_REQUESTED for e in self.events)


def make_token(engine: Engine, account_id: str, profile_id: str) -> str:
    """A preference-centre link token; it does not expire (it is in every message sent)."""
    return tokens.make_token(engine, TOKEN_KIND, {"a": account_id, "p": profile_id})


def read_token(engine: Engine, token: str) -> tuple[str, str]:
    """(account id, profile id) of a token; TokenError when forged or made for something else."""
    data = tokens.read_token(engine, TOKEN_KIND, token)
    account_id, profile_id = data.get("a"), data.get("p")
    if not isinstance(account_id, str) or not isinstance(profile_id, str):
        raise tokens.TokenError("this link is not valid")
    return account_id, profile_id


def _mask_email(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def _mask_phone(phone: str | None) -> str | None:
    return None if not phone else f"•••{phone[-4:]}"


def _public_lists(conn: Connection, account_id: str) -> list[MailingList]:
    return [
        MailingList(r.id, r.name, OptInProcess(r.opt_in_process), r.created_at, r.updated_at)
        for r in list_store.public_lists(conn, account_id)
    ]


def _channel_pending(state: ProfileState, channel: Channel) -> bool:
    # A list's own pending opt-in shows beside the list, not on the channel.
    return (channel, Purpose.MARKETING, "") in state.pending


def _channel_checked(state: ProfileState, channel: Channel) -> bool:
    if channel is Channel.POSTAL:  # direct mail needs no opt-in: ticked until an opt-out
        return state.status(channel) is not ConsentStatus.UNSUBSCRIBED
    return state.status(channel) is ConsentStatus.SUBSCRIBED or _channel_pending(state, channel)


def _push_detail(state: ProfileState) -> tuple[bool, str | None]:
    """Whether push marketing reaches the person, and on how many devices: push goes to the
    devices whose notifications are allowed, so the page says so rather than show consent alone."""
    devices = state.push_tokens
    if devices > 0 and state.status(Channel.PUSH) is ConsentStatus.SUBSCRIBED:
        return True, f"on {devices} device{'s' if devices != 1 else ''}"
    if state.status(Channel.PUSH) is ConsentStatus.SUBSCRIBED:
        return False, "no device of yours allows our notifications"
    return False, None


def _list_pending(state: ProfileState, list_id: str) -> bool:
    return (Channel.EMAIL, Purpose.MARKETING, list_id) in state.pending


def _list_checked(state: ProfileState, list_id: str) -> bool:
    # A member who opted out of all email gets nothing from the list: show it unticked, so the
    # page tells the truth and ticking it again is a real opt-in.
    receiving = (
        list_id in state.lists
        and state.status(Channel.EMAIL) is not ConsentStatus.UNSUBSCRIBED
        and list_id not in state.list_suppressions
    )
    return receiving or _list_pending(state, list_id)


def _view(
    account_id: str,
    profile_id: str,
    look: settings.Look,
    state: ProfileState,
    public: list[MailingList],
) -> Preferences:
    channels = []
    for channel in SHOWN:
        unavailable = detail = None
        checked = _channel_checked(state, channel)
        if channel is Channel.EMAIL and not state.email:
            unavailable = "We have no email address for you."
        if channel is Channel.PUSH:
            checked, detail = _push_detail(state)
        if channel is Channel.POSTAL and checked and state.status(channel) is not ConsentStatus.SUBSCRIBED:
            detail = "unless you untick this"
        channels.append(
            ChannelChoice(
                channel=channel,
                label=LABELS[channel],
                checked=checked,
                pending=_channel_pending(state, channel),
                status=state.status(channel),
                editable=channel in EDITABLE and unavailable is None,
                unavailable=unavailable,
                detail=detail,
            )
        )
    lists = [
        ListChoice(
            m.id,
            m.name,
            _list_checked(state, m.id),
            _list_pending(state, m.id),
            m.opt_in_process is OptInProcess.DOUBLE,
        )
        for m in public
    ]
    return Preferences(
        account_id=account_id,
        profile_id=profile_id,
        look=look,
        email=_mask_email(state.email),
        phone_number=_mask_phone(state.phone_number),
        has_email=state.email is not None,
        has_phone=state.phone_number is not None,
        channels=channels,
        lists=lists,
    )


def _read(engine: Engine, account_id: str, profile_id: str) -> tuple[Preferences, ProfileState, list[MailingList], str]:
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = profile_store.get(conn, account_id, profile_id)
        if row is None:
            raise NotFound("profile", "this profile no longer exists", profile_id)
        state = current_state(conn, account_id, row)
        public = _public_lists(conn, account_id)
        look = settings.look(conn, account_id, account.name)
        return _view(account_id, profile_id, look, state, public), state, public, account.default_region


def load(engine: Engine, account_id: str, profile_id: str) -> Preferences:
    """The page's content. Reads only: a link scanner's GET must never change anything."""
    return _read(engine, account_id, profile_id)[0]


def _new_phone(wanted: Wanted, state: ProfileState, region: str) -> str | None:
    """The number to add first, or None; PhoneNeeded when SMS or WhatsApp is asked for without one."""
    typed = (wanted.phone_number or "").strip()
    if wanted.unsubscribe_all_email:
        return None  # that button reads nothing else on the page
    asks_phone = any(c in wanted.channels and not _channel_checked(state, c) for c in _PHONE_CHANNELS)
    if state.phone_number is not None:
        return None  # the page offers no way to change a number; that would reset its consent
    if typed:
        try:
            return normalize_phone(typed, region)
        except InvalidIdentifier:
            raise PhoneNeeded("phone_number", "this is not a phone number we can text", typed) from None
    if asks_phone:
        raise PhoneNeeded("phone_number", "enter your mobile number to get SMS or WhatsApp messages")
    return None


def _steps(
    state: ProfileState, now: datetime, wanted: Wanted, public: list[MailingList], proof: Proof
) -> list[ConsentEvent]:
    """The events that take `state` to what the form asks for; each step sees the earlier ones."""
    events: list[ConsentEvent] = []

    def apply(new: list[ConsentEvent]) -> None:
        nonlocal state
        events.extend(new)
        state = replay(new, state)

    common: dict[str, Any] = {"now": now, "method": METHOD, "proof": proof}
    if wanted.unsubscribe_all_email:
        # The page's "stop all marketing email": only email; the other boxes are not read.
        if state.email is not None:
            apply(t.unsubscribe(state, Channel.EMAIL, **common))
        return events
    # Differences are taken against the state the person saw (before any step), so that joining a
    # single opt-in list, which grants email consent, is not then undone by an unticked email box.
    before = state
    leaving_email = (
        state.email is not None and Channel.EMAIL not in wanted.channels and _channel_checked(before, Channel.EMAIL)
    )
    if state.email is not None:
        for m in public:
            want, shown = m.id in wanted.lists, _list_checked(before, m.id)
            if want and not shown and not leaving_email:
                apply(
                    t.subscribe(
                        state, [(Channel.EMAIL, Purpose.MARKETING)], list_id=m.id, opt_in_process=m.opt_in_process,
                        **common,
                    )
                )  # fmt: skip
            elif shown and not want:
                if m.id in state.lists:
                    apply(t.unsubscribe(state, Channel.EMAIL, list_id=m.id, **common))
                else:  # only waiting for a confirmation: withdraw the request, consent unchanged
                    apply(t.cancel_double_optin(state, Channel.EMAIL, Purpose.MARKETING, m.id, now=now, proof=proof))
    for channel in EDITABLE:
        if channel is Channel.EMAIL and state.email is None:
            continue
        if channel in OFFERED_ONLY and channel not in wanted.offered:
            continue  # the form did not have this box: nothing to read from its absence
        want, shown = channel in wanted.channels, _channel_checked(before, channel)
        if want and not shown:
            apply(t.subscribe(state, [(channel, Purpose.MARKETING)], **common))
        elif shown and not want:
            if state.status(channel) is ConsentStatus.SUBSCRIBED or channel in OFFERED_ONLY:
                # Direct mail shows ticked without consent on record: unticking it is the opt-out.
                apply(t.unsubscribe(state, channel, **common))
            else:
                apply(t.cancel_double_optin(state, channel, Purpose.MARKETING, None, now=now, proof=proof))
    return events


def save(engine: Engine, account_id: str, profile_id: str, wanted: Wanted, proof: Proof) -> Saved:
    """Apply the form's differences with method PREFERENCE_PAGE and `proof`.

    A number typed for SMS is added first (an identifier change, through the ledger) in its own
    transaction; every consent change then happens in one. Invalid input raises before any write."""
    _, state, public, region = _read(engine, account_id, profile_id)
    unknown = sorted(wanted.lists - {m.id for m in public})
    if unknown:  # a list the page does not show: refused, rather than dropped while the rest is saved
        raise DomainError("list", "this form names a list the page does not offer; nothing was saved",
                          ", ".join(unknown)[:100])  # fmt: skip
    wanted = Wanted(
        frozenset(wanted.channels) & set(EDITABLE),
        frozenset(wanted.lists) & {m.id for m in public},
        wanted.phone_number,
        wanted.unsubscribe_all_email,
        frozenset(wanted.offered) & set(OFFERED_ONLY),
    )
    phone = _new_phone(wanted, state, region)
    if phone is not None:
        try:
            profile_writes.update_profile(
                engine, account_id, profile_id, profile_writes.ProfileInput(values={"phone_number": phone})
            )
        except profile_writes.DuplicateProfile:
            # Don't say whose it is: the page is reachable by anyone holding the link.
            raise PhoneNeeded("phone_number", "this number can't be used here; try another") from None
    change = consent.change(
        engine,
        account_id,
        consent.Locator("id", profile_id),
        lambda state, now, _: _steps(state, now, wanted, public, proof),
        create=False,
    )
    return Saved(load(engine, account_id, profile_id), change.events)


def as_asked(prefs: Preferences, wanted: Wanted) -> Preferences:
    """The page with the boxes as the person ticked them (to show a refused form back unchanged)."""

    def as_sent(c: ChannelChoice) -> bool:
        return c.editable and (c.channel not in OFFERED_ONLY or c.channel in wanted.offered)

    channels = [replace(c, checked=c.channel in wanted.channels) if as_sent(c) else c for c in prefs.channels]
    lists = [replace(m, checked=m.id in wanted.lists) for m in prefs.lists] if prefs.has_email else prefs.lists
    return replace(prefs, channels=channels, lists=lists)


def channel_names(channels: Collection[str], field: str = "channel") -> frozenset[Channel]:
    """Form values ("email", "sms", …) as channels. A value that is no channel is refused (naming
    `field`), never read as a box left unticked: a form this page did not make changes nothing."""
    known = {c.value: c for c in Channel}
    unknown = sorted({c for c in channels if c not in known})
    if unknown:
        raise DomainError(field, "this form names a channel the page does not offer; nothing was saved",
                          ", ".join(unknown)[:100])  # fmt: skip
    return frozenset(known[c] for c in channels)
