"""An account's webhooks: where consent events are sent, for which topics, signed with which secret.

The endpoint URL is checked when it is set (https, or http to a host the operator allows in
ASSENT_WEBHOOK_ALLOW_HOSTS; no literal private address) and again at each connection, on the
addresses its name resolves to then (the sender's part)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import Connection, Engine

from ...config import settings
from ...domain import DomainError
from ...domain.webhooks import SECRET_PREFIX, check_endpoint_url, check_secret, check_topics
from ...store import webhooks as store
from ...store.db import read_transaction, write_transaction
from ...store.rows import AnyRow
from ..accounts.accounts import load_account
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.ids import new_id

MAX_NAME = 200
MAX_DESCRIPTION = 1000


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    name: str
    description: str | None
    endpoint_url: str
    topics: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None  # why Assent disabled it (None when enabled, or disabled by hand)
    created_at: datetime
    updated_at: datetime
    queued: int | None = None  # deliveries waiting, when asked for
    next_attempt_at: datetime | None = None  # when the first of them is tried next
    last_error: str | None = None  # why its last attempt failed


def new_secret() -> str:
    """A fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhook(row: AnyRow, queue: tuple[int, AnyRow | None] | None = None) -> Webhook:
    first = queue[1] if queue else None
    return Webhook(
        row.id, row.name, row.description, row.endpoint_url, tuple(msgspec.json.decode(row.topics)), bool(row.enabled),
        row.disabled_reason, row.created_at, row.updated_at,
        queued=queue[0] if queue else None,
        next_attempt_at=first.next_attempt_at if first is not None else None,
        last_error=first.last_error if first is not None else None,
    )  # fmt: skip


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise DomainError("name", f"must be 1 to {MAX_NAME} characters")
    return name


def _description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise DomainError("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description


def _url(url: str) -> str:
    return check_endpoint_url(url, settings().webhook_allow_hosts)


def _load(conn: Connection, account_id: str, webhook_id: str) -> AnyRow:
    row = store.get(conn, account_id, webhook_id)
    if row is None:
        raise NotFound("webhook", "no such webhook", webhook_id)
    return row


def create(
    engine: Engine, account_id: str, *, name: str, endpoint_url: str, topics: Sequence[str],
    secret: str | None = None, description: str | None = None,
) -> tuple[Webhook, str]:  # fmt: skip
    """A new, enabled webhook; returns it and its secret (a new one unless given)."""
    values = {
        "name": _name(name), "description": _description(description), "endpoint_url": _url(endpoint_url),
        "topics": msgspec.json.encode(list(check_topics(list(topics)))).decode(),
        "secret": check_secret(secret) if secret is not None else new_secret(),
    }  # fmt: skip
    now = utcnow()
    webhook_id = new_id()
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        store.add(conn, {"account_id": account_id, "id": webhook_id, "enabled": True, "created_at": now,
                         "updated_at": now, **values})  # fmt: skip
        made = _webhook(_load(conn, account_id, webhook_id))
    return made, str(values["secret"])


def listing(engine: Engine, account_id: str, *, with_queue: bool = False) -> list[Webhook]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        rows = store.listing(conn, account_id)
        queues = store.queued(conn, account_id, [r.id for r in rows]) if with_queue else {}
        return [_webhook(r, queues.get(r.id)) for r in rows]


def get(engine: Engine, account_id: str, webhook_id: str, *, with_queue: bool = False) -> Webhook:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        row = _load(conn, account_id, webhook_id)
        queue = store.queued(conn, account_id, [webhook_id])[webhook_id] if with_queue else None
        return _webhook(row, queue)


_UNSET = object()


def update(
    engine: Engine, account_id: str, webhook_id: str, *, name: str | None = None, description: object = _UNSET,
    endpoint_url: str | None = None, secret: str | None = None, enabled: bool | None = None,
    topics: Sequence[str] | None = None,
) -> Webhook:  # fmt: skip
    """Change what is given. Enabling a webhook clears why it was disabled; what was queued for it
    before is sent from where it stopped."""
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = _name(name)
    if description is not _UNSET:
        values["description"] = _description(description if isinstance(description, str) else None)
    if endpoint_url is not None:
        values["endpoint_url"] = _url(endpoint_url)
    if secret is not None:
        values["secret"] = check_secret(secret)
    if topics is not None:
        values["topics"] = msgspec.json.encode(list(check_topics(list(topics)))).decode()
    if enabled is not None:
        values["enabled"] = enabled
        values["disabled_reason"] = None
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        _load(conn, account_id, webhook_id)
        if values:
            store.change(conn, account_id, webhook_id, {**values, "updated_at": utcnow()})
        return _webhook(_load(conn, account_id, webhook_id))


def delete(engine: Engine, account_id: str, webhook_id: str) -> None:
    """Delete the webhook and what was still queued for it."""
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        if not store.remove(conn, account_id, webhook_id):
            raise NotFound("webhook", "no such webhook", webhook_id)
