"""What staff change from the console: each change goes through the consent use cases (and so the
recorder), names the staff user as its actor, carries method STAFF and the reason they gave.

A viewer is refused before anything is read; every change needs a reason. Consent granted by staff
records how the person gave it (`method_detail`, one of CONSENT_BASES) and the evidence
(`custom_method_detail`), as Klaviyo's manual subscribe does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine

from ...domain import (
    CHANNEL_PURPOSES,
    Channel,
    ConsentEvent,
    DomainError,
    OptInProcess,
    ProfileState,
    Proof,
    Purpose,
    SuppressionReason,
    Via,
)
from ...domain import transitions as t
from ..accounts.settings import Look
from ..consent import double_optin
from ..consent.changes import Change, change
from ..lists.lists import MailingList
from ..profiles.locator import Locator
from ..profiles.reading import ProfileDecision, decide_for
from ..profiles.writes import ProfileInput, update_profile
from .staff import StaffUser, require_change

METHOD = "STAFF"
MAX_REASON = 500
MAX_EVIDENCE = 1000
# How the person gave the consent staff record (the event's method_detail).
CONSENT_BASES = {
    "verbal": "Told us on a call or in person",
    "written": "Signed a paper or email request",
    "in_store": "Opted in at a point of sale",
    "support_ticket": "Asked in a support ticket",
    "other": "Other (see the evidence)",
}


@dataclass(frozen=True, slots=True)
class StaffContext:
    """Who makes the change, why, and from where."""

    user: StaffUser
    reason: str
    ip: str | None = None
    user_agent: str | None = None

    def proof(self) -> Proof:
        return Proof(source="console", actor=self.user.actor, note=self.reason, ip=self.ip, user_agent=self.user_agent)


def _checked(ctx: StaffContext) -> StaffContext:
    require_change(ctx.user)
    reason = " ".join((ctx.reason or "").split())
    if not reason:
        raise DomainError("reason", "say why you make this change; it is kept in the ledger")
    if len(reason) > MAX_REASON:
        raise DomainError("reason", f"keep the reason under {MAX_REASON} characters")
    return replace(ctx, reason=reason)


def _stamped(events: list[ConsentEvent]) -> list[ConsentEvent]:
    """Every event staff cause carries method STAFF (suppressions have no consent method of their own)."""
    return [e if e.method else replace(e, method=METHOD) for e in events]


Step = Callable[[ProfileState, datetime, Proof, MailingList | None], list[ConsentEvent]]  # the list: the one named


def _run(engine: Engine, ctx: StaffContext, profile_id: str, step: Step, list_id: str | None = None) -> Change:
    ctx = _checked(ctx)
    proof = ctx.proof()

    def transition(state: ProfileState, now: datetime, listed: MailingList | None) -> list[ConsentEvent]:
        return _stamped(step(state, now, proof, listed))

    return change(engine, ctx.user.account_id, Locator("id", profile_id), transition, list_id=list_id, create=False)


def _target(channel: str, purpose: str) -> tuple[Channel, Purpose]:
    try:
        ch, pu = Channel(channel), Purpose(purpose)
    except ValueError:
        raise DomainError("channel", "not a channel and purpose", f"{channel}/{purpose}") from None
    if pu not in CHANNEL_PURPOSES[ch]:
        raise DomainError("purpose", f"{ch.value} has no {pu.value} consent", pu.value)
    return ch, pu


def subscribe(
    engine: Engine,
    ctx: StaffContext,
    profile_id: str,
    channel: str,
    purpose: str,
    basis: str,
    evidence: str,
    list_id: str | None = None,
) -> Change:
    """Record consent the person gave staff, to the address the profile holds for the channel (and
    to the list `list_id`, which must be the account's: NotFound otherwise, as the API says)."""
    ch, pu = _target(channel, purpose)
    if basis not in CONSENT_BASES:
        raise DomainError("basis", f"say how the person consented: {', '.join(CONSENT_BASES)}", basis)
    evidence = " ".join((evidence or "").split())
    if not evidence:
        raise DomainError("evidence", "describe the evidence of consent (a ticket number, a form reference)")
    if len(evidence) > MAX_EVIDENCE:
        raise DomainError("evidence", f"keep the evidence under {MAX_EVIDENCE} characters")

    def step(state: ProfileState, now: datetime, proof: Proof, listed: MailingList | None) -> list[ConsentEvent]:
        return t.subscribe(state, [(ch, pu)], now=now, method=METHOD, method_detail=basis, custom_source=evidence,
                           list_id=list_id, proof=proof,
                           opt_in_process=listed.opt_in_process if listed else OptInProcess.SINGLE)  # fmt: skip

    return _run(engine, ctx, profile_id, step, list_id=list_id)


def unsubscribe(
    engine: Engine, ctx: StaffContext, profile_id: str, channel: str, purpose: str, list_id: str | None = None
) -> Change:
    ch, pu = _target(channel, purpose)

    def step(state: ProfileState, now: datetime, proof: Proof, listed: MailingList | None) -> list[ConsentEvent]:
        return t.unsubscribe(state, ch, pu, now=now, list_id=list_id, method=METHOD, method_detail="console",
                             proof=proof)  # fmt: skip

    return _run(engine, ctx, profile_id, step, list_id=list_id)


def suppress(engine: Engine, ctx: StaffContext, profile_id: str) -> Change:
    """Suppress email (USER_SUPPRESSED): consent is kept, email marketing stops."""

    def step(state: ProfileState, now: datetime, proof: Proof, listed: MailingList | None) -> list[ConsentEvent]:
        return t.suppress(state, SuppressionReason.USER_SUPPRESSED, now=now, proof=proof)

    return _run(engine, ctx, profile_id, step)


def unsuppress(engine: Engine, ctx: StaffContext, profile_id: str) -> Change:
    """Lift a manual suppression; bounces, invalid addresses, unsubscribes and complaints stay."""

    def step(state: ProfileState, now: datetime, proof: Proof, listed: MailingList | None) -> list[ConsentEvent]:
        return t.unsuppress(state, now=now, proof=proof)

    return _run(engine, ctx, profile_id, step)


def remove_list_suppression(engine: Engine, ctx: StaffContext, profile_id: str, list_id: str) -> Change:
    """Lift a manual list suppression. A list suppression that is the person's own unsubscribe is
    lifted only by their new consent (a subscribe to the list), never by staff alone."""

    def step(state: ProfileState, now: datetime, proof: Proof, listed: MailingList | None) -> list[ConsentEvent]:
        existing = state.list_suppressions.get(list_id)
        if existing is None:
            raise DomainError("list", "the profile has no suppression for this list", list_id)
        if existing.reason != SuppressionReason.USER_SUPPRESSED.value:
            raise DomainError(
                "list",
                f"this list suppression ({existing.reason}) is the person's own choice: "
                "only their new consent lifts it",
                list_id,
            )
        return t.unsuppress(state, now=now, list_id=list_id, proof=proof)

    return _run(engine, ctx, profile_id, step, list_id=list_id)


def resend_confirmation(engine: Engine, ctx: StaffContext, profile_id: str, list_id: str | None) -> str:
    """Send the double opt-in confirmation email again (SENT, TOO_SOON or NOT_PENDING). Nothing
    changes in the ledger: the person's click still makes the consent."""
    _checked(ctx)
    request = double_optin.Request(ctx.user.account_id, profile_id, Channel.EMAIL, Purpose.MARKETING, list_id or None,
                                   None, None)  # fmt: skip
    link = double_optin.Link(request, False, double_optin.PENDING, Look(""), "")
    return double_optin.resend(engine, link)


IDENTIFIERS = ("email", "phone_number", "external_id")


def change_identifier(engine: Engine, ctx: StaffContext, profile_id: str, field: str, value: str) -> None:
    """Change one identifier explicitly. A new phone number starts with no SMS consent (rule 3);
    a new email keeps the person's email choices and drops the old address's bounces."""
    ctx = _checked(ctx)
    if field not in IDENTIFIERS:
        raise DomainError("field", f"identifiers are {', '.join(IDENTIFIERS)}", field)
    value = (value or "").strip()
    update_profile(engine, ctx.user.account_id, profile_id, ProfileInput(values={field: value or None}),
                   proof=ctx.proof(), method=METHOD)  # fmt: skip


def test_decision(
    engine: Engine, user: StaffUser, profile_id: str, channel: str, purpose: str, via: str, list_id: str | None
) -> ProfileDecision:
    """Could this profile get this message now, and why not? Reads only: a viewer may ask."""
    try:
        ch, pu = Channel(channel), Purpose(purpose)
    except ValueError:
        raise DomainError("channel", "not a channel and purpose", f"{channel}/{purpose}") from None
    try:
        how = Via(via)
    except ValueError:
        raise DomainError("via", "a send is a campaign or a flow", via) from None
    return decide_for(engine, user.account_id, Locator("id", profile_id), ch, pu, via=how, list_id=list_id or None)
