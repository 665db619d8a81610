"""Signed tokens for the links people click (confirm, unsubscribe, preferences): they name the
account, profile and list, can't be forged or enumerated, and expire where the purpose wants it."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection, Engine

from ...domain import DomainError
from ...store.db import read_transaction
from ..accounts.accounts import signing_secret


class TokenError(DomainError):
    code = "invalid_token"

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__("token", message)
        self.expired = expired


_secrets: dict[str, bytes] = {}


def _serializer(engine: Engine, kind: str, conn: Connection | None = None) -> URLSafeTimedSerializer:
    key = str(engine.url)
    if key not in _secrets:
        if conn is not None:  # inside a transaction: read it there rather than take a second connection
            _secrets[key] = signing_secret(conn)
        else:
            with read_transaction(engine) as c:
                _secrets[key] = signing_secret(c)
    # The kind is the salt: a token made for one purpose is refused by every other.
    return URLSafeTimedSerializer(_secrets[key], salt=f"assent.{kind}")


def make_token(engine: Engine, kind: str, data: dict[str, Any]) -> str:
    return _serializer(engine, kind).dumps(data)


def make_token_in(conn: Connection, kind: str, data: dict[str, Any]) -> str:
    """make_token for a caller inside a write transaction (a link in a message queued there)."""
    return _serializer(conn.engine, kind, conn).dumps(data)


def read_token(engine: Engine, kind: str, token: str, max_age_seconds: int | None = None) -> dict[str, Any]:
    """The token's data; TokenError when it was forged, altered, made for another purpose, or is
    older than `max_age_seconds`."""
    try:
        data = _serializer(engine, kind).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenError("this link has expired", expired=True) from None
    except BadSignature:
        raise TokenError("this link is not valid") from None
    if not isinstance(data, dict):
        raise TokenError("this link is not valid")
    return data
