"""The current-state projection: ProfileState <-> rows of the projection tables (the five that
hold the state), and the consent summary derived from it (domain/summary.py), which lives in the
profile's own row."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import Boolean, Connection, Text, column, delete, select, text, update
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.types import TypeEngine

from ..domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from ..domain.channels import SuppressionReason
from ..domain.push_tokens import ACTIVE
from ..domain.state import EMPTY
from ..domain.summary import NO_SUMMARY, SUMMARY_COLUMNS, SUPPRESSED_COLUMN
from . import bulk
from .forms import PROJECTION_COLUMNS
from .forms import SUMMARY as SUMMARY
from .forms import Rows as Rows
from .forms import add_state_rows as add_state_rows
from .forms import empty_rows as empty_rows
from .tables import PROJECTION_TABLES, UTCDateTime, profiles

COLUMNS = PROJECTION_COLUMNS
# The projection's tables by name, as Rows keys them (then SUMMARY).
TABLE_NAMES: tuple[str, ...] = tuple(str(t.name) for t in PROJECTION_TABLES)
if tuple(COLUMNS) != (*TABLE_NAMES, SUMMARY):  # forms keeps the names without the tables; they must agree
    raise RuntimeError(f"forms.PROJECTION_COLUMNS names {tuple(COLUMNS)}, the schema {TABLE_NAMES}")


# Where each table's rows hold the profile id.
_PROFILE_AT = {name: columns.index("profile_id") for name, columns in COLUMNS.items()}


def add_rows_like(out: Rows, like: Rows, profile_id: str) -> None:
    """Append `like` (another profile's rows, from add_state_rows) to `out` as this profile's: a
    state with the very same parts has the same rows but for the profile id."""
    for table, rows in like.items():
        if rows:
            i = _PROFILE_AT[table]
            out[table] += [(*r[:i], profile_id, *r[i + 1 :]) for r in rows]


def rows_adder(out: Rows, like: Rows) -> Callable[[str], None]:
    """`lambda profile_id: add_rows_like(out, like, profile_id)`, with `like`'s rows cut around their
    profile id once: a bulk job adds one state's rows for each of its alike profiles."""
    parts = [
        (out[table].append, r[: _PROFILE_AT[table]], r[_PROFILE_AT[table] + 1 :])
        for table, rows in like.items()
        for r in rows
    ]

    def add(profile_id: str) -> None:
        for append, head, tail in parts:
            append((*head, profile_id, *tail))

    return add


def split_off(rows: Rows, profile_ids: Collection[str]) -> tuple[Rows, Rows]:
    """`rows` (add_state_rows') as (those of the profiles named, the others); summaries stay with
    the others."""
    taken, kept = empty_rows(), empty_rows()
    for table, table_rows in rows.items():
        if table == SUMMARY:
            kept[table] = table_rows
            continue
        i = _PROFILE_AT[table]
        for r in table_rows:
            (taken if r[i] in profile_ids else kept)[table].append(r)
    return taken, kept


def write(
    conn: Connection,
    account_id: str,
    states: Mapping[str, ProfileState],
    fresh: Iterable[str] = (),
    rows: Rows | None = None,
    summarized: Collection[str] = (),
) -> None:
    """Replace the stored projection of each profile in `states` (profiles in `fresh` have none yet);
    `rows`, when given, are those states' rows already (add_state_rows), made ahead of the write;
    the profiles in `summarized` had their summaries written with their rows (none in `rows`)."""
    fresh = set(fresh)
    stale = [pid for pid in states if pid not in fresh]
    for table in PROJECTION_TABLES:
        bulk.delete_for_profiles(conn, table, account_id, stale)
    if rows is None:
        rows = empty_rows()
        for pid, state in states.items():
            add_state_rows(rows, account_id, pid, state)
    # A stored profile whose state now has no summary has its old one cleared.
    done = _profile_ids(rows[SUMMARY]) | set(summarized)
    cleared = [(*NO_SUMMARY, account_id, pid) for pid in stale if pid not in done]
    insert(conn, {**rows, SUMMARY: [*rows[SUMMARY], *cleared]} if cleared else rows)


def insert(conn: Connection, rows: Rows, *, first: Sequence[bulk.Insert] = ()) -> None:
    """Insert prepared projection rows (of profiles that have none stored yet), after the rows of
    `first` (their profiles', say: bulk.insert_all sends them together), and write the summaries
    among them into their profiles' rows."""
    bulk.insert_all(conn, [*first, *((t, COLUMNS[t.name], rows[t.name]) for t in PROJECTION_TABLES)])
    write_summaries(conn, rows[SUMMARY])


def write_summaries(conn: Connection, rows: Sequence[Any]) -> None:
    """Write consent summaries (rows in COLUMNS[SUMMARY] order, or COPY lines of them) into their
    profiles' rows."""
    bulk.update_rows(conn, profiles, ("account_id", "id"), SUMMARY_COLUMNS, rows, purpose="summary")


def _profile_ids(rows: Sequence[Any]) -> set[str]:
    """The profile ids of summary rows: each row's last value, or a COPY line's last field."""
    if rows and isinstance(rows[0], str):
        return {line.rstrip("\n").rsplit("\t", 1)[1] for line in rows}
    return {r[-1] for r in rows}


# The five tables, and the profiles' push tokens, read in one UNION ALL statement (one round trip,
# not six), each row shaped (kind, profile_id, text, text, text, time, time, text, text, text, bool).
_SHAPE = ("text", "text", "text", "time", "time", "text", "text", "text", "bool")
_PARTS = {
    "consents": ("channel", "purpose", "status", "consent_timestamp", "last_updated", "method", "method_detail",
                 "custom_method_detail", "double_optin"),
    "suppressions": ("reason", None, None, "created_at", None, None, None, None, None),
    "list_suppressions": ("list_id", "reason", None, "created_at", None, None, None, None, None),
    "list_members": ("list_id", None, None, "joined_at", None, None, None, None, None),
    "pending_optins": ("channel", "purpose", "list_id", "requested_at", None, "method", "method_detail",
                       "custom_method_detail", None),
    # A row per device: push is addressed to devices, so the AUTHORIZED ones count as the profile's
    # push address (answered from the (account, profile, status) index).
    "push_tokens": ("enablement_status", None, None, None, None, None, None, None, None),
}  # fmt: skip
_NULLS = {
    "text": "CAST(NULL AS TEXT)",
    "time": "CAST(NULL AS TIMESTAMP WITH TIME ZONE)",
    "bool": "CAST(NULL AS BOOLEAN)",
}
_TYPES: dict[str, TypeEngine[Any]] = {"text": Text(), "time": UTCDateTime(), "bool": Boolean()}


@functools.cache
def _load_statement(dialect: str) -> TextualSelect:
    """The statement built once per dialect: building a text() clause per call (parsing its binds,
    typing its columns) cost more than the query itself on a single-profile read."""
    return text(load_sql(dialect)).columns(
        column("kind", Text()), column("profile_id", Text()),
        *(column(f"v{i}", _TYPES[kind]) for i, kind in enumerate(_SHAPE)),
    )  # fmt: skip


def _union(tail: Callable[[str], str], packed: bool = False) -> str:
    """The UNION ALL of every projection table's rows (and push tokens') in one shape: the table's
    name, the profile id, then its columns in _SHAPE; `tail(table)` writes the FROM and WHERE.
    `packed` (SQLite): each row is the profile id and the rest as one JSON array's text instead."""
    selects = []
    for table, columns in _PARTS.items():
        cols = ", ".join(f"{table}.{c}" if c else _NULLS[kind] for c, kind in zip(columns, _SHAPE, strict=True))
        if packed:
            selects.append(f"SELECT {table}.profile_id, json_array('{table}', {cols}) {tail(table)}")
        else:
            selects.append(f"SELECT '{table}', {table}.profile_id, {cols} {tail(table)}")
    return " UNION ALL ".join(selects)


def load_sql(dialect: str, packed: bool = False) -> str:
    """The UNION ALL statement of the projection and push tokens of the profiles whose ids are the
    JSON array :values, in SQLAlchemy's named binds (:values, :account_id); `packed` as range_sql."""
    return _union(lambda table: bulk.matching_clause(dialect, table, "profile_id"), packed)


@functools.cache
def range_sql(dialect: str, packed: bool = False) -> str:
    """load_sql's statement for the profiles whose ids lie between :first and :last (inclusive)
    rather than those in a list: one range scan of each table's (account_id, profile_id) index
    instead of a probe per profile. For a page of every profile of the account in id order, the
    range holds that page's profiles and no other (read in the same transaction). `packed`
    (SQLite only): rows of (profile id, a JSON array of the rest), as _union packs them."""
    return _union(
        lambda table: (
            f"FROM {table} WHERE {table}.account_id = :account_id "
            f"AND {table}.profile_id >= :first AND {table}.profile_id <= :last"
        ),
        packed,
    )


def load(
    conn: Connection, account_id: str, identities: Mapping[str, tuple[str | None, str | None]]
) -> dict[str, ProfileState]:
    """The stored state of each profile id, given its (email, phone_number)."""
    ids = list(identities)
    if not ids:
        return {}
    params = {"values": bulk.values_param(ids), "account_id": account_id}
    return states(conn.execute(_load_statement(conn.dialect.name), params), identities)


_CHANNELS = {m.value: m for m in Channel}
_PURPOSES = {m.value: m for m in Purpose}
_STATUSES = {m.value: m for m in ConsentStatus}
_REASONS = {m.value: m for m in SuppressionReason}


def states(
    rows: Iterable[Sequence[Any]], identities: Mapping[str, tuple[str | None, str | None]]
) -> dict[str, ProfileState]:
    """The state of each profile id, from the rows of the UNION ALL statement (times aware, the
    flag a bool), given its (email, phone_number). Each state is made once, with its parts (a
    page of profiles makes a hundred); enum values are looked up, the enum called only to refuse
    one it does not have."""
    consents: dict[str, dict[Any, Any]] = {}
    suppressions: dict[str, dict[Any, Any]] = {}
    list_suppressions: dict[str, dict[Any, Any]] = {}
    lists: dict[str, dict[Any, Any]] = {}
    pending: dict[str, dict[Any, Any]] = {}
    devices: dict[str, int] = {}
    for kind, pid, a, b, c, t1, t2, d, e, f, g in rows:
        if kind == "consents":
            part = consents.get(pid)
            if part is None:
                part = consents[pid] = {}
            key = (_CHANNELS.get(a) or Channel(a), _PURPOSES.get(b) or Purpose(b))
            part[key] = ChannelConsent(_STATUSES.get(c) or ConsentStatus(c), t1, d, e, f, g, t2)
        elif kind == "suppressions":
            suppressions.setdefault(pid, {})[_REASONS.get(a) or SuppressionReason(a)] = t1
        elif kind == "list_suppressions":
            list_suppressions.setdefault(pid, {})[a] = ListSuppression(b, t1)
        elif kind == "list_members":
            lists.setdefault(pid, {})[a] = t1
        elif kind == "pending_optins":
            pending.setdefault(pid, {})[(Channel(a), Purpose(b), c)] = PendingOptIn(t1, d, e, f)
        elif a in ACTIVE:  # a push token
            devices[pid] = devices.get(pid, 0) + 1

    def mapping(parts: dict[str, dict[Any, Any]], pid: str) -> Mapping[Any, Any]:
        found = parts.get(pid)
        return EMPTY if found is None else MappingProxyType(found)

    return {
        pid: ProfileState(
            mapping(consents, pid) if consents else EMPTY,
            mapping(suppressions, pid) if suppressions else EMPTY,
            mapping(list_suppressions, pid) if list_suppressions else EMPTY,
            mapping(lists, pid) if lists else EMPTY,
            mapping(pending, pid) if pending else EMPTY,
            email,
            phone,
            devices.get(pid, 0),
        )
        for pid, (email, phone) in identities.items()
    }


def one_profile_sql(placeholder: Callable[[str], str]) -> str:
    """The UNION ALL statement for one profile, for the raw driver: `placeholder(name)` writes the
    driver's bind of :account_id and :profile_id (each table's rows found on its profile index)."""
    account, profile = placeholder("account_id"), placeholder("profile_id")
    return _union(lambda table: f"FROM {table} WHERE {table}.account_id = {account} AND {table}.profile_id = {profile}")


def stored_rows(conn: Connection, account_id: str) -> Rows:
    """Every projection row of the account, as typed tuples in COLUMNS order (the profiles with a
    summary for SUMMARY)."""
    out = empty_rows()
    for table in PROJECTION_TABLES:
        cols = [table.c[name] for name in COLUMNS[table.name]]
        out[table.name] = [tuple(r) for r in conn.execute(select(*cols).where(table.c.account_id == account_id))]
    p = profiles
    summarized = select(*(p.c[name] for name in SUMMARY_COLUMNS), p.c.account_id, p.c.id).where(
        p.c.account_id == account_id, p.c[SUPPRESSED_COLUMN].is_not(None)
    )
    out[SUMMARY] = [tuple(r) for r in conn.execute(summarized)]
    return out


def replace_all(conn: Connection, account_id: str, rows: Rows) -> None:
    """Swap the account's whole projection for `rows`."""
    for table in PROJECTION_TABLES:
        conn.execute(delete(table).where(table.c.account_id == account_id))
    p = profiles
    conn.execute(
        update(p)
        .where(p.c.account_id == account_id, p.c[SUPPRESSED_COLUMN].is_not(None))
        .values(dict.fromkeys(SUMMARY_COLUMNS))
    )
    insert(conn, rows)
