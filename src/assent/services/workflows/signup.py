"""Public signup (Klaviyo's client subscriptions): a website form subscribes an email address
and/or a phone number, optionally to a list, naming the account only by its public id.

Nobody is authenticated, so the rules are conservative: a list's double opt-in is honoured (the
request stays pending until confirmed), an identifier already on a profile is never replaced from
here (that would let anyone reset a stranger's SMS consent), and SMS marketing consent is recorded
with the wording the person was shown, or not at all (`_sms_proof`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from sqlalchemy import Engine

from ...domain import Channel, DomainError, EventType, InvalidIdentifier, Proof, Purpose
from ...domain.consent_texts import MAX_VERSION
from ...domain.erasure import ErasedIdentifier
from ...domain.identity import normalize_email, normalize_phone
from ...store import accounts as account_store
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts import settings
from ..accounts.accounts import Account, load_account
from ..consent import changes as consent
from ..consent import texts as consent_texts
from ..lists.lists import load_list
from ..profiles import writes as profile_writes
from ..shared.errors import IdentityConflict, NotFound

METHOD = "FORM"
Target = tuple[Channel, Purpose]


class UnknownCompany(DomainError):
    code = "invalid"


@dataclass(frozen=True, slots=True)
class SignupRequest:
    email: str | None = None
    phone_number: str | None = None
    list_id: str | None = None
    # None: marketing on each identifier given (Klaviyo's default without a subscriptions object).
    targets: tuple[Target, ...] | None = None
    custom_source: str | None = None
    method_detail: str | None = None  # the custom source, else the page the form was on
    proof: Proof = Proof()


@dataclass(frozen=True, slots=True)
class SignupResult:
    profile_ids: tuple[str, ...]
    confirmation_needed: bool
    dropped: tuple[str, ...] = ()  # identifiers left out as invalid (Klaviyo's partial failure)


def account_by_public_id(engine: Engine, public_id: str) -> Account:
    with read_transaction(engine) as conn:
        row = account_store.account_by_public_id(conn, public_id) if public_id else None
        if row is None:
            raise UnknownCompany("company_id", "is not the public id of an account", public_id or None)
        return load_account(conn, row.id)


@dataclass(frozen=True, slots=True)
class Branding:
    """What the signup pages show of the brand: its name, postal address and its own consent
    wording (with the version recorded when someone consents under it)."""

    look: settings.Look
    consent_text: str = ""
    consent_text_version: str = ""


def branding(engine: Engine, public_id: str) -> Branding | None:
    """The brand of the account with this public id; None for an unknown public id."""
    with read_transaction(engine) as conn:
        row = account_store.account_by_public_id(conn, public_id) if public_id else None
        if row is None:
            return None
        version = settings.get(conn, row.id, "signup_consent_text_version")
        stored = consent_texts.by_version(conn, row.id, version)  # the stored words win over the setting's
        return Branding(
            look=settings.look(conn, row.id, row.name),
            consent_text=stored.text if stored else settings.get(conn, row.id, "signup_consent_text"),
            consent_text_version=version,
        )


@dataclass(frozen=True, slots=True)
class _Checked:
    email: str | None
    phone: str | None
    email_targets: tuple[Target, ...]
    phone_targets: tuple[Target, ...]
    dropped: tuple[str, ...]


def _check(engine: Engine, account: Account, req: SignupRequest) -> _Checked:
    """Everything validated before anything is written."""
    email = req.email.strip() if req.email and req.email.strip() else None
    phone = req.phone_number.strip() if req.phone_number and req.phone_number.strip() else None
    if email is None and phone is None:
        raise DomainError("email", "give an email address or a phone number")
    version = req.proof.consent_text_version
    if version is not None and len(version) > MAX_VERSION:  # a stored version is never longer
        raise DomainError(
            "consent_text_version", f"must be at most {MAX_VERSION} characters", f"{len(version)} characters"
        )
    if email is not None:
        email = normalize_email(email)
    targets = req.targets
    if targets is None:
        targets = ((Channel.EMAIL, Purpose.MARKETING),) * (email is not None) + ((Channel.SMS, Purpose.MARKETING),) * (
            phone is not None
        )
    email_targets = tuple(x for x in targets if x[0] is Channel.EMAIL)
    phone_targets = tuple(x for x in targets if x[0] in (Channel.SMS, Channel.WHATSAPP))
    if any(x[0] is Channel.PUSH for x in targets):
        raise DomainError("subscriptions.push", "push consent is given on a device, not through a form")
    if email_targets and email is None:
        raise DomainError("email", "an email subscription needs an email address")
    dropped: tuple[str, ...] = ()
    if phone is not None:
        try:
            phone = normalize_phone(phone, account.default_region)
        except InvalidIdentifier:
            # As Klaviyo does: a bad number beside a usable email is dropped, unless it was the point.
            if phone_targets or email is None:
                raise
            phone, dropped = None, ("phone_number",)
    if phone_targets and phone is None:
        raise DomainError("phone_number", "an SMS or WhatsApp subscription needs a phone number")
    if email is not None and phone is not None:
        _check_same_person(engine, account.id, email, phone)
    if req.list_id is not None:
        with read_transaction(engine) as conn:
            try:
                load_list(conn, account.id, req.list_id)
            except NotFound:
                raise DomainError("list", "is not a list of this account", req.list_id) from None
    return _Checked(email, phone, email_targets, phone_targets, dropped)


# Where a consent text version recorded for a request that named none came from.
ACCOUNT_SETTING = "account_setting"
SMS_DISCLOSURE_MISSING = (
    "SMS marketing consent from a form needs the consent wording the form showed: name it with "
    "consent_text_version, or set the account's signup_consent_text_version"
)
SMS_DISCLOSURE_NOT_STORED = (
    "is not a consent text version stored for this account, and SMS marketing consent from a form is "
    "recorded with the words the form showed: store them under this version first (assent consent-texts "
    "create, or POST /api/consent-texts)"
)


def _sms_proof(engine: Engine, account_id: str, targets: tuple[Target, ...], proof: Proof) -> Proof:
    """The proof SMS consent is recorded with. Marketing texts need the person's prior express
    written consent (TCPA), which is the disclosure they agreed to: SMS marketing consent from a
    form is recorded with the consent text version the form names, else (Klaviyo's body has no
    such field) the account's own signup wording, `signup_consent_text_version`, marked as taken
    from it. With neither, nothing would say what the person was told: the request is refused.
    So is a named version that is not stored (`proof` is attested: it has no digest): the account's
    own wording is not recorded in its place, for the person saw the named form's words."""
    if (Channel.SMS, Purpose.MARKETING) not in targets:
        return proof
    if proof.consent_text_version:
        if proof.consent_text_sha256 is None:
            raise DomainError("consent_text_version", SMS_DISCLOSURE_NOT_STORED, proof.consent_text_version)
        return proof
    with read_transaction(engine) as conn:
        version = settings.get(conn, account_id, "signup_consent_text_version")
    if not version:
        raise DomainError("consent_text_version", SMS_DISCLOSURE_MISSING)
    named = replace(proof, consent_text_version=version, consent_text_origin=ACCOUNT_SETTING)
    return consent_texts.attested(engine, account_id, named)


def _check_same_person(engine: Engine, account_id: str, email: str, phone: str) -> None:
    """A form never joins identifiers of two people: an email and a number that belong to two
    profiles, or to one profile whose own other identifier differs, are refused. The message
    says no more than that (a form is public: it must not reveal whose they are)."""
    with read_transaction(engine) as conn:
        by_email = profile_store.find(conn, account_id, "email", email)
        by_phone = profile_store.find(conn, account_id, "phone_number", phone)
    if by_email is not None and by_phone is not None:
        clash = by_email.id != by_phone.id
    else:
        clash = (by_email is not None and by_email.phone_number not in (None, phone)) or (
            by_phone is not None and by_phone.email not in (None, email)
        )
    if clash:
        raise IdentityConflict(
            "phone_number", "this email address and phone number can't be signed up together; use one of them"
        )


def _attach_phone(engine: Engine, account_id: str, profile_id: str, phone: str) -> None:
    """Give the email's profile the number when it has none and nobody else has it."""
    with read_transaction(engine) as conn:
        row = profile_store.get(conn, account_id, profile_id)
        taken = profile_store.find(conn, account_id, "phone_number", phone) is not None
    if row is None or row.phone_number is not None or taken:
        return
    # Taken meanwhile: then the number's own profile gets its consent, as if it had been taken before.
    # An erased number is not attached: it gets its own profile, by the SMS consent of this signup.
    with contextlib.suppress(profile_writes.DuplicateProfile, ErasedIdentifier):
        profile_writes.update_profile(
            engine, account_id, profile_id, profile_writes.ProfileInput(values={"phone_number": phone})
        )


def signup(engine: Engine, public_id: str, req: SignupRequest) -> SignupResult:
    """Subscribe as the form asks. Email consent goes to the email's profile; SMS consent to the
    profile that has the number (the email's profile when the number is new to the account)."""
    account = account_by_public_id(engine, public_id)
    checked = _check(engine, account, req)
    proof = consent_texts.attested(engine, account.id, req.proof)
    phone_proof = _sms_proof(engine, account.id, checked.phone_targets, proof)

    def subscribe(locator: consent.Locator, targets: tuple[Target, ...], proof: Proof) -> consent.Change:
        if not targets:  # the identifier alone: make sure the profile exists, consent unchanged
            return consent.change(engine, account.id, locator, lambda state, now, _: [], list_id=req.list_id)
        return consent.subscribe(
            engine, account.id, locator, list(targets), list_id=req.list_id, method=METHOD,
            method_detail=req.method_detail, custom_source=req.custom_source, proof=proof,
            new_consent=True,  # the person's own signup: it may bring back an erased address
        )  # fmt: skip

    changes: list[consent.Change] = []
    if checked.email is not None:
        changes.append(subscribe(consent.Locator("email", checked.email), checked.email_targets, proof))
        if checked.phone is not None:
            _attach_phone(engine, account.id, changes[0].profile_id, checked.phone)
    if checked.phone is not None and (checked.phone_targets or checked.email is None):
        changes.append(subscribe(consent.Locator("phone_number", checked.phone), checked.phone_targets, phone_proof))
    pending = any(e.type is EventType.OPTIN_REQUESTED for c in changes for e in c.events)
    ids = tuple(dict.fromkeys(c.profile_id for c in changes))
    return SignupResult(ids, pending, checked.dropped)
