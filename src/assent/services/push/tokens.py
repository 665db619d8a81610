"""Registering, listing and removing push tokens. A token is a profile's device; push marketing
consent follows the tokens' permissions (domain.transitions.follow_push_tokens), and every change
it causes goes through the recorder in the same transaction as the token itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row

from ...domain import DomainError, ProfileState, Proof
from ...domain import transitions as t
from ...domain.identity import normalize_email, normalize_phone
from ...domain.push_tokens import ACTIVE, Background, EnablementStatus, Platform, Vendor
from ...store import push_tokens as store
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..consent.changes import MailingList, change_in
from ..profiles.batch import BatchReport, ProfileBatch, ProfileItem, row_consent
from ..profiles.locator import Locator
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.ids import new_id
from ..shared.paging import Position, position
from ..shared.recorder import Recorder, recording

MAX_TOKEN = 512  # an APNs token is 64 hex digits, an FCM one about 160 characters
MAX_METADATA = 200  # each device metadata value, as text
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Owner:
    """The profile a token belongs to, as the request names it (any of these; at least one)."""

    id: str | None = None
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    token: str
    platform: Platform
    vendor: Vendor
    enablement_status: EnablementStatus = EnablementStatus.AUTHORIZED
    background: Background = Background.AVAILABLE
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PushToken:
    id: str
    profile_id: str
    token: str
    platform: Platform
    vendor: Vendor
    enablement_status: EnablementStatus
    background: Background
    metadata: dict[str, Any] | None
    created: datetime
    recorded: datetime


def _token(row: Row[Any]) -> PushToken:
    return PushToken(
        row.id, row.profile_id, row.token, Platform(row.platform), Vendor(row.vendor),
        EnablementStatus(row.enablement_status), Background(row.background),
        msgspec.json.decode(row.metadata) if row.metadata else None, row.created_at, row.recorded_at,
    )  # fmt: skip


def check_token(token: str, field: str = "token") -> str:
    token = token.strip()
    if not token:
        raise DomainError(field, "is empty")
    if len(token) > MAX_TOKEN:
        raise DomainError(field, f"is longer than {MAX_TOKEN} characters", token[:40] + "…")
    if not token.isprintable():
        raise DomainError(field, "may hold only printable characters")
    return token


def _owner_item(conn: Connection, account_id: str, owner: Owner) -> ProfileItem:
    region = load_account(conn, account_id).default_region
    email = normalize_email(owner.email) if owner.email else None
    phone = normalize_phone(owner.phone_number, region) if owner.phone_number else None
    external_id = owner.external_id.strip() if owner.external_id else None
    if owner.id is None and not (email or phone or external_id):
        raise DomainError("profile", "name the profile by its id, email, phone_number or external_id")
    return ProfileItem(0, email, phone, external_id or None, id=owner.id)


def _profile_for(recorder: Recorder, owner: Owner, now: datetime, *, create: bool) -> str:
    """The id of the profile `owner` names, created when it names none (and `create`), with the
    same identity rules as every profile write: nothing merged, nothing re-keyed."""
    item = _owner_item(recorder.conn, recorder.account_id, owner)
    batch = ProfileBatch(recorder.conn, recorder.account_id, [item])
    if batch.match(item) is None and not create:
        field = "id" if owner.id else "profile"
        raise NotFound(field, "no profile in this account has these identifiers", owner.id)
    # Identifiers the profile lacks are filled in; ones it has differently are refused.
    profile_id = batch.apply(item, lambda state, _row: row_consent([], state), now, Proof(), BatchReport())
    batch.write(recorder, now)
    return profile_id


def _follow(recorder: Recorder, profile_id: str, now: datetime, *, denied: bool, detail: str, proof: Proof) -> None:
    """Bring the profile's push consent in line with its tokens, through the recorder."""
    devices = store.active_counts(recorder.conn, recorder.account_id, [profile_id], ACTIVE).get(profile_id, 0)

    def transition(state: ProfileState, at: datetime, _: MailingList | None) -> list[Any]:
        state = state.evolve(push_tokens=devices)
        return t.follow_push_tokens(state, now=at, denied=denied, method_detail=detail, proof=proof)

    change_in(recorder, Locator("id", profile_id), transition, now=now, create=False)


def register(engine: Engine, account_id: str, owner: Owner, device: Device, *, proof: Proof = Proof()) -> PushToken:
    """Create or update a push token (Klaviyo's create_push_token and create_client_push_token).

    A token already registered is updated, and moves to the profile named if it belonged to
    another; both profiles' push consent then follows their tokens."""
    token = check_token(device.token)
    metadata = _encode(device.metadata).decode() if device.metadata else None
    with recording(engine, account_id) as recorder:
        conn, now = recorder.conn, utcnow()
        profile_id = _profile_for(recorder, owner, now, create=True)
        existing = store.by_token(conn, account_id, token)
        values = {
            "profile_id": profile_id, "platform": device.platform.value, "vendor": device.vendor.value,
            "enablement_status": device.enablement_status.value, "background": device.background.value,
            "metadata": metadata, "recorded_at": now,
        }  # fmt: skip
        if existing is None:
            token_id = new_id()
            store.insert_token(conn, {"account_id": account_id, "id": token_id, "token": token, "created_at": now,
                                      **values})  # fmt: skip
        else:
            token_id = existing.id
            store.update_token(conn, account_id, token_id, values)
        denied = device.enablement_status is EnablementStatus.DENIED
        _follow(recorder, profile_id, now, denied=denied, detail=token_id, proof=proof)
        if existing is not None and existing.profile_id != profile_id:
            _follow(recorder, existing.profile_id, now, denied=False, detail=token_id, proof=proof)
        row = store.get(conn, account_id, token_id)
        assert row is not None
        return _token(row)


def _remove(recorder: Recorder, row: Row[Any], proof: Proof) -> None:
    now = utcnow()
    store.delete_token(recorder.conn, recorder.account_id, row.id)
    _follow(recorder, row.profile_id, now, denied=False, detail=row.id, proof=proof)


def delete(engine: Engine, account_id: str, token_id: str, *, proof: Proof = Proof()) -> None:
    """Remove a token (Klaviyo's delete_push_token); the profile's push consent follows."""
    with recording(engine, account_id) as recorder:
        row = store.get(recorder.conn, account_id, token_id)
        if row is None:
            raise NotFound("id", "no push token in this account has this id", token_id)
        _remove(recorder, row, proof)


def unregister(
    engine: Engine, account_id: str, owner: Owner, token: str, platform: Platform, vendor: Vendor | None,
    *, proof: Proof = Proof(),
) -> bool:  # fmt: skip
    """The device's app logged the person out or gave up the token (Klaviyo's
    unregister_client_push_token): the token is removed from the profile named. Returns whether
    there was one to remove; a token of another profile, or of another platform, is left alone."""
    token = check_token(token)
    with recording(engine, account_id) as recorder:
        profile_id = _profile_for(recorder, owner, utcnow(), create=False)
        row = store.by_token(recorder.conn, account_id, token)
        if row is None or row.profile_id != profile_id or row.platform != platform.value:
            return False
        if vendor is not None and row.vendor != vendor.value:
            return False
        _remove(recorder, row, proof)
        return True


def get(engine: Engine, account_id: str, token_id: str) -> PushToken:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        row = store.get(conn, account_id, token_id)
        if row is None:
            raise NotFound("id", "no push token in this account has this id", token_id)
        return _token(row)


def page(
    engine: Engine,
    account_id: str,
    conditions: list[tuple[str, str, Any]],
    *,
    size: int,
    after: tuple[Any, ...] | None = None,
    before: tuple[Any, ...] | None = None,
) -> tuple[list[PushToken], Position]:
    """A page of the account's tokens, oldest first, filtered on id, profile.id,
    enablement_status and platform."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        found = store.page_tokens(conn, account_id, conditions, limit=size, after=after, before=before)
        return [_token(r) for r in found.rows], position(found)


def of_profiles(engine: Engine, account_id: str, profile_ids: list[str]) -> list[PushToken]:
    """The tokens of these profiles (at most a page of them), oldest first."""
    with read_transaction(engine) as conn:
        return [_token(r) for r in store.of_profiles(conn, account_id, profile_ids)]
