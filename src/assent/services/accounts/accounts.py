"""Accounts and their private API keys (stored only as HMAC digests)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from ...config import settings
from ...domain import DomainError, Policy
from ...domain.identity import normalize_region
from ...store import accounts as store
from ...store.db import read_transaction, write_transaction
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.ids import new_id


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    default_region: str
    policy: Policy
    public_id: str = ""


# Klaviyo's private-key scopes; `x:write` includes `x:read`, and "*" is full access.
SCOPES = (
    "profiles:read",
    "profiles:write",
    "lists:read",
    "lists:write",
    "segments:read",
    "segments:write",
    "subscriptions:read",
    "subscriptions:write",
    "events:read",
    "events:write",
    "metrics:read",
    "webhooks:read",
    "webhooks:write",
    "data-privacy:read",
    "data-privacy:write",
    "push-tokens:read",
    "push-tokens:write",
)


@dataclass(frozen=True, slots=True)
class ApiKey:
    account_id: str
    id: str
    label: str
    scopes: frozenset[str]  # as granted: "*" or scope names

    def allows(self, scope: str) -> bool:
        if "*" in self.scopes or scope in self.scopes:
            return True
        resource, _, access = scope.partition(":")
        return access == "read" and f"{resource}:write" in self.scopes


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once; only its digest is stored


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
        public_id=row.public_id,
    )


def _secret(conn: Connection) -> bytes:
    """The pepper for key digests: ASSENT_SECRET_KEY, else one made for this database once."""
    configured = settings().secret_key
    if configured:
        return configured.encode()
    return store.setting_or_create(conn, "secret_key", lambda: secrets.token_hex(32)).encode()


def signing_secret(conn: Connection) -> bytes:
    """The installation's secret, for signing the links people click."""
    return _secret(conn)


def key_digest(conn: Connection, api_key: str) -> str:
    return hmac.new(_secret(conn), api_key.encode(), hashlib.sha256).hexdigest()


def create_account(engine: Engine, name: str, default_region: str = "US") -> NewAccount:
    name = (name or "").strip()
    if not name:
        raise DomainError("name", "an account needs a name")
    region = normalize_region(default_region)
    now = utcnow()
    account_id = new_id()
    api_key, public_id = _new_secret(), _public_id()
    with write_transaction(engine) as conn:
        store.insert_account(conn, account_id, name, region, now, public_id)
        store.insert_api_key(conn, account_id, _key_id(api_key), key_digest(conn, api_key), "default", now)
    return NewAccount(Account(account_id, name, region, Policy(), public_id), api_key)


def _public_id() -> str:
    # Six characters like Klaviyo's company ids; unguessable enough not to be enumerated.
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))


def _new_secret() -> str:
    return "pk_" + secrets.token_hex(17)


def _key_id(secret: str) -> str:
    return secret[3:11]  # the start of the key: enough to tell keys apart in a listing, not to use one


def parse_scopes(scopes: str | None) -> frozenset[str]:
    """A comma-separated scope list, or "*" alone for full access; None (no list given) is full
    access. A list that names nothing (empty, blank, only commas) is refused, never read as full
    access, and so is "*" mixed with other scopes."""
    if scopes is None:
        return frozenset({"*"})
    names = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    if not names:
        raise DomainError("scopes", "names no scope: give at least one, or * alone for full access", scopes)
    if "*" in names and len(names) > 1:
        raise DomainError("scopes", "mixes * (full access) with other scopes: give * alone, or only the scopes "
                          "the key needs", scopes)  # fmt: skip
    unknown = sorted(names - set(SCOPES) - {"*"})
    if unknown:
        raise DomainError("scopes", f"unknown scope; scopes are {', '.join(SCOPES)} or *", ",".join(unknown))
    return names


def _api_key(row) -> ApiKey:
    return ApiKey(row.account_id, row.id, row.label, frozenset(row.scopes.split(",")))


def create_key(engine: Engine, account_id: str, scopes: str | None = None, label: str = "") -> NewKey:
    granted = parse_scopes(scopes)
    secret = _new_secret()
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        text = ",".join(sorted(granted))
        store.insert_api_key(conn, account_id, _key_id(secret), key_digest(conn, secret), label, utcnow(), text)
    return NewKey(ApiKey(account_id, _key_id(secret), label, granted), secret)


def list_keys(engine: Engine, account_id: str) -> list[ApiKey]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [_api_key(r) for r in store.account_keys(conn, account_id)]


def revoke_key(engine: Engine, account_id: str, key_id: str) -> None:
    with write_transaction(engine) as conn:
        if not store.delete_key(conn, account_id, key_id):
            raise NotFound("key", "no such key in this account", key_id)


def authenticate(engine: Engine, secret: str) -> ApiKey | None:
    """The key this secret is, or None."""
    with read_transaction(engine) as conn:
        row = store.key_by_digest(conn, key_digest(conn, secret))
        return None if row is None else _api_key(row)


def load_account(conn: Connection, account_id: str) -> Account:
    row = store.get_account(conn, account_id)
    if row is None:
        raise NotFound("account", "no such account", account_id)
    return _account(row)


def require_account(conn: Connection, account_id: str) -> None:
    """NotFound as load_account raises it, for a read that needs nothing else of the account."""
    if not store.account_exists(conn, account_id):
        raise NotFound("account", "no such account", account_id)


def get_account(engine: Engine, account_id: str) -> Account:
    with read_transaction(engine) as conn:
        return load_account(conn, account_id)


def list_accounts(engine: Engine) -> list[Account]:
    with read_transaction(engine) as conn:
        return [_account(r) for r in store.all_accounts(conn)]
