"""Staff users of the console: who may enter, with which role, and how they prove it.

Passwords are hashed with argon2 (argon2-cffi). A new user gets an invite link that lets them set
their password; the link works once (its nonce is cleared when used) and for INVITE_DAYS. A user's
`generation` changes whenever the password does, so a session made before the change stops working.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine

from ...domain import DomainError
from ...domain.identity import normalize_email
from ...store import staff as store
from ...store.db import read_transaction, write_transaction
from ..accounts.accounts import load_account
from ..shared import tokens
from ..shared.clock import utcnow
from ..shared.errors import Conflict, NotFound
from ..shared.ids import new_id

ROLES = ("owner", "editor", "viewer")
INVITE_DAYS = 7
INVITE_KIND = "console.invite"
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" is not a person typing

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when no user has the email, so an unknown login costs what a wrong password does.
    Made on first use: hashing is slow on purpose, and every `assent` command imports this module."""
    return _hasher.hash(secrets.token_hex(16))


class Forbidden(DomainError):
    """The user's role does not allow the change."""

    code = "forbidden"


@dataclass(frozen=True, slots=True)
class StaffUser:
    account_id: str
    id: str
    email: str
    role: str
    active: bool  # has set a password
    generation: str  # changes with the password: sessions carry it

    @property
    def can_change(self) -> bool:
        """Owners and editors change consent; viewers only look."""
        return self.role in ("owner", "editor")

    @property
    def actor(self) -> str:
        """How the ledger names this user as the actor of a change."""
        return f"staff:{self.email}"


@dataclass(frozen=True, slots=True)
class Invite:
    user: StaffUser
    token: str

    def link(self, base: str) -> str:
        return f"{base.rstrip('/')}/console/invite/{self.token}"


def _user(row) -> StaffUser:
    generation = hashlib.sha256((row.password_hash or "").encode()).hexdigest()[:16]
    return StaffUser(row.account_id, row.id, row.email, row.role, row.password_hash is not None, generation)


def _role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise DomainError("role", f"roles are {', '.join(ROLES)}", role)
    return role


def _invite(engine: Engine, user: StaffUser, nonce: str) -> Invite:
    return Invite(user, tokens.make_token(engine, INVITE_KIND, {"a": user.account_id, "u": user.id, "n": nonce}))


def create_user(engine: Engine, account_id: str, email: str, role: str) -> Invite:
    """A new staff user of the account, with the invite that lets them set a password."""
    email, role = normalize_email(email), _role(role)
    now, nonce = utcnow(), secrets.token_hex(16)
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        if store.user_by_email(conn, account_id, email) is not None:
            raise Conflict("email", "this account already has a user with this email", email)
        user_id = new_id()
        values = {"account_id": account_id, "id": user_id, "email": email, "role": role, "password_hash": None,
                  "invite_nonce": nonce, "created_at": now, "updated_at": now}  # fmt: skip
        store.insert_user(conn, values)
        row = store.get_user(conn, account_id, user_id)
    assert row is not None
    return _invite(engine, _user(row), nonce)


def reinvite(engine: Engine, account_id: str, email: str) -> Invite:
    """A new invite link for an existing user (a forgotten password, a lost link); older links stop working."""
    email, nonce = normalize_email(email), secrets.token_hex(16)
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        row = store.user_by_email(conn, account_id, email)
        if row is None:
            raise NotFound("email", "this account has no user with this email", email)
        store.set_fields(conn, account_id, row.id, utcnow(), invite_nonce=nonce)
    return _invite(engine, _user(row), nonce)


def read_invite(engine: Engine, token: str) -> StaffUser:
    """The user an invite link is for; TokenError when it is forged, expired or already used."""
    data = tokens.read_token(engine, INVITE_KIND, token, max_age_seconds=INVITE_DAYS * 86400)
    with read_transaction(engine) as conn:
        row = store.get_user(conn, str(data.get("a")), str(data.get("u")))
    if row is None or row.invite_nonce is None or not secrets.compare_digest(row.invite_nonce, str(data.get("n"))):
        raise tokens.TokenError("this invite link has been used or replaced")
    return _user(row)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise DomainError("password", f"use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise DomainError("password", f"use at most {MAX_PASSWORD} characters")
    return password


def accept_invite(engine: Engine, token: str, password: str) -> StaffUser:
    """Set the password an invite asks for; the link then stops working."""
    user = read_invite(engine, token)
    hashed = _hasher.hash(check_password(password))
    with write_transaction(engine) as conn:
        store.set_fields(conn, user.account_id, user.id, utcnow(), password_hash=hashed, invite_nonce=None)
        row = store.get_user(conn, user.account_id, user.id)
    assert row is not None
    return _user(row)


def authenticate(engine: Engine, email: str, password: str) -> StaffUser | None:
    """The user this email and password are, or None. A person with users in several accounts
    enters the first (oldest) whose password matches."""
    try:
        email = normalize_email(email)
    except DomainError:
        email = ""
    with read_transaction(engine) as conn:
        rows = [r for r in store.users_with_email(conn, email) if r.password_hash] if email else []
    if not rows:
        _verify(_dummy_hash(), password)
        return None
    for row in rows:
        if _verify(row.password_hash, password):
            if _hasher.check_needs_rehash(row.password_hash):
                with write_transaction(engine) as conn:
                    store.set_fields(conn, row.account_id, row.id, row.updated_at, password_hash=_hasher.hash(password))
                    again = store.get_user(conn, row.account_id, row.id)
                return _user(again or row)
            return _user(row)
    return None


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def get_user(engine: Engine, account_id: str, user_id: str) -> StaffUser | None:
    with read_transaction(engine) as conn:
        row = store.get_user(conn, account_id, user_id)
    return None if row is None else _user(row)


def list_users(engine: Engine, account_id: str) -> list[StaffUser]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [_user(r) for r in store.account_users(conn, account_id)]


def require_change(user: StaffUser) -> None:
    if not user.can_change:
        raise Forbidden("role", f"a {user.role} can look but not change anything", user.role)


def session_user(engine: Engine, account_id: str, user_id: str, session_id: str) -> tuple[StaffUser, str] | None:
    """The user of a console session and their account's name, or None when the user is gone or
    this session was signed out."""
    with read_transaction(engine) as conn:
        row = store.get_user(conn, account_id, user_id)
        if row is None or store.session_ended(conn, account_id, session_id):
            return None
        return _user(row), load_account(conn, account_id).name


def end_session(engine: Engine, account_id: str, session_id: str, expires_at: datetime) -> None:
    """Sign a session out on the server: a copy of its cookie no longer opens the console."""
    with write_transaction(engine) as conn:
        store.end_session(conn, account_id, session_id, expires_at, utcnow())


def account_name(engine: Engine, account_id: str) -> str:
    with read_transaction(engine) as conn:
        return load_account(conn, account_id).name
