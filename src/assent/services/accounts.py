"""Accounts and their private API keys (stored only as HMAC digests)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from ..domain import DomainError, Policy
from ..domain.identity import normalize_region
from ..store import accounts as store
from ..store.db import read_transaction, write_transaction
from .clock import utcnow
from .errors import NotFound
from .ids import new_id


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    default_region: str
    policy: Policy


@dataclass(frozen=True, slots=True)
class NewAccount:
    account: Account
    api_key: str


def _account(row) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        default_region=row.default_region,
        policy=Policy(email_campaigns_require_explicit_consent=row.email_campaigns_require_explicit_consent),
    )


def _secret(conn: Connection) -> bytes:
    """The pepper for key digests: ASSENT_SECRET_KEY, else one made for this database once."""
    configured = os.environ.get("ASSENT_SECRET_KEY")
    if configured:
        return configured.encode()
    return store.setting_or_create(conn, "secret_key", lambda: secrets.token_hex(32)).encode()


def key_digest(conn: Connection, api_key: str) -> str:
    return hmac.new(_secret(conn), api_key.encode(), hashlib.sha256).hexdigest()


def create_account(engine: Engine, name: str, default_region: str = "US") -> NewAccount:
    name = (name or "").strip()
    if not name:
        raise DomainError("name", "an account needs a name")
    region = normalize_region(default_region)
    now = utcnow()
    account_id = new_id()
    api_key = "pk_" + secrets.token_hex(17)
    with write_transaction(engine) as conn:
        store.insert_account(conn, account_id, name, region, now)
        store.insert_api_key(conn, account_id, api_key[3:11], key_digest(conn, api_key), "default", now)
    return NewAccount(Account(account_id, name, region, Policy()), api_key)


def load_account(conn: Connection, account_id: str) -> Account:
    row = store.get_account(conn, account_id)
    if row is None:
        raise NotFound("account", "no such account", account_id)
    return _account(row)


def list_accounts(engine: Engine) -> list[Account]:
    with read_transaction(engine) as conn:
        return [_account(r) for r in store.all_accounts(conn)]
