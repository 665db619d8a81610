"""The consent state machine: each transition returns the events it causes, and does no I/O.

Transitions read the current state and emit events; `events.apply` alone changes state. A
transition that would change nothing emits nothing, so repeating a command is free and leaves
the ledger untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .channels import (
    ADDRESS_SUPPRESSIONS,
    CHANNEL_PURPOSES,
    CLEARED_BY_SUBSCRIBE,
    CLEARED_BY_UNSUPPRESS,
    MANUALLY_SUPPRESSED,
    MANUALLY_UNSUPPRESSED,
    MIN_CONSENT_DATE,
    NUMBER_CHANNELS,
    OPT_OUT_SUPPRESSIONS,
    SUBSCRIBED_TO_LIST,
    UNSUBSCRIBED_FROM_LIST,
    Channel,
    ConsentStatus,
    OptInProcess,
    Purpose,
    SuppressionReason,
    reset_metric,
    subscribed_metric,
    unsubscribed_metric,
)
from .errors import DomainError, MissingAddress, NothingPending
from .events import NO_PROOF, ConsentEvent, Emitted, EventType, Proof, apply
from .implied import IMPLIED_METHODS
from .push_tokens import PUSH_TOKEN_METHOD
from .state import ChannelConsent, ProfileState

Target = tuple[Channel, Purpose]

_ADDRESS_FIELD = {Channel.EMAIL: "email", Channel.SMS: "phone_number", Channel.WHATSAPP: "phone_number"}


class _Changes:
    """Collects events while keeping the state they lead to, so later steps see earlier ones."""

    def __init__(self, state: ProfileState, now: datetime, proof: Proof, historical: bool = False) -> None:
        self.state = state
        self.now = now
        self.events = Emitted(state)
        self._context = MappingProxyType(proof.context())
        self._personal = proof.personal()
        self._historical = historical

    def emit(self, type: EventType, *, address_of: Channel | None = None, **kw: Any) -> None:
        personal = dict(self._personal)
        if address_of in _ADDRESS_FIELD and (address := self.state.address(address_of)):
            personal[_ADDRESS_FIELD[address_of]] = address
        if "personal" in kw:
            personal.update(kw.pop("personal"))
        event = ConsentEvent(
            type=type,
            occurred_at=self.now,
            context=self._context,
            personal=MappingProxyType(personal),
            historical_import=self._historical,
            triggers_automation=not self._historical,
            **kw,
        )
        self.state = apply(self.state, event)
        self.events.added(event, self.state)


def _require_aware(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(field, "must carry a timezone", value.isoformat())


def _require_address(state: ProfileState, channel: Channel) -> None:
    if state.address(channel) is None:
        field = _ADDRESS_FIELD[channel]
        raise MissingAddress(field, f"the profile has no {field} to reach it by {channel.value}")


def _check_target(channel: Channel, purpose: Purpose) -> None:
    if purpose not in CHANNEL_PURPOSES[channel]:
        allowed = ", ".join(p.value for p in CHANNEL_PURPOSES[channel])
        raise DomainError("purpose", f"{channel.value} has purposes {allowed}", purpose.value)


def subscribe(
    state: ProfileState,
    targets: Iterable[Target],
    *,
    now: datetime,
    method: str = "API",
    method_detail: str | None = None,
    custom_source: str | None = None,
    consented_at: datetime | None = None,
    historical_import: bool = False,
    list_id: str | None = None,
    opt_in_process: OptInProcess = OptInProcess.SINGLE,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """Record an explicit opt-in for each (channel, purpose).

    A double opt-in list (unless `historical_import`) records a pending request instead: pending
    is not consent. `historical_import` needs a past `consented_at`, skips double opt-in and
    marks its events as triggering no automation. Consent dates before 1990-01-01 are clamped.
    """
    _require_aware(now, "now")
    targets = list(dict.fromkeys(targets))
    if not targets:
        raise DomainError("channels", "name at least one channel to subscribe")
    for channel, purpose in targets:
        _check_target(channel, purpose)
        _require_address(state, channel)
    clamped = False
    if historical_import:
        if consented_at is None:
            raise DomainError("consented_at", "historical_import needs the date consent was given")
        _require_aware(consented_at, "consented_at")
        if consented_at > now:
            raise DomainError("consented_at", "must be in the past for a historical import", consented_at.isoformat())
        if consented_at < MIN_CONSENT_DATE:
            consented_at, clamped = MIN_CONSENT_DATE, True
    elif consented_at is not None:
        raise DomainError("consented_at", "is accepted only with historical_import")

    c = _Changes(state, now, proof, historical=historical_import)
    double = opt_in_process is OptInProcess.DOUBLE and not historical_import
    for channel, purpose in targets:
        # Transactional SMS consent is always single opt-in.
        if double and not (channel is Channel.SMS and purpose is Purpose.TRANSACTIONAL):
            _request_optin(c, channel, purpose, list_id, method, method_detail, custom_source)
        else:
            _grant(
                c,
                channel,
                purpose,
                list_id,
                method=method,
                method_detail=method_detail,
                custom_method_detail=custom_source,
                consent_timestamp=consented_at or now,
                double_optin=False,
                clamped=clamped,
            )
    return c.events


def _request_optin(
    c: _Changes,
    channel: Channel,
    purpose: Purpose,
    list_id: str | None,
    method: str,
    method_detail: str | None,
    custom_source: str | None,
) -> None:
    already = c.state.status(channel, purpose) is ConsentStatus.SUBSCRIBED and (
        list_id is None or list_id in c.state.lists
    )
    if already or c.state.is_pending(channel, purpose, list_id or ""):
        return
    c.emit(
        EventType.OPTIN_REQUESTED,
        channel=channel,
        purpose=purpose,
        list_id=list_id,
        method=method,
        method_detail=method_detail,
        custom_method_detail=custom_source,
        address_of=channel,
    )


def _grant(
    c: _Changes,
    channel: Channel,
    purpose: Purpose,
    list_id: str | None,
    *,
    method: str | None,
    method_detail: str | None,
    custom_method_detail: str | None,
    consent_timestamp: datetime,
    double_optin: bool,
    clamped: bool = False,
) -> None:
    if c.state.status(channel, purpose) is not ConsentStatus.SUBSCRIBED or _renews_implied(
        c.state.consent(channel, purpose), method, consent_timestamp
    ):
        c.emit(
            EventType.CONSENT_CHANGED,
            metric=subscribed_metric(channel, purpose),
            channel=channel,
            purpose=purpose,
            list_id=list_id,
            status=ConsentStatus.SUBSCRIBED,
            method=method,
            method_detail=method_detail,
            custom_method_detail=custom_method_detail,
            double_optin=double_optin,
            consent_timestamp=consent_timestamp,
            timestamp_clamped=clamped,
            address_of=channel,
        )
    if channel is Channel.EMAIL:
        for reason in sorted(CLEARED_BY_SUBSCRIBE & c.state.suppressions.keys()):
            c.emit(EventType.SUPPRESSION_REMOVED, channel=channel, reason=reason.value, outcome="resubscribed")
    if list_id is not None:
        if list_id in c.state.list_suppressions:
            c.emit(EventType.LIST_SUPPRESSION_REMOVED, channel=channel, list_id=list_id, outcome="resubscribed")
        if list_id not in c.state.lists:
            c.emit(EventType.LIST_JOINED, metric=SUBSCRIBED_TO_LIST, channel=channel, list_id=list_id)
    # An opt-in that is now granted no longer waits for confirmation; a channel-level one ("") is
    # granted by consent on that channel through any list.
    for key in [k for k in c.state.pending if k[0] == channel and k[1] == purpose and k[2] in (list_id or "", "")]:
        c.emit(EventType.OPTIN_CLOSED, channel=key[0], purpose=key[1], list_id=key[2] or None, outcome="granted")


def _renews_implied(current: ChannelConsent, method: str | None, consent_timestamp: datetime) -> bool:
    """A consent on an implied basis (CASL, soft opt-in) is replaced by a new grant: an express
    one, or the same basis from a later purchase or inquiry (its window restarts)."""
    if current.method not in IMPLIED_METHODS:
        return False
    previous = current.consent_timestamp
    return method != current.method or previous is None or consent_timestamp > previous


def confirm_double_optin(
    state: ProfileState,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    list_id: str | None = None,
    *,
    now: datetime,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """The person confirmed: consent is granted with `double_optin: true` and the original method."""
    _require_aware(now, "now")
    request = state.pending.get((channel, purpose, list_id or ""))
    if request is None:
        raise NothingPending(
            "list_id" if list_id else "channel", "no double opt-in is pending here", list_id or channel.value
        )
    c = _Changes(state, now, proof)
    c.emit(EventType.OPTIN_CLOSED, channel=channel, purpose=purpose, list_id=list_id, outcome="confirmed")
    _grant(
        c,
        channel,
        purpose,
        list_id,
        method=request.method,
        method_detail=request.method_detail,
        custom_method_detail=request.custom_method_detail,
        consent_timestamp=now,
        double_optin=True,
    )
    return c.events


def cancel_double_optin(
    state: ProfileState,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    list_id: str | None = None,
    *,
    now: datetime,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """The request was refused ("this wasn't me") or expired: it closes, consent is unchanged."""
    _require_aware(now, "now")
    if (channel, purpose, list_id or "") not in state.pending:
        return []
    c = _Changes(state, now, proof)
    c.emit(EventType.OPTIN_CLOSED, channel=channel, purpose=purpose, list_id=list_id, outcome="cancelled")
    return c.events


def _unsubscribe_targets(channel: Channel, purpose: Purpose) -> tuple[Target, ...]:
    # One SMS opt-out covers marketing and transactional, whichever was named.
    if channel is Channel.SMS:
        return ((Channel.SMS, Purpose.MARKETING), (Channel.SMS, Purpose.TRANSACTIONAL))
    return ((channel, purpose),)


def unsubscribe(
    state: ProfileState,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    *,
    now: datetime,
    list_id: str | None = None,
    method: str = "API",
    method_detail: str | None = None,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """Withdraw consent on one channel only.

    With a list the profile belongs to, an email unsubscribe leaves that list (and is suppressed
    from it) and keeps channel consent; for a list the profile is not in, it is a channel-wide
    unsubscribe, as Klaviyo does. An email unsubscribe adds an `UNSUBSCRIBE` suppression.
    """
    _require_aware(now, "now")
    _check_target(channel, purpose)
    c = _Changes(state, now, proof)
    existing = state.list_suppressions.get(list_id) if list_id is not None else None
    # A profile that already unsubscribed from this list is not a stranger to it: a repeated list
    # unsubscribe (a second click, a retried one-click POST) must not widen into a global one.
    left_already = existing is not None and existing.reason == SuppressionReason.UNSUBSCRIBE.value
    if list_id is not None and channel is Channel.EMAIL and (list_id in state.lists or left_already):
        if list_id in state.lists:
            c.emit(EventType.LIST_LEFT, metric=UNSUBSCRIBED_FROM_LIST, channel=channel, list_id=list_id, method=method)
        if existing is None or existing.reason != SuppressionReason.UNSUBSCRIBE.value:
            c.emit(
                EventType.LIST_SUPPRESSION_ADDED,
                channel=channel,
                list_id=list_id,
                reason=SuppressionReason.UNSUBSCRIBE.value,
            )
        _close_pending(c, channel, list_id=list_id)
        return c.events
    for ch, p in _unsubscribe_targets(channel, purpose):
        _withdraw(c, ch, p, method, method_detail)
        _close_pending(c, ch, purpose=p)
    if channel is Channel.EMAIL and SuppressionReason.UNSUBSCRIBE not in c.state.suppressions:
        c.emit(EventType.SUPPRESSION_ADDED, channel=channel, reason=SuppressionReason.UNSUBSCRIBE.value)
    return c.events


def _withdraw(c: _Changes, channel: Channel, purpose: Purpose, method: str | None, method_detail: str | None) -> None:
    if c.state.status(channel, purpose) is ConsentStatus.UNSUBSCRIBED:
        return
    c.emit(
        EventType.CONSENT_CHANGED,
        metric=unsubscribed_metric(channel, purpose),
        channel=channel,
        purpose=purpose,
        status=ConsentStatus.UNSUBSCRIBED,
        method=method,
        method_detail=method_detail,
        consent_timestamp=c.now,
        address_of=channel,
    )


def _close_pending(
    c: _Changes, channel: Channel, *, purpose: Purpose | None = None, list_id: str | None = None
) -> None:
    for key in list(c.state.pending):
        if key[0] == channel and (purpose is None or key[1] == purpose) and (list_id is None or key[2] == list_id):
            c.emit(EventType.OPTIN_CLOSED, channel=key[0], purpose=key[1], list_id=key[2] or None, outcome="withdrawn")


def suppress(
    state: ProfileState,
    reason: SuppressionReason = SuppressionReason.USER_SUPPRESSED,
    *,
    now: datetime,
    list_id: str | None = None,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """Suppress email (suppression exists for email only), globally or from one list.

    Consent is kept, except that an `UNSUBSCRIBE` or `SPAM_COMPLAINT` suppression is an opt-out.
    """
    _require_aware(now, "now")
    _require_address(state, Channel.EMAIL)
    c = _Changes(state, now, proof)
    if list_id is not None:
        existing = state.list_suppressions.get(list_id)
        if existing is None or existing.reason != reason.value:
            c.emit(EventType.LIST_SUPPRESSION_ADDED, channel=Channel.EMAIL, list_id=list_id, reason=reason.value)
        return c.events
    if reason in OPT_OUT_SUPPRESSIONS:
        _withdraw(c, Channel.EMAIL, Purpose.MARKETING, reason.value, None)
    if reason not in c.state.suppressions:
        metric = MANUALLY_SUPPRESSED if reason is SuppressionReason.USER_SUPPRESSED else None
        c.emit(
            EventType.SUPPRESSION_ADDED,
            metric=metric,
            channel=Channel.EMAIL,
            reason=reason.value,
            address_of=Channel.EMAIL,
        )
    return c.events


def unsuppress(
    state: ProfileState,
    *,
    now: datetime,
    list_id: str | None = None,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """Lift a manual suppression. Only `USER_SUPPRESSED` is lifted: bounces, invalid addresses,
    unsubscribes and complaints stay until a new address or a new subscription."""
    _require_aware(now, "now")
    c = _Changes(state, now, proof)
    if list_id is not None:
        existing = state.list_suppressions.get(list_id)
        if existing is not None and existing.reason in {r.value for r in CLEARED_BY_UNSUPPRESS}:
            c.emit(EventType.LIST_SUPPRESSION_REMOVED, channel=Channel.EMAIL, list_id=list_id, outcome="unsuppressed")
        return c.events
    for reason in sorted(CLEARED_BY_UNSUPPRESS & state.suppressions.keys()):
        c.emit(
            EventType.SUPPRESSION_REMOVED,
            metric=MANUALLY_UNSUPPRESSED,
            channel=Channel.EMAIL,
            reason=reason.value,
            outcome="unsuppressed",
        )
    return c.events


def change_phone_number(
    state: ProfileState, new: str | None, *, now: datetime, proof: Proof = NO_PROOF
) -> list[ConsentEvent]:
    """SMS (and WhatsApp) consent belongs to the number: a new number starts NEVER_SUBSCRIBED.

    The old number's consent history stays in the ledger, which recorded the number each time.
    """
    _require_aware(now, "now")
    old = state.phone_number
    if new == old:
        return []
    c = _Changes(state, now, proof)
    for channel in NUMBER_CHANNELS:
        for purpose in CHANNEL_PURPOSES[channel]:
            if c.state.status(channel, purpose) is not ConsentStatus.NEVER_SUBSCRIBED:
                c.emit(
                    EventType.CONSENT_CHANGED,
                    metric=reset_metric(channel, purpose),
                    channel=channel,
                    purpose=purpose,
                    status=ConsentStatus.NEVER_SUBSCRIBED,
                    outcome="phone_number_changed",
                    address_of=channel,
                )
        _close_pending(c, channel)
    if old is not None:  # a first number is not a change worth a ledger entry
        c.emit(EventType.IDENTIFIER_CHANGED, identifier="phone_number", personal={"old": old, "new": new or ""})
    return c.events


def change_email(state: ProfileState, new: str | None, *, now: datetime, proof: Proof = NO_PROOF) -> list[ConsentEvent]:
    """Email consent and opt-outs stay with the person; bounce and invalid-address suppressions
    describe the old address and are lifted."""
    _require_aware(now, "now")
    old = state.email
    if new == old:
        return []
    c = _Changes(state, now, proof)
    for reason in sorted(ADDRESS_SUPPRESSIONS & state.suppressions.keys()):
        c.emit(EventType.SUPPRESSION_REMOVED, channel=Channel.EMAIL, reason=reason.value, outcome="email_changed")
    if old is not None:
        c.emit(EventType.IDENTIFIER_CHANGED, identifier="email", personal={"old": old, "new": new or ""})
    return c.events


def add_to_list(state: ProfileState, list_id: str, *, now: datetime, proof: Proof = NO_PROOF) -> list[ConsentEvent]:
    """Make the profile a member of a list without touching consent (Klaviyo's "Add to List").

    Membership is not consent: a send to the list is still decided on the channel's consent."""
    _require_aware(now, "now")
    if list_id in state.lists:
        return []
    c = _Changes(state, now, proof)
    c.emit(EventType.LIST_JOINED, list_id=list_id, outcome="added")
    return c.events


def remove_from_list(
    state: ProfileState, list_id: str, *, now: datetime, proof: Proof = NO_PROOF, outcome: str = "removed"
) -> list[ConsentEvent]:
    """End the profile's membership of a list without touching consent (Klaviyo's "Remove from
    List"): no opt-out, no list suppression, so a later send is still decided on consent alone.

    `outcome` says why ("removed", or "list_deleted" when the list itself goes)."""
    _require_aware(now, "now")
    if list_id not in state.lists:
        return []
    c = _Changes(state, now, proof)
    c.emit(EventType.LIST_LEFT, list_id=list_id, outcome=outcome)
    return c.events


def follow_push_tokens(
    state: ProfileState,
    *,
    now: datetime,
    denied: bool = False,
    method_detail: str | None = None,
    proof: Proof = NO_PROOF,
) -> list[ConsentEvent]:
    """Push marketing consent follows the profile's devices, as Klaviyo defines it: SUBSCRIBED
    while at least one push token is AUTHORIZED (`state.push_tokens`), UNSUBSCRIBED when the last
    one goes or loses its permission. A profile that never had consent and whose device answered
    DENIED (`denied`) refused it explicitly, and is UNSUBSCRIBED too; a token whose permission is
    not decided yet changes nothing."""
    status = state.status(Channel.PUSH)
    if state.push_tokens > 0:
        if status is ConsentStatus.SUBSCRIBED:
            return []
        targets = [(Channel.PUSH, Purpose.MARKETING)]
        return subscribe(state, targets, now=now, method=PUSH_TOKEN_METHOD, method_detail=method_detail, proof=proof)
    if status is ConsentStatus.SUBSCRIBED or (denied and status is ConsentStatus.NEVER_SUBSCRIBED):
        detail = method_detail
        return unsubscribe(state, Channel.PUSH, now=now, method=PUSH_TOKEN_METHOD, method_detail=detail, proof=proof)
    return []
