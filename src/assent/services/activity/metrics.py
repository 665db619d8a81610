"""Metrics, as Klaviyo's metrics API has them: the built-in consent metrics every account has
(the ledger's events carry their names, "Subscribed to Email Marketing", ...) and the metrics
named by the events clients post (`events`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Row

from ...domain.channels import (
    ALL_CHANNEL_PURPOSES,
    MANUALLY_SUPPRESSED,
    MANUALLY_UNSUPPRESSED,
    NUMBER_CHANNELS,
    SUBSCRIBED_TO_LIST,
    UNSUBSCRIBED_FROM_LIST,
    reset_metric,
    subscribed_metric,
    unsubscribed_metric,
)
from ...store import accounts as account_store
from ...store import activity as store
from ...store.db import read_transaction
from ...store.paging import Page
from ..shared.errors import NotFound

METRICS_PAGE = 200


# --- built-in metrics: the ledger's metric names ------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def builtin_metric_id(name: str) -> str:
    """A Klaviyo-like six-character id derived from the name: the same in every account and on
    every server, so clients may keep it."""
    n = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    out = []
    for _ in range(6):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    return "".join(out)


CONSENT_METRICS: tuple[str, ...] = (
    *(subscribed_metric(c, p) for c, p in ALL_CHANNEL_PURPOSES),
    *(unsubscribed_metric(c, p) for c, p in ALL_CHANNEL_PURPOSES),
    SUBSCRIBED_TO_LIST,
    UNSUBSCRIBED_FROM_LIST,
    MANUALLY_SUPPRESSED,
    MANUALLY_UNSUPPRESSED,
    *(reset_metric(c, p) for c, p in ALL_CHANNEL_PURPOSES if c in NUMBER_CHANNELS),
)
BUILTIN_BY_ID: dict[str, str] = {builtin_metric_id(name): name for name in CONSENT_METRICS}
if len(BUILTIN_BY_ID) != len(CONSENT_METRICS):  # a hash collision would merge two metrics
    raise RuntimeError("two consent metric names have the same derived id")


@dataclass(frozen=True, slots=True)
class Integration:
    id: str
    key: str
    name: str
    category: str


KLAVIYO = Integration("klaviyo", "klaviyo", "Klaviyo", "Internal")  # system metrics
API = Integration("api", "api", "API", "API")  # metrics named by clients' events


def integration_of(service: str | None) -> Integration:
    if service is None or service.lower() == "api":
        return API
    return Integration(service, service, service, "API")


@dataclass(frozen=True, slots=True)
class Metric:
    id: str
    name: str
    created: datetime
    updated: datetime
    integration: Integration


def _stored_metric(row: Row) -> Metric:
    return Metric(row.id, row.name, row.created_at, row.updated_at, integration_of(row.service))


def _builtins(account_created: datetime) -> list[Metric]:
    # System metrics exist from the account's start, as Klaviyo's do.
    return [Metric(mid, name, account_created, account_created, KLAVIYO) for mid, name in BUILTIN_BY_ID.items()]


def _account_created(conn: Connection, account_id: str) -> datetime:
    row = account_store.get_account(conn, account_id)
    if row is None:
        raise NotFound("account", "no such account", account_id)
    return row.created_at


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricListing:
    metrics: list[Metric]
    page: Page[Metric]  # first/last keys: ("b", index) in the built-in list, or ("s", id) of a stored one


def _matches(m: Metric, name: str | None, category: str | None) -> bool:
    return (name is None or m.integration.name == name) and (category is None or m.integration.category == category)


def list_metrics(
    engine: Engine,
    account_id: str,
    *,
    integration_names: tuple[str, ...] = (),
    integration_categories: tuple[str, ...] = (),
    after: tuple | None = None,
    before: tuple | None = None,
    limit: int = METRICS_PAGE,
) -> MetricListing:
    """The account's metrics: the built-in consent metrics first, then the stored ones by creation.

    A cursor key is ("b", i), the i-th built-in metric that passes the filter, or ("s", id), a
    stored metric; paging walks the built-in list, then the stored metrics by id."""
    names, categories = set(integration_names), set(integration_categories)
    empty = MetricListing([], Page([], None, None, False, False))
    if len(names) > 1 or len(categories) > 1:
        return empty
    name, category = next(iter(names), None), next(iter(categories), None)
    with read_transaction(engine) as conn:
        builtins = [m for m in _builtins(_account_created(conn, account_id)) if _matches(m, name, category)]
        # Stored metrics are all of category API; their integration name is API or their service.
        stored_wanted = category in (None, API.category)
        api_only = name == API.name
        service = None if name is None or api_only else name

        def stored(after_id: str | None, before_id: str | None, n: int) -> Page:
            if not stored_wanted:
                return Page([], None, None, False, False)
            return store.metrics_page(
                conn,
                account_id,
                api_only=api_only,
                service=service,
                limit=n,
                after=None if after_id is None else (after_id,),
                before=None if before_id is None else (before_id,),
            )

        keyed: list[tuple[tuple, Metric]]
        if before is None:
            start = 0 if after is None else (after[1] + 1 if after[0] == "b" else len(builtins))
            keyed = [(("b", i), m) for i, m in enumerate(builtins[start : start + limit], start)]
            more_builtins = start + limit < len(builtins)
            rest = stored(after[1] if after is not None and after[0] == "s" else None, None, limit - len(keyed))
            keyed += [(("s", r.id), _stored_metric(r)) for r in rest.rows]
            has_next = more_builtins or rest.has_next
            has_prev = after is not None
        else:
            keyed = []
            end = len(builtins)
            if before[0] == "s":
                rest = stored(None, before[1], limit)
                keyed = [(("s", r.id), _stored_metric(r)) for r in rest.rows]
                has_prev_stored = rest.has_prev
            else:
                end, has_prev_stored = before[1], False
            room = limit - len(keyed)
            start = max(0, end - room) if not has_prev_stored else end
            keyed = [(("b", i), m) for i, m in enumerate(builtins[start:end], start)] + keyed
            has_prev = has_prev_stored or start > 0
            has_next = True
        page = Page(
            [m for _, m in keyed],
            keyed[0][0] if keyed else None,
            keyed[-1][0] if keyed else None,
            has_next=has_next,
            has_prev=has_prev,
        )
        return MetricListing(page.rows, page)


def get_metric(engine: Engine, account_id: str, metric_id: str) -> Metric:
    with read_transaction(engine) as conn:
        created = _account_created(conn, account_id)
        name = BUILTIN_BY_ID.get(metric_id)
        if name is not None:
            return Metric(metric_id, name, created, created, KLAVIYO)
        row = store.get_metric(conn, account_id, metric_id)
        if row is None:
            raise NotFound("id", "no metric in this account has this id", metric_id)
        return _stored_metric(row)
