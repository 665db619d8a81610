"""Bounces, complaints and unsubscribes reported by the email provider (SES, SendGrid).

The provider integrations turn their webhooks into `Feedback` (domain.feedback), which the web
layer hands to this module to apply:
- a hard bounce suppresses the address (`HARD_BOUNCE`), an address that does not exist is
  `INVALID_EMAIL`; consent is unchanged (Klaviyo: suppression and consent are independent);
- a complaint is an opt-out: `SPAM_COMPLAINT`, and email marketing becomes UNSUBSCRIBED;
- an unsubscribe handled by the provider unsubscribes email marketing;
- soft bounces are counted per profile; a delivery resets the count, and reaching the account's
  `soft_bounce_limit` (default 7) suppresses with `HARD_BOUNCE`, which Klaviyo reports as a bounce.

Each event is applied in one transaction together with its receipt (`webhook_receipts`), so a
replayed or retried webhook changes nothing, and an event whose change rolled back is not lost.
An address Assent does not know yet gets a profile, as an API unsubscribe of an unknown address
does: the suppression then stands before the address is ever imported or subscribed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ...domain import Channel, ConsentEvent, DomainError, ProfileState, Proof, Purpose, SuppressionReason
from ...domain import transitions as t
from ...domain.feedback import Feedback, Kind
from ...domain.identity import normalize_email
from ...store import accounts as account_store
from ...store import receipts
from ...store.bounces import count_soft_bounce, counted_profiles, reset_soft_bounces
from ...store.db import read_transaction, write_transaction
from ..accounts import settings
from ..consent.changes import Transition, change_in
from ..lists.lists import MailingList
from ..profiles.locator import Locator
from ..shared.clock import utcnow
from ..shared.recorder import Recorder, recording

log = logging.getLogger("assent.bounces")

NOTE_LENGTH = 500  # diagnostics can be long; the ledger keeps the useful start
# Unsubscribes reported by an ESP integration; Klaviyo's method vocabulary has `integration` for them.
ESP_UNSUBSCRIBE_METHOD = "INTEGRATION"


@dataclass(frozen=True, slots=True)
class WebhookAccount:
    """What the email webhooks need to know of the account they are addressed to."""

    account_id: str
    ses_topic_arn: str
    sendgrid_public_key: str


@dataclass(slots=True)
class Report:
    applied: int = 0  # events that were new (whether or not they changed consent)
    duplicates: int = 0  # events already handled: replays and retries
    ignored: int = 0  # addresses that are not valid email addresses

    def as_dict(self) -> dict[str, int]:
        return {"applied": self.applied, "duplicates": self.duplicates, "ignored": self.ignored}


def webhook_account(engine: Engine, public_id: str) -> WebhookAccount | None:
    """The account a webhook URL names by its public id, or None."""
    with read_transaction(engine) as conn:
        row = account_store.account_by_public_id(conn, public_id) if public_id else None
        if row is None:
            return None
        return WebhookAccount(
            account_id=row.id,
            ses_topic_arn=settings.get(conn, row.id, "ses_topic_arn").strip(),
            sendgrid_public_key=settings.get(conn, row.id, "sendgrid_public_key").strip(),
        )


def apply(engine: Engine, account_id: str, provider: str, feedback: Iterable[Feedback]) -> Report:
    """Apply the provider's events in order, each in its own transaction with its receipt."""
    report = Report()
    deliveries: list[Feedback] = []
    for item in feedback:
        if item.kind is Kind.DELIVERY:
            deliveries.append(item)
            continue
        if deliveries:  # keep the order: a delivery resets only the bounces before it
            _reset_on_delivery(engine, account_id, deliveries, report)
            deliveries = []
        try:
            with recording(engine, account_id) as recorder:
                now = utcnow()
                if not receipts.claim(recorder.conn, account_id, provider, item.event_id, now):
                    report.duplicates += 1
                    continue
                _apply_one(recorder, provider, item, now)
            report.applied += 1
        except DomainError as e:  # not an address Assent can hold; the provider must not retry it
            log.info("%s %s event %s ignored: %s", provider, item.kind.value, item.event_id, e.message)
            report.ignored += 1
    if deliveries:
        _reset_on_delivery(engine, account_id, deliveries, report)
    return report


def _proof(provider: str, item: Feedback, note: str | None = None) -> Proof:
    note = note if note is not None else item.note
    return Proof(
        source=provider,
        actor=provider,
        message_id=item.message_id,
        note=note[:NOTE_LENGTH] if note else None,
    )


def _apply_one(recorder: Recorder, provider: str, item: Feedback, now: datetime) -> None:
    conn, account_id = recorder.conn, recorder.account_id
    locator = Locator("email", item.address)
    proof = _proof(provider, item)
    if item.kind in (Kind.HARD_BOUNCE, Kind.INVALID_ADDRESS, Kind.COMPLAINT):
        reason = {
            Kind.HARD_BOUNCE: SuppressionReason.HARD_BOUNCE,
            Kind.INVALID_ADDRESS: SuppressionReason.INVALID_EMAIL,
            Kind.COMPLAINT: SuppressionReason.SPAM_COMPLAINT,
        }[item.kind]
        changed = change_in(recorder, locator, _suppress(reason, proof), now=now)
        if reason is not SuppressionReason.SPAM_COMPLAINT:
            reset_soft_bounces(conn, account_id, changed.profile_id)  # the address is settled
    elif item.kind is Kind.UNSUBSCRIBE:
        change_in(recorder, locator, _unsubscribe(item.detail, proof), now=now)
    elif item.kind is Kind.SOFT_BOUNCE:
        # First find (or create) the profile: the counter is per profile, not per address string.
        profile_id = change_in(recorder, locator, _nothing, now=now).profile_id
        count = count_soft_bounce(conn, account_id, profile_id, item.occurred_at or now)
        limit = max(1, settings.get_int(conn, account_id, "soft_bounce_limit"))
        if count >= limit:
            note = f"{count} consecutive soft bounces; last: {item.note or 'no diagnostic'}"
            suppress = _suppress(SuppressionReason.HARD_BOUNCE, _proof(provider, item, note))
            change_in(recorder, Locator("id", profile_id), suppress, now=now)
            reset_soft_bounces(conn, account_id, profile_id)


def _suppress(reason: SuppressionReason, proof: Proof) -> Transition:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        return t.suppress(state, reason, now=now, proof=proof)

    return transition


def _unsubscribe(detail: str | None, proof: Proof) -> Transition:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        return t.unsubscribe(
            state, Channel.EMAIL, Purpose.MARKETING, now=now, method=ESP_UNSUBSCRIBE_METHOD, method_detail=detail,
            proof=proof,
        )  # fmt: skip

    return transition


def _nothing(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
    return []


def _reset_on_delivery(engine: Engine, account_id: str, deliveries: list[Feedback], report: Report) -> None:
    """A delivery ends a run of soft bounces. No receipt is kept: deliveries are the bulk of the
    traffic, and the reset is safe to repeat (it clears only bounces not newer than the delivery).
    Most delivered addresses have no bounces counted, so they are looked up before any write."""
    delivered: dict[str, datetime] = {}
    for item in deliveries:
        try:
            address = normalize_email(item.address)
        except DomainError:
            report.ignored += 1
            continue
        at = item.occurred_at or utcnow()
        delivered[address] = max(at, delivered.get(address, at))
        report.applied += 1
    with read_transaction(engine) as conn:
        counted = counted_profiles(conn, account_id, delivered)
    if not counted:
        return
    with write_transaction(engine) as conn:
        for address, profile_id in counted.items():
            reset_soft_bounces(conn, account_id, profile_id, delivered[address])
