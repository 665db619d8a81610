"""`decide(state, send)`: may this profile get this message now, and why (not)?

A decision runs every rule and keeps every finding, so a DENY lists all that stands in the way,
not just the first. Rules are plain functions over (state, send): the core rules here, then the
jurisdiction packs' rules and the frequency caps (`pack_rules`), which find nothing unless a pack
applies to the recipient or the account sets caps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .channels import CHANNEL_PURPOSES, Channel, ConsentStatus, Purpose, SuppressionReason
from .errors import DomainError
from .findings import Finding as Finding
from .findings import Reason as Reason
from .findings import Verdict as Verdict
from .findings import allow, deny, warn
from .jurisdictions import Pack, Recipient, packs_for
from .pack_rules import PACK_RULES, FrequencyCap
from .state import NEVER_SUBSCRIBED, ProfileState


class Via(StrEnum):
    CAMPAIGN = "campaign"
    FLOW = "flow"


# Transactional email still goes to unsubscribed or manually suppressed profiles, never to an
# address that bounced, is invalid or complained.
TRANSACTIONAL_EMAIL_BLOCKERS = frozenset(
    {SuppressionReason.HARD_BOUNCE, SuppressionReason.INVALID_EMAIL, SuppressionReason.SPAM_COMPLAINT}
)


@dataclass(frozen=True, slots=True)
class Policy:
    """An account's sending policy. Defaults follow Klaviyo."""

    email_campaigns_require_explicit_consent: bool = False
    jurisdictions: tuple[Pack, ...] | None = None  # None: from each profile's country
    frequency_caps: tuple[FrequencyCap, ...] = ()


@dataclass(frozen=True, slots=True)
class Send:
    channel: Channel
    now: datetime
    purpose: Purpose = Purpose.MARKETING
    via: Via = Via.CAMPAIGN
    list_id: str | None = None
    policy: Policy = field(default_factory=Policy)
    recipient: Recipient = field(default_factory=Recipient)  # where the profile is (jurisdiction packs)
    recent_sends: tuple[datetime, ...] = ()  # reported sends on this channel and purpose (frequency caps)

    def __post_init__(self) -> None:
        allowed = send_purposes(self.channel)
        if self.purpose not in allowed:
            names = ", ".join(sorted(p.value for p in allowed))
            raise DomainError(
                "purpose", f"must be one of {names} for a send on {self.channel.value}", self.purpose.value
            )


def send_purposes(channel: Channel) -> set[Purpose]:
    """What a message on `channel` can be: its consent purposes, and for email also transactional
    (email has no transactional consent; transactional email needs none)."""
    allowed = set(CHANNEL_PURPOSES[channel])
    if channel is Channel.EMAIL:
        allowed.add(Purpose.TRANSACTIONAL)
    return allowed


def parse_send_purpose(channel: Channel, value: str | None, field: str = "purpose") -> Purpose:
    if not value:
        return Purpose.MARKETING
    try:
        purpose = Purpose(value.strip().lower())
    except ValueError:
        purpose = None
    allowed = send_purposes(channel)
    if purpose not in allowed:
        names = ", ".join(sorted(p.value for p in allowed))
        raise DomainError(field, f"must be one of {names} for a send on {channel.value}", value)
    return purpose


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    defer_until: datetime | None = None
    consent_expired_at: datetime | None = None  # with IMPLIED_CONSENT_EXPIRED

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


# A rule returns its findings (most often none, or one): a tuple, not a generator, because
# decide() runs every rule for every send and a generator costs more to make than the check.
Rule = Callable[[ProfileState, Send], Iterable[Finding]]
NOTHING: tuple[Finding, ...] = ()


def _one(finding: Finding) -> tuple[Finding, ...]:
    return (finding,)


# Results made once: the common verdicts come from one of these, and decide() answers them with a
# Decision made once too (_KNOWN below).
_DENY = {r: _one(deny(r)) for r in Reason}
_NO_ADDRESS = _DENY[Reason.NO_ADDRESS]
_SUBSCRIBED = _one(allow(Reason.SUBSCRIBED))
_UNSUBSCRIBED = _DENY[Reason.UNSUBSCRIBED]
_COVERS_TRANSACTIONAL = _one(allow(Reason.MARKETING_CONSENT_COVERS_TRANSACTIONAL))
_NOT_OPTED_OUT = (allow(Reason.NOT_OPTED_OUT), warn(Reason.IMPLIED_CONSENT))
_TRANSACTIONAL_EXEMPT = _one(allow(Reason.TRANSACTIONAL_EXEMPT))
_NO_PUSH_TOKEN = _DENY[Reason.NO_PUSH_TOKEN]
_SUPPRESSED = {r: deny(Reason(f"SUPPRESSED_{r.value}")) for r in SuppressionReason}
_SUPPRESSED_ONE = {r: _one(f) for r, f in _SUPPRESSED.items()}


def address_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    if send.channel is Channel.EMAIL:  # the common case, without the call
        return _NO_ADDRESS if state.email is None else NOTHING
    return _NO_ADDRESS if state.address(send.channel) is None else NOTHING


def suppression_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    if send.channel is not Channel.EMAIL or not state.suppressions:
        return NOTHING
    blocking: AbstractSet[SuppressionReason] = state.suppressions.keys()
    if send.purpose is Purpose.TRANSACTIONAL:
        blocking = blocking & TRANSACTIONAL_EMAIL_BLOCKERS
    if len(blocking) == 1:
        for reason in blocking:
            return _SUPPRESSED_ONE[reason]
    return tuple(_SUPPRESSED[reason] for reason in sorted(blocking))


def consent_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    ch, purpose = send.channel, send.purpose
    if ch is Channel.EMAIL:
        return _email_consent(state, send)
    if ch is Channel.POSTAL:
        return _postal_consent(state)
    # state.status() inlined: this runs for every send.
    if state.consents.get((ch, purpose), NEVER_SUBSCRIBED).status is ConsentStatus.SUBSCRIBED:
        return _SUBSCRIBED
    if ch is Channel.SMS:
        marketing = state.status(Channel.SMS, Purpose.MARKETING)
        if purpose is Purpose.TRANSACTIONAL and marketing is ConsentStatus.SUBSCRIBED:
            return _COVERS_TRANSACTIONAL
        transactional = state.status(Channel.SMS, Purpose.TRANSACTIONAL)
        if purpose is Purpose.MARKETING and transactional is ConsentStatus.SUBSCRIBED:
            return _DENY[Reason.TRANSACTIONAL_CONSENT_ONLY]
    return _DENY[_why_not(state, ch, purpose)]


def _why_not(state: ProfileState, channel: Channel, purpose: Purpose) -> Reason:
    if state.status(channel, purpose) is ConsentStatus.UNSUBSCRIBED:
        return Reason.UNSUBSCRIBED
    if state.pending and state.is_pending(channel, purpose):
        return Reason.DOUBLE_OPTIN_PENDING
    return Reason.NEVER_SUBSCRIBED


_EMAIL_MARKETING = (Channel.EMAIL, Purpose.MARKETING)


def _email_consent(state: ProfileState, send: Send) -> tuple[Finding, ...]:
    if send.purpose is Purpose.TRANSACTIONAL:
        return _TRANSACTIONAL_EXEMPT
    status = state.consents.get(_EMAIL_MARKETING, NEVER_SUBSCRIBED).status
    if status is ConsentStatus.SUBSCRIBED:
        return _SUBSCRIBED
    if status is ConsentStatus.UNSUBSCRIBED:
        return _UNSUBSCRIBED
    if send.via is Via.CAMPAIGN and send.policy.email_campaigns_require_explicit_consent:
        return _DENY[_why_not(state, Channel.EMAIL, Purpose.MARKETING)]
    # As in Klaviyo, an unconfirmed double opt-in leaves the profile where it was: not
    # subscribed, and reachable by email like any profile that never opted out.
    return _NOT_OPTED_OUT


def _postal_consent(state: ProfileState) -> tuple[Finding, ...]:
    """Direct mail needs no opt-in: only an explicit postal opt-out stops it."""
    status = state.status(Channel.POSTAL)
    if status is ConsentStatus.SUBSCRIBED:
        return _SUBSCRIBED
    if status is ConsentStatus.UNSUBSCRIBED:
        return _UNSUBSCRIBED
    return _NOT_OPTED_OUT


def push_token_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """A push goes to devices: with no AUTHORIZED push token there is none to send to, whatever the
    consent record says (consent given through a bulk job or an import names no device)."""
    return _NO_PUSH_TOKEN if send.channel is Channel.PUSH and state.push_tokens <= 0 else NOTHING


# A profile whose subscription to the list waits for confirmation is not a member yet (pending
# is not consent): it gets DOUBLE_OPTIN_PENDING, which says why, and NOT_IN_LIST too.
_PENDING_MEMBER: tuple[Reason, ...] = (Reason.DOUBLE_OPTIN_PENDING, Reason.NOT_IN_LIST)
_NOT_MEMBER: tuple[Reason, ...] = (Reason.NOT_IN_LIST,)
_LIST: dict[tuple[bool, tuple[Reason, ...]], tuple[Finding, ...]] = {
    (suppressed, missing): tuple(
        [*([deny(Reason.LIST_SUPPRESSED)] if suppressed else []), *(deny(reason) for reason in missing)]
    )
    for suppressed in (False, True)
    for missing in ((), _PENDING_MEMBER, _NOT_MEMBER)
}


def list_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    if send.list_id is None or send.purpose is not Purpose.MARKETING:
        return NOTHING
    missing: tuple[Reason, ...] = ()
    if send.list_id not in state.lists:
        pending = state.is_pending(send.channel, Purpose.MARKETING, send.list_id)
        missing = _PENDING_MEMBER if pending else _NOT_MEMBER
    return _LIST[(send.list_id in state.list_suppressions, missing)]


CORE_RULES: tuple[Rule, ...] = (address_rule, suppression_rule, consent_rule, push_token_rule, list_rule)
DEFAULT_RULES: tuple[Rule, ...] = (*CORE_RULES, *PACK_RULES)


def _rules_for(send: Send) -> tuple[Rule, ...]:
    """The default rules that can find anything for `send`, in their order. Every other rule
    returns nothing for it whatever the state: the suppression rule is for email, the push token
    rule for push, the list rule for a marketing send to a list, and the packs' rules and caps
    only when a pack applies to the recipient or the account sets caps (pack_rules.py)."""
    ch = send.channel
    rules: list[Rule] = []
    if ch is not Channel.PUSH and ch is not Channel.POSTAL:  # they count as addressed (state.address)
        rules.append(address_rule)
    if ch is Channel.EMAIL:
        rules.append(suppression_rule)
    rules.append(consent_rule)
    if ch is Channel.PUSH:
        rules.append(push_token_rule)
    if send.list_id is not None and send.purpose is Purpose.MARKETING:
        rules.append(list_rule)
    if send.policy.frequency_caps or packs_for(send.recipient, send.policy.jurisdictions):
        rules.extend(PACK_RULES)
    return tuple(rules)


def _assemble(results: Iterable[Iterable[Finding]]) -> Decision:
    """The decision the rules' results give: one pass sorts the findings by kind, keeping each
    code once in the order found."""
    denies: dict[str, None] = {}
    defers: dict[str, None] = {}
    allows: dict[str, None] = {}
    warnings: dict[str, None] = {}
    expired: datetime | None = None
    until: datetime | None = None
    for result in results:
        for f in result:
            kind = f.kind
            if kind is Verdict.DENY:
                denies[f.code] = None
                if f.expired_at is not None and (expired is None or f.expired_at > expired):
                    expired = f.expired_at
            elif kind is Verdict.ALLOW:
                allows[f.code] = None
            elif kind is None:
                warnings[f.code] = None
            else:
                defers[f.code] = None
                if f.defer_until is not None and (until is None or f.defer_until > until):
                    until = f.defer_until
    if denies:  # warnings qualify a send; a denied one has none
        return Decision(Verdict.DENY, tuple(denies), consent_expired_at=expired)
    if defers:
        return Decision(Verdict.DEFER, tuple(defers), tuple(warnings), until)
    return Decision(Verdict.ALLOW, tuple(allows), tuple(warnings))


def _decide_by(state: ProfileState, send: Send, rules: Sequence[Rule]) -> Decision:
    """Run `rules` and assemble their findings."""
    results = [result for rule in rules if (result := rule(state, send))]
    # Most decisions come from results made once (the rules hand out shared tuples), so their
    # Decision is looked up by which ones they were; any other result is assembled each time.
    key = tuple(map(id, results))
    known = _KNOWN.get(key)
    if known is not None:
        return known
    decision = _assemble(results)
    if len(_KNOWN) < 4096 and all(i in _SHARED for i in key):
        _KNOWN[key] = decision
    return decision


Decider = Callable[[ProfileState], Decision]


def _decider(send: Send) -> Decider:
    """decide(state, send) under the default rules, as a function of the state alone.

    With no pack and no cap in play, each core rule hands out one of a few results made once, so
    a decision is fixed by which results they were. The decider works those out with no list of
    results built: the consent rule's result, whether the address is missing, whether a push has
    no device and the list rule's result; the common case (address, device, list all fine) looks
    the decision up by the consent result's id in a table made once per send, the rest in a table
    filled as they come. An email profile with a suppression runs every rule (`_decide_by`). The
    answer is the same either way, as a property test holds.
    """
    rules = _rules_for(send)
    if len(rules) > len(CORE_RULES):

        def by_rules(state: ProfileState) -> Decision:
            return _decide_by(state, send, rules)

        return by_rules  # packs or caps: every rule, every time
    ch = send.channel
    email = ch is Channel.EMAIL
    phone = ch is Channel.SMS or ch is Channel.WHATSAPP
    push = ch is Channel.PUSH
    purpose = send.purpose
    key = (ch, purpose)
    # The consent rule without the call (consent_rule below is the reference): transactional
    # email needs no consent; for SMS the other purpose's consent decides next; then an
    # unsubscribe; with no consent and no pending opt-in, what NEVER_SUBSCRIBED gives.
    fixed = _TRANSACTIONAL_EXEMPT if email and purpose is Purpose.TRANSACTIONAL else None
    other_key: tuple[Channel, Purpose] | None = None
    other_result: tuple[Finding, ...] = NOTHING
    if ch is Channel.SMS:
        other_key = (ch, Purpose.MARKETING if purpose is Purpose.TRANSACTIONAL else Purpose.TRANSACTIONAL)
        marketing = purpose is Purpose.MARKETING
        other_result = _DENY[Reason.TRANSACTIONAL_CONSENT_ONLY] if marketing else _COVERS_TRANSACTIONAL
    never = consent_rule(ProfileState(), send)
    list_id = send.list_id if list_rule in rules else None
    shared = (*_DENY.values(), _SUBSCRIBED, _NOT_OPTED_OUT, _TRANSACTIONAL_EXEMPT, _COVERS_TRANSACTIONAL)
    found = {id(t): _assemble((t,)) for t in shared}
    unaddressed = {id(t): _assemble((_NO_ADDRESS, t)) for t in shared}
    others: dict[tuple[bool, int, bool, int], Decision] = {}
    subscribed, unsubscribed = ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED

    def decider(state: ProfileState) -> Decision:
        if email:
            if state.suppressions:
                return _decide_by(state, send, rules)
            missing = state.email is None
        else:
            missing = phone and state.phone_number is None
        consents = state.consents
        result: tuple[Finding, ...]
        if fixed is not None:
            result = fixed
        else:
            status = consents.get(key, NEVER_SUBSCRIBED).status if consents else None
            if status is subscribed:
                result = _SUBSCRIBED
            elif other_key is not None and consents and consents.get(other_key, NEVER_SUBSCRIBED).status is subscribed:
                result = other_result
            elif status is unsubscribed:
                result = _UNSUBSCRIBED
            elif state.pending:
                result = consent_rule(state, send)  # type: ignore[assignment]
            else:
                result = never  # type: ignore[assignment]
        no_device = push and state.push_tokens <= 0
        in_list: Iterable[Finding] = NOTHING
        if list_id is not None and (list_id not in state.lists or list_id in state.list_suppressions):
            in_list = list_rule(state, send)
        if not no_device and not in_list:
            decision = (unaddressed if missing else found).get(id(result))
            if decision is not None:
                return decision
            return _decide_by(state, send, rules)
        mixed = (missing, id(result), no_device, id(in_list))
        decision = others.get(mixed)
        if decision is None:
            decision = _decide_by(state, send, rules)
            if id(result) in found and len(others) < 256:  # every result in the key is a shared one
                others[mixed] = decision
        return decision

    return decider


def _no_send(state: ProfileState) -> Decision:
    raise AssertionError("decide() sets the decider before calling it")


_last: tuple[Send | None, Decider] = (None, _no_send)


def decide(state: ProfileState, send: Send, rules: Sequence[Rule] = DEFAULT_RULES) -> Decision:
    global _last
    if rules is not DEFAULT_RULES:
        return _decide_by(state, send, rules)
    last = _last
    if last[0] is not send:
        last = _last = (send, _decider(send))
    return last[1](state)


# The results made once, by id: they live as long as the module, so no other object has their
# id, and a key of their ids names them alone.
_SHARED = {
    id(t): t
    for t in (
        *_DENY.values(), *_SUPPRESSED_ONE.values(), *_LIST.values(), _SUBSCRIBED, _NOT_OPTED_OUT,
        _TRANSACTIONAL_EXEMPT, _COVERS_TRANSACTIONAL,
    )
}  # fmt: skip
_KNOWN: dict[tuple[int, ...], Decision] = {}


_EMAIL = (Channel.EMAIL, Purpose.MARKETING)
_EMAIL_TRANSACTIONAL = (Channel.EMAIL, Purpose.TRANSACTIONAL)
_SMS = (Channel.SMS, Purpose.MARKETING)
_SMS_TRANSACTIONAL = (Channel.SMS, Purpose.TRANSACTIONAL)
_PUSH = (Channel.PUSH, Purpose.MARKETING)
_WHATSAPP = (Channel.WHATSAPP, Purpose.MARKETING)
_WHATSAPP_TRANSACTIONAL = (Channel.WHATSAPP, Purpose.TRANSACTIONAL)
_WHATSAPP_CONVERSATIONAL = (Channel.WHATSAPP, Purpose.CONVERSATIONAL)
_POSTAL = (Channel.POSTAL, Purpose.MARKETING)


def receive_flags(state: ProfileState) -> dict[tuple[Channel, Purpose], bool]:
    """`decide(...).allowed` for a flow send to no list under the default rules, for every channel
    and purpose, without building explanations: the `can_receive_*` flags of every profile a page
    shows. A property test holds each flag equal to `decide`."""
    consents = state.consents
    email_ok = state.email is not None
    phone_ok = state.phone_number is not None
    suppressed = state.suppressions
    subscribed, unsubscribed = ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED

    def status(key: tuple[Channel, Purpose]) -> ConsentStatus | None:
        c = consents.get(key)
        return None if c is None else c.status

    sms_marketing = phone_ok and status(_SMS) is subscribed
    return {
        _EMAIL: email_ok and not suppressed and status(_EMAIL) is not unsubscribed,
        _EMAIL_TRANSACTIONAL: email_ok and (not suppressed or not (suppressed.keys() & TRANSACTIONAL_EMAIL_BLOCKERS)),
        _SMS: sms_marketing,
        _SMS_TRANSACTIONAL: phone_ok and (sms_marketing or status(_SMS_TRANSACTIONAL) is subscribed),
        _PUSH: status(_PUSH) is subscribed and state.push_tokens > 0,
        _WHATSAPP: phone_ok and status(_WHATSAPP) is subscribed,
        _WHATSAPP_TRANSACTIONAL: phone_ok and status(_WHATSAPP_TRANSACTIONAL) is subscribed,
        _WHATSAPP_CONVERSATIONAL: phone_ok and status(_WHATSAPP_CONVERSATIONAL) is subscribed,
        _POSTAL: status(_POSTAL) is not unsubscribed,
    }
