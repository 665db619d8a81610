"""Consent changes for one profile: subscribe, unsubscribe, suppress, unsuppress, double opt-in,
and identifier changes. Each loads the profile, runs a domain transition and hands the events to
the recorder, in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ...domain import (
    Channel,
    ConsentEvent,
    MissingAddress,
    OptInProcess,
    ProfileState,
    Proof,
    Purpose,
    SuppressionReason,
    replay,
)
from ...domain import transitions as t
from ...domain.events import NO_PROOF
from ..accounts.accounts import load_account
from ..lists.lists import MailingList, load_list
from ..profiles.batch import BatchReport, ProfileBatch, ProfileItem, RowConsent, row_consent
from ..profiles.locator import LOCATORS as LOCATORS
from ..profiles.locator import Locator, normalize_locator
from ..profiles.locator import find_profile as find_profile
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.recorder import Recorder, recording


@dataclass(frozen=True, slots=True)
class Change:
    profile_id: str
    created: bool
    events: list[ConsentEvent]
    state: ProfileState


# (the profile's state, now, the list the command names) -> the events
Transition = Callable[[ProfileState, datetime, MailingList | None], list[ConsentEvent]]


def change(
    engine: Engine,
    account_id: str,
    locator: Locator,
    transition: Transition,
    *,
    list_id: str | None = None,
    create: bool = True,
    new_consent: bool = False,
) -> Change:
    """Run `transition` on the profile's state and store the events and the new state atomically.

    A profile named by email or phone number that does not exist yet is created first, so that an
    opt-out of an unknown address is remembered, as Klaviyo does."""
    with recording(engine, account_id) as recorder:
        return change_in(
            recorder, locator, transition, now=utcnow(), list_id=list_id, create=create, new_consent=new_consent
        )


def change_in(
    recorder: Recorder,
    locator: Locator,
    transition: Transition,
    *,
    now: datetime,
    list_id: str | None = None,
    create: bool = True,
    new_consent: bool = False,
) -> Change:
    """`change` with the caller's recorder, for use cases that write something else in the same
    unit of work (a webhook receipt, say). The profile goes through the same batch engine as bulk
    jobs and imports, as a batch of one. `new_consent` says the change is the person's own new
    explicit consent (a signup form, an SMS keyword): only such a change may subscribe an erased
    identifier again (privacy/tombstones.py)."""
    conn, account_id = recorder.conn, recorder.account_id
    account = load_account(conn, account_id)
    mailing_list = None if list_id is None else load_list(conn, account_id, list_id)
    locator = normalize_locator(account, locator)
    named = {locator.field: locator.value}
    row = ProfileItem(0, named.get("email"), named.get("phone_number"), named.get("external_id"), id=named.get("id"))
    batch = ProfileBatch(conn, account_id, [row], new_consent=new_consent)
    try:
        found = batch.match(row)
    except NotFound:  # an id no profile has
        found = None
    if found is None and (not create or locator.field not in ("email", "phone_number")):
        raise NotFound(locator.field, "no profile in this account has this value", locator.value)
    events: list[ConsentEvent] = []

    def step(state: ProfileState, _row: ProfileItem) -> RowConsent:
        events.extend(transition(state, now, mailing_list))
        return row_consent(events, replay(events, state))

    report = BatchReport()
    profile_id = batch.apply(row, step, now, NO_PROOF, report)
    batch.write(recorder, now)
    return Change(profile_id, report.created > 0, events, batch.by["id"][profile_id].state)


def subscribe(
    engine: Engine,
    account_id: str,
    locator: Locator,
    targets: list[tuple[Channel, Purpose]],
    *,
    list_id: str | None = None,
    method: str = "API",
    method_detail: str | None = None,
    custom_source: str | None = None,
    consented_at: datetime | None = None,
    historical_import: bool = False,
    proof: Proof = Proof(),
    new_consent: bool = False,
) -> Change:
    """Record an opt-in. Consent goes to the address that names the profile: SMS and WhatsApp only
    when it is named by its phone number, email when by its email (or id) — never to an address
    the profile happens to hold that the request did not give."""
    for channel, _ in targets:
        if channel in (Channel.SMS, Channel.WHATSAPP) and locator.field != "phone_number":
            raise MissingAddress(
                "phone_number", f"{channel.value} consent is given for a phone number: name the profile by it"
            )
        if channel is Channel.EMAIL and locator.field not in ("email", "id"):
            raise MissingAddress("email", "email consent is given for an email address: name the profile by it")
    return change(
        engine,
        account_id,
        locator,
        lambda state, now, mailing_list: t.subscribe(
            state,
            targets,
            now=now,
            method=method,
            method_detail=method_detail,
            custom_source=custom_source,
            consented_at=consented_at,
            historical_import=historical_import,
            list_id=list_id,
            opt_in_process=mailing_list.opt_in_process if mailing_list else OptInProcess.SINGLE,
            proof=proof,
        ),
        list_id=list_id,
        new_consent=new_consent,
    )


def unsubscribe(
    engine: Engine,
    account_id: str,
    locator: Locator,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    *,
    list_id: str | None = None,
    method: str = "API",
    method_detail: str | None = None,
    proof: Proof = Proof(),
) -> Change:
    return change(
        engine,
        account_id,
        locator,
        lambda state, now, _: t.unsubscribe(
            state, channel, purpose, now=now, list_id=list_id, method=method, method_detail=method_detail, proof=proof
        ),
        list_id=list_id,
    )


def suppress(
    engine: Engine,
    account_id: str,
    locator: Locator,
    reason: SuppressionReason = SuppressionReason.USER_SUPPRESSED,
    *,
    list_id: str | None = None,
    proof: Proof = Proof(),
) -> Change:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        return t.suppress(state, reason, now=now, list_id=list_id, proof=proof)

    return change(engine, account_id, locator, transition, list_id=list_id)


def unsuppress(
    engine: Engine, account_id: str, locator: Locator, *, list_id: str | None = None, proof: Proof = Proof()
) -> Change:
    def transition(state: ProfileState, now: datetime, _: MailingList | None) -> list[ConsentEvent]:
        return t.unsuppress(state, now=now, list_id=list_id, proof=proof)

    return change(engine, account_id, locator, transition, list_id=list_id, create=False)
