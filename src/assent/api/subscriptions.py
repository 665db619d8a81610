"""Bulk subscribe and unsubscribe jobs, as Klaviyo takes them. Assent applies a job before it
answers 202, so a read right after it sees the change (Klaviyo's are eventually consistent)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args, get_type_hints

from msgspec import UNSET, Meta, Struct, UnsetType
from starlette.responses import Response

from ..domain import Channel, DomainError, InvalidIdentifier, Proof, Purpose
from ..domain.identity import normalize_email, normalize_phone
from ..domain.slots import maker
from ..services.accounts.accounts import get_account
from ..services.consent import bulk as bulk_consent
from ..services.consent.bulk import ConsentItem
from ..services.shared.clock import utcnow
from ..services.shared.errors import NotFound
from ..wire.documents import no_content
from ..wire.errors import ApiError, from_domain, invalid
from ..wire.linkage import ListRelationship
from .operation import Call, Operation

# --- request bodies (Klaviyo's SubscriptionCreateJobCreateQuery / SubscriptionDeleteJobCreateQuery) --


class SubscriptionParameters(Struct):
    consent: Literal["SUBSCRIBED"]
    consented_at: datetime | None | UnsetType = UNSET  # null, as Klaviyo's SDK sends it, is no date


class UnsubscriptionParameters(Struct):
    consent: Literal["UNSUBSCRIBED"]


class EmailSubscription(Struct, forbid_unknown_fields=True):
    marketing: SubscriptionParameters | UnsetType = UNSET
    open_tracking: dict[str, Any] | UnsetType = UNSET  # accepted; Assent keeps no tracking consent yet
    click_tracking: dict[str, Any] | UnsetType = UNSET


class SmsSubscription(Struct, forbid_unknown_fields=True):
    marketing: SubscriptionParameters | UnsetType = UNSET
    transactional: SubscriptionParameters | UnsetType = UNSET


class WhatsAppSubscription(Struct, forbid_unknown_fields=True):
    marketing: SubscriptionParameters | UnsetType = UNSET
    transactional: SubscriptionParameters | UnsetType = UNSET
    conversational: SubscriptionParameters | UnsetType = UNSET


class PushSubscription(Struct, forbid_unknown_fields=True):
    marketing: SubscriptionParameters
    tokens: list[dict[str, Any]] | UnsetType = UNSET
    anonymous_id: str | UnsetType = UNSET


class SubscriptionChannels(Struct, forbid_unknown_fields=True):
    email: EmailSubscription | UnsetType = UNSET
    sms: SmsSubscription | UnsetType = UNSET
    whatsapp: WhatsAppSubscription | UnsetType = UNSET
    push: PushSubscription | UnsetType = UNSET


class EmailUnsubscription(Struct, forbid_unknown_fields=True):
    marketing: UnsubscriptionParameters | UnsetType = UNSET
    open_tracking: dict[str, Any] | UnsetType = UNSET
    click_tracking: dict[str, Any] | UnsetType = UNSET


class SmsUnsubscription(Struct, forbid_unknown_fields=True):
    marketing: UnsubscriptionParameters | UnsetType = UNSET
    transactional: UnsubscriptionParameters | UnsetType = UNSET


class WhatsAppUnsubscription(Struct, forbid_unknown_fields=True):
    marketing: UnsubscriptionParameters | UnsetType = UNSET
    transactional: UnsubscriptionParameters | UnsetType = UNSET
    conversational: UnsubscriptionParameters | UnsetType = UNSET


class PushUnsubscription(Struct, forbid_unknown_fields=True):
    marketing: UnsubscriptionParameters
    tokens: list[dict[str, Any]] | UnsetType = UNSET


class UnsubscriptionChannels(Struct, forbid_unknown_fields=True):
    email: EmailUnsubscription | UnsetType = UNSET
    sms: SmsUnsubscription | UnsetType = UNSET
    whatsapp: WhatsAppUnsubscription | UnsetType = UNSET
    push: PushUnsubscription | UnsetType = UNSET


class SubscribeProfileAttributes(Struct):
    subscriptions: SubscriptionChannels
    email: str | None | UnsetType = UNSET
    phone_number: str | None | UnsetType = UNSET
    age_gated_date_of_birth: date | None | UnsetType = UNSET  # Klaviyo's "format: date"; kept nowhere


class UnsubscribeProfileAttributes(Struct):
    subscriptions: UnsubscriptionChannels
    email: str | None | UnsetType = UNSET
    phone_number: str | None | UnsetType = UNSET


class SubscribeProfile(Struct):
    type: Literal["profile"]
    attributes: SubscribeProfileAttributes
    id: str | None | UnsetType = UNSET


class UnsubscribeProfile(Struct):
    type: Literal["profile"]
    attributes: UnsubscribeProfileAttributes


class SubscribeProfiles(Struct):
    data: list[SubscribeProfile]


class UnsubscribeProfiles(Struct):
    data: list[UnsubscribeProfile]


class JobRelationships(Struct):
    list: ListRelationship | None | UnsetType = UNSET


# custom_source is kept in every consent row and ledger event of the job: as long as the public
# signup form keeps one (web/signup.py), and refused past that rather than cut.
CUSTOM_SOURCE_MAX = 500


class SubscriptionCreateJobAttributes(Struct):
    profiles: SubscribeProfiles
    custom_source: Annotated[str, Meta(max_length=CUSTOM_SOURCE_MAX)] | None | UnsetType = UNSET
    historical_import: bool | UnsetType = UNSET


class SubscriptionDeleteJobAttributes(Struct):
    profiles: UnsubscribeProfiles


class SubscriptionCreateJob(Struct):
    type: Literal["profile-subscription-bulk-create-job"]
    attributes: SubscriptionCreateJobAttributes
    relationships: JobRelationships | UnsetType = UNSET


class SubscriptionDeleteJob(Struct):
    type: Literal["profile-subscription-bulk-delete-job"]
    attributes: SubscriptionDeleteJobAttributes
    relationships: JobRelationships | UnsetType = UNSET


class SubscriptionCreateJobCreateQuery(Struct):
    data: SubscriptionCreateJob


class SubscriptionDeleteJobCreateQuery(Struct):
    data: SubscriptionDeleteJob


# --- turning a body into consent items --------------------------------------------------------

# ConsentItem(...), one per profile of a job of up to a thousand, made as domain.slots makes it.
_item = maker(ConsentItem)
_PURPOSES = {"marketing": Purpose.MARKETING, "transactional": Purpose.TRANSACTIONAL,
             "conversational": Purpose.CONVERSATIONAL}  # fmt: skip
_CHANNELS = {"email": Channel.EMAIL, "sms": Channel.SMS, "whatsapp": Channel.WHATSAPP, "push": Channel.PUSH}
# For each channel's name: (purpose's name, target, where it sits under subscriptions) for each purpose.
_TARGETS = [
    (c_name, [(p_name, (channel, purpose), f"{c_name}/{p_name}") for p_name, purpose in _PURPOSES.items()])
    for c_name, channel in _CHANNELS.items()
]


def _block_targets() -> dict[type, list[tuple[str, tuple[Channel, Purpose], str]]]:
    """_TARGETS' purposes for each channel's block type (as the bodies' channels name them), only
    those it has: getattr with a default for a purpose it lacks raises and catches an AttributeError
    inside, at many times the cost of reading a field."""
    by_channel = dict(_TARGETS)
    out = {}
    for channels in (SubscriptionChannels, UnsubscriptionChannels):
        for c_name, hint in get_type_hints(channels).items():
            for block in get_args(hint):
                if block is not UnsetType:
                    out[block] = [x for x in by_channel[c_name] if x[0] in block.__struct_fields__]
    return out


_BLOCK_TARGETS = _block_targets()


def _targets(subscriptions: Struct) -> list[tuple[tuple[Channel, Purpose], Any, str]]:
    """(target, its parameters, where it sits under `subscriptions`) for every channel and purpose
    the body names."""
    out = []
    for channel_name, _ in _TARGETS:
        block = getattr(subscriptions, channel_name)
        if block is UNSET:
            continue
        for purpose_name, target, where in _BLOCK_TARGETS[type(block)]:
            params = getattr(block, purpose_name)
            if params is not UNSET:
                out.append((target, params, where))
    return out


def _at(i: int, tail: str = "") -> str:
    """The pointer of the job's i-th profile's attributes (and `tail` within them): written out
    only for an error, not for each profile of a thousand."""
    return f"/data/attributes/profiles/data/{i}/attributes{tail}"


def _list_id(relationships: JobRelationships | UnsetType) -> str | None:
    if isinstance(relationships, UnsetType) or relationships.list in (None, UNSET):
        return None
    return relationships.list.data.id


def _identifiers(
    call: Call, region: Callable[[], str], i: int, attrs: SubscribeProfileAttributes | UnsubscribeProfileAttributes
) -> tuple[str | None, str | None, InvalidIdentifier | None]:
    """The item's email and phone, normalised; a bad phone beside an email is dropped (Klaviyo's
    partial failure); returns (email, phone, why the phone was dropped or None). A number with an
    extension is a bad one (normalize_phone)."""
    email = attrs.email if isinstance(attrs.email, str) and attrs.email.strip() else None
    phone = attrs.phone_number if isinstance(attrs.phone_number, str) and attrs.phone_number.strip() else None
    try:
        email = normalize_email(email) if email else None
    except DomainError as e:
        raise from_domain(e, _at(i)) from None
    dropped: InvalidIdentifier | None = None
    if phone:
        try:
            phone = normalize_phone(phone, region())
        except InvalidIdentifier as e:
            if email is None:
                raise from_domain(e, _at(i)) from None
            phone, dropped = None, e
    return email, phone, dropped


def _region(call: Call) -> Callable[[], str]:
    """The account's default region, read when a phone number first needs it (a job of emails
    alone never reads the account)."""
    found: list[str] = []

    def region() -> str:
        if not found:
            found.append(get_account(call.engine, call.account_id).default_region)
        return found[0]

    return region


def _done(dropped: bool) -> Response:
    response = no_content(202)
    if dropped:
        response.headers["X-Klaviyo-Partial-Failure"] = "phone_number"
    return response


def _proof(call: Call, source: str | None = None) -> Proof:
    return Proof(source=source, actor=f"api key {call.key.id}")


def _run(call: Call, run: Any) -> None:
    try:
        run()
    except bulk_consent.ItemError as e:
        raise from_domain(e) from None
    except NotFound as e:
        if e.field != "list":
            raise
        error = from_domain(e)
        error.pointer = "/data/relationships/list/data/id"  # where the body names the list
        raise error from None


def post_subscribe(call: Call) -> Response:
    body: SubscriptionCreateJobCreateQuery = call.body
    attrs = body.data.attributes
    profiles = attrs.profiles.data
    if not 1 <= len(profiles) <= 1000:
        raise invalid("a job subscribes 1 to 1000 profiles", pointer="/data/attributes/profiles/data")
    historical = attrs.historical_import is True
    now = utcnow()
    region = _region(call)
    items, any_dropped = [], False
    for i, p in enumerate(profiles):
        email, phone, dropped = _identifiers(call, region, i, p.attributes)
        any_dropped |= dropped is not None
        profile_id = p.id if isinstance(p.id, str) else None
        if email is None and phone is None and profile_id is None:
            raise invalid("a profile needs an email, a phone_number or an id", pointer=_at(i))
        targets = _targets(p.attributes.subscriptions)
        if not targets:
            raise invalid("name at least one channel to subscribe", pointer=_at(i, "/subscriptions"))
        if dropped:
            # The number given is not valid: SMS and WhatsApp consent is refused (never given to a
            # number the profile had already); the other channels go ahead, as Klaviyo does.
            targets = [x for x in targets if x[0][0] not in (Channel.SMS, Channel.WHATSAPP)]
            if not targets:  # nothing left to do: the item fails as if the number were alone
                raise from_domain(dropped, _at(i)) from None
        consented_at = {}
        for target, params, where in targets:
            if isinstance(params.consented_at, datetime):
                if not historical:
                    raise invalid("consented_at is accepted only with historical_import",
                                  pointer=_at(i, f"/subscriptions/{where}/consented_at"))  # fmt: skip
                at = params.consented_at
                at = at if at.tzinfo else at.replace(tzinfo=UTC)  # naive is UTC, as Klaviyo reads it
                if at > now:  # as the transition refuses it, but pointing at the date given
                    raise invalid("consented_at must be in the past for a historical import",
                                  pointer=_at(i, f"/subscriptions/{where}/consented_at"))  # fmt: skip
                consented_at[target] = at
            elif historical:
                raise invalid("historical_import needs consented_at on every channel subscribed",
                              pointer=_at(i, f"/subscriptions/{where}/consented_at"))  # fmt: skip
        items.append(_item(profile_id, email, phone, tuple([x[0] for x in targets]), consented_at))
    custom_source = attrs.custom_source if isinstance(attrs.custom_source, str) else None
    _run(call, lambda: bulk_consent.subscribe_profiles(
        call.engine, call.account_id, items, list_id=_list_id(body.data.relationships),
        custom_source=custom_source, historical_import=historical, proof=_proof(call, custom_source),
    ))  # fmt: skip
    return _done(any_dropped)


def post_unsubscribe(call: Call) -> Response:
    body: SubscriptionDeleteJobCreateQuery = call.body
    profiles = body.data.attributes.profiles.data
    if not 1 <= len(profiles) <= 100:
        raise invalid("a job unsubscribes 1 to 100 profiles", pointer="/data/attributes/profiles/data")
    region = _region(call)
    items, any_dropped = [], False
    for i, p in enumerate(profiles):
        email, phone, dropped = _identifiers(call, region, i, p.attributes)
        any_dropped |= dropped is not None
        if email is None and phone is None:
            raise invalid("a profile needs an email or a phone_number", pointer=_at(i))
        targets = _targets(p.attributes.subscriptions)
        if not targets:
            raise invalid("name at least one channel to unsubscribe", pointer=_at(i, "/subscriptions"))
        items.append(ConsentItem(None, email, phone, tuple(t for t, _, _ in targets)))
    _run(call, lambda: bulk_consent.unsubscribe_profiles(
        call.engine, call.account_id, items, list_id=_list_id(body.data.relationships), proof=_proof(call),
    ))  # fmt: skip
    return _done(any_dropped)


_ENUM_VALUE = re.compile(r"Invalid enum value '(.*)'", re.DOTALL)


def _consent_hint(accepted: str, opposite: str, other_job: str) -> Callable[[ApiError], ApiError]:
    """A `consent` this job does not take, with what to send instead: the other job for the
    opposite consent, or the one spelling accepted."""

    def explain(e: ApiError) -> ApiError:
        given = _ENUM_VALUE.match(e.detail)
        if e.status != 400 or given is None or not (e.pointer or "").endswith("/consent"):
            return e
        value = given.group(1)
        if value.upper() == opposite:
            hint = f"this job sets {accepted} only; for {opposite}, POST to /api/{other_job}"
        elif value.upper() == accepted:
            hint = f"write it {accepted}, in capitals"
        else:
            hint = f"the one value accepted is {accepted}"
        return ApiError(e.status, e.code, f"{e.detail}: {hint}", pointer=e.pointer)

    return explain


_WRITE = ("lists:write", "profiles:write", "subscriptions:write")
OPERATIONS = [
    Operation("POST", "/api/profile-subscription-bulk-create-jobs", "bulk_subscribe_profiles", post_subscribe,
              _WRITE, 75, 700, "Subscribe up to 1000 profiles (202; applied before the answer)",
              body=SubscriptionCreateJobCreateQuery, status=202, tag="Subscriptions",
              explain=_consent_hint("SUBSCRIBED", "UNSUBSCRIBED", "profile-subscription-bulk-delete-jobs")),
    Operation("POST", "/api/profile-subscription-bulk-delete-jobs", "bulk_unsubscribe_profiles", post_unsubscribe,
              _WRITE, 75, 700, "Unsubscribe up to 100 profiles (202; applied before the answer)",
              body=SubscriptionDeleteJobCreateQuery, status=202, tag="Subscriptions",
              explain=_consent_hint("UNSUBSCRIBED", "SUBSCRIBED", "profile-subscription-bulk-create-jobs")),
]  # fmt: skip
