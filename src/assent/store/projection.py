"""The current-state projection: ProfileState <-> rows of the five projection tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, delete, select

from ..domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from ..domain.channels import SuppressionReason
from . import bulk
from .tables import PROJECTION_TABLES, consents, list_members, list_suppressions, pending_optins, suppressions

COLUMNS: dict[str, tuple[str, ...]] = {
    "consents": (
        "account_id",
        "profile_id",
        "channel",
        "purpose",
        "status",
        "consent_timestamp",
        "method",
        "method_detail",
        "custom_method_detail",
        "double_optin",
        "last_updated",
    ),
    "suppressions": ("account_id", "profile_id", "reason", "created_at"),
    "list_suppressions": ("account_id", "profile_id", "list_id", "reason", "created_at"),
    "list_members": ("account_id", "list_id", "profile_id", "joined_at"),
    "pending_optins": (
        "account_id",
        "profile_id",
        "channel",
        "purpose",
        "list_id",
        "requested_at",
        "method",
        "method_detail",
        "custom_method_detail",
    ),
}

Rows = dict[str, list[tuple]]


def empty_rows() -> Rows:
    return {t.name: [] for t in PROJECTION_TABLES}


def _same(value: Any) -> Any:
    return value


def add_state_rows(
    out: Rows, account_id: str, profile_id: str, state: ProfileState, time: Callable[[Any], Any] = _same
) -> None:
    """Append the rows that represent `state` to `out`, in COLUMNS order; `time` converts each
    timestamp (bulk.db_time turns them into what the driver stores, ahead of the write)."""
    for (channel, purpose), c in state.consents.items():
        out["consents"].append(
            (
                account_id,
                profile_id,
                channel.value,
                purpose.value,
                c.status.value,
                time(c.consent_timestamp),
                c.method,
                c.method_detail,
                c.custom_method_detail,
                c.double_optin,
                time(c.last_updated),
            )
        )
    for reason, at in state.suppressions.items():
        out["suppressions"].append((account_id, profile_id, reason.value, time(at)))
    for list_id, ls in state.list_suppressions.items():
        out["list_suppressions"].append((account_id, profile_id, list_id, ls.reason, time(ls.timestamp)))
    for list_id, joined in state.lists.items():
        out["list_members"].append((account_id, list_id, profile_id, time(joined)))
    for (channel, purpose, list_id), p in state.pending.items():
        out["pending_optins"].append(
            (
                account_id,
                profile_id,
                channel.value,
                purpose.value,
                list_id,
                time(p.requested_at),
                p.method,
                p.method_detail,
                p.custom_method_detail,
            )
        )


def write(conn: Connection, account_id: str, states: Mapping[str, ProfileState], fresh: Iterable[str] = ()) -> None:
    """Replace the stored projection of each profile in `states` (profiles in `fresh` have none yet)."""
    fresh = set(fresh)
    stale = [pid for pid in states if pid not in fresh]
    for table in PROJECTION_TABLES:
        bulk.delete_for_profiles(conn, table, account_id, stale)
    rows = empty_rows()
    for pid, state in states.items():
        add_state_rows(rows, account_id, pid, state)
    insert(conn, rows)


def insert(conn: Connection, rows: Rows) -> None:
    """Insert prepared projection rows (of profiles that have none stored yet)."""
    for table in PROJECTION_TABLES:
        bulk.insert_rows(conn, table, COLUMNS[table.name], rows[table.name])


def load(
    conn: Connection, account_id: str, identities: Mapping[str, tuple[str | None, str | None]]
) -> dict[str, ProfileState]:
    """The stored state of each profile id, given its (email, phone_number)."""
    ids = list(identities)
    parts: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    if not ids:
        return {}

    def rows_of(table):
        return conn.execute(bulk.select_matching(conn, table, account_id, "profile_id", ids))

    for r in rows_of(consents):
        parts[r.profile_id]["consents"][(Channel(r.channel), Purpose(r.purpose))] = ChannelConsent(
            status=ConsentStatus(r.status),
            consent_timestamp=r.consent_timestamp,
            method=r.method,
            method_detail=r.method_detail,
            custom_method_detail=r.custom_method_detail,
            double_optin=r.double_optin,
            last_updated=r.last_updated,
        )
    for r in rows_of(suppressions):
        parts[r.profile_id]["suppressions"][SuppressionReason(r.reason)] = r.created_at
    for r in rows_of(list_suppressions):
        parts[r.profile_id]["list_suppressions"][r.list_id] = ListSuppression(r.reason, r.created_at)
    for r in rows_of(list_members):
        parts[r.profile_id]["lists"][r.list_id] = r.joined_at
    for r in rows_of(pending_optins):
        parts[r.profile_id]["pending"][(Channel(r.channel), Purpose(r.purpose), r.list_id)] = PendingOptIn(
            r.requested_at, r.method, r.method_detail, r.custom_method_detail
        )
    out = {}
    for pid, (email, phone) in identities.items():
        state = ProfileState(email=email, phone_number=phone)
        if pid in parts:
            state = state.evolve(**{k: MappingProxyType(v) for k, v in parts[pid].items()})
        out[pid] = state
    return out


def stored_rows(conn: Connection, account_id: str) -> Rows:
    """Every projection row of the account, as typed tuples in COLUMNS order."""
    out = empty_rows()
    for table in PROJECTION_TABLES:
        cols = [table.c[name] for name in COLUMNS[table.name]]
        out[table.name] = [tuple(r) for r in conn.execute(select(*cols).where(table.c.account_id == account_id))]
    return out


def replace_all(conn: Connection, account_id: str, rows: Rows) -> None:
    """Swap the account's whole projection for `rows`."""
    for table in PROJECTION_TABLES:
        conn.execute(delete(table).where(table.c.account_id == account_id))
    insert(conn, rows)
