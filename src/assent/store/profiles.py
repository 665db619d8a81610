"""Profiles: look-ups by id and identifier."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, select, text, update

from . import bulk, forms
from .conditions import OPERATORS
from .db import driver_connection, driver_rows, later, pipelined, postgres_utc
from .rows import AnyRow, AnySelect, SortKey
from .tables import list_members, list_suppressions, lists, profiles, suppressions

IDENTIFIERS = ("email", "phone_number", "external_id")


# Built once: constructing the select per call cost about as much as running it.
_GET = select(profiles).where(profiles.c.account_id == bindparam("account_id"), profiles.c.id == bindparam("id"))


def get(conn: Connection, account_id: str, profile_id: str) -> AnyRow | None:
    return conn.execute(_GET, {"account_id": account_id, "id": profile_id}).first()


def reload(conn: Connection, account_id: str, profile_id: str) -> AnyRow:
    """A profile this transaction has just written: it is there (`.one()` raises otherwise)."""
    return conn.execute(_GET, {"account_id": account_id, "id": profile_id}).one()


def find(conn: Connection, account_id: str, field: str, value: str) -> AnyRow | None:
    if field == "id":
        return get(conn, account_id, value)
    if field not in IDENTIFIERS:
        raise ValueError(f"not an identifier: {field}")
    return conn.execute(select(profiles).where(profiles.c.account_id == account_id, profiles.c[field] == value)).first()


def ids_matching(conn: Connection, account_id: str, field: str, values: Iterable[str]) -> set[str]:
    """Ids of the profiles whose `field` is one of `values`: one query, answered from the index."""
    values = list(set(values))
    if not values:
        return set()
    sql, account_first = _ids_matching_sql(conn.dialect.name, field)
    wanted = bulk.values_param(values)
    return {r[0] for r in driver_rows(conn, sql, (account_id, wanted) if account_first else (wanted, account_id))}


@functools.cache
def _ids_matching_sql(dialect: str, field: str) -> tuple[str, bool]:
    """ids_matching's statement for the bare driver (as bulk.matching_clause plans it), and
    whether the account is its first parameter (else the JSON array of values is)."""
    column = profiles.c[field].name  # a column of the table, never text from outside
    if dialect == "sqlite":
        sql = (f"SELECT profiles.id FROM json_each(?) AS wanted CROSS JOIN profiles "
               f"ON profiles.account_id = ? AND profiles.{column} = wanted.value")  # fmt: skip
        return sql, False
    sql = (f"SELECT profiles.id FROM {bulk.pg_wanted('?', '?')} JOIN profiles "
           f"ON profiles.account_id = wanted.account_id AND profiles.{column} = wanted.value")  # fmt: skip
    return sql, True


def get_many(conn: Connection, account_id: str, ids: Iterable[str]) -> list[AnyRow]:
    ids = list(ids)
    return list(conn.execute(bulk.select_matching(conn, profiles, account_id, "id", ids))) if ids else []


def updated_at_of(conn: Connection, account_id: str, ids: Iterable[str]) -> dict[str, Any]:
    """When each of these profiles was last changed (a profile no longer stored is absent)."""
    ids = list(ids)
    if not ids:
        return {}
    q = bulk.select_matching(conn, profiles, account_id, "id", ids, ("id", "updated_at"))
    return {r.id: r.updated_at for r in conn.execute(q)}


def updated_at_later(conn: Connection, account_id: str, ids: Iterable[str]) -> Callable[[], dict[str, Any]]:
    """updated_at_of, asked later: in a pipeline (db.pipeline) sent now, with what else is queued,
    and answered when the returned function is called; otherwise asked when it is called."""
    ids = list(ids)
    if not pipelined(conn) or not ids:
        return lambda: updated_at_of(conn, account_id, ids)
    sql = (
        f"SELECT profiles.id, profiles.updated_at FROM {forms.pg_wanted('?', '?')} JOIN profiles"
        " ON profiles.account_id = wanted.account_id AND profiles.id = wanted.value"
    )
    found = later(conn, sql, (account_id, bulk.values_param(ids)))
    return lambda: {pid: postgres_utc(at) for pid, at in found()}


def insert_one(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(profiles).values(**values))


def set_fields(conn: Connection, account_id: str, profile_id: str, values: dict[str, Any]) -> None:
    """Change a profile's fields; its import digest no longer holds (see unchanged_imports)."""
    conn.execute(
        update(profiles)
        .where(profiles.c.account_id == account_id, profiles.c.id == profile_id)
        .values(**values, import_digest=None, import_seq=None)
    )


# --- import digests: an import row a profile took and has not changed since --------------------


def holds_import_digests(conn: Connection, account_id: str) -> bool:
    """Whether any profile of the account holds an import digest (one probe of their index)."""
    sql = select(1).where(profiles.c.account_id == account_id, profiles.c.import_digest.is_not(None)).limit(1)
    return conn.execute(sql).first() is not None


def unchanged_imports(conn: Connection, account_id: str, digests: Iterable[str]) -> dict[str, str]:
    """digest -> profile id, for the digests held by a profile that has had no ledger event since it
    took that row (its fields cannot have changed: every other write clears the digest), looked up in
    `conn`'s transaction, on the bare driver (through SQLAlchemy's result rows it cost twice what the
    query itself does)."""
    return forms.unchanged_digests(driver_connection(conn), conn.dialect.name, account_id, list(digests))


def set_import_digests(conn: Connection, account_id: str, digests: Mapping[str, str], seq: int) -> None:
    """Record, for each profile id, the digest of the import row it has just taken, with `seq`: the
    account's ledger seq once the row's events are written (none of the profile's events has passed
    it; any written after will)."""
    if not digests:
        return
    raw = driver_connection(conn)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"UPDATE profiles SET import_digest = {mark}, import_seq = {mark} WHERE account_id = {mark} AND id = {mark}"
    rows = [(digest, seq, account_id, pid) for pid, digest in digests.items()]
    if conn.dialect.name == "sqlite":
        raw.executemany(sql, rows)
    else:
        with raw.cursor() as cur:
            cur.executemany(sql, rows)


_SUPPRESSION = "subscriptions.email.marketing.suppression."
_LIST_SUPPRESSION = "subscriptions.email.marketing.list_suppressions."
# A filter's field -> the column it compares, per table.
_PROFILE_COLUMNS = {
    "id": profiles.c.id,
    "email": profiles.c.email,
    "phone_number": profiles.c.phone_number,
    "external_id": profiles.c.external_id,
    "created": profiles.c.created_at,
    "updated": profiles.c.updated_at,
}
_SUPPRESSION_COLUMNS = {"reason": suppressions.c.reason, "timestamp": suppressions.c.created_at}
_LIST_SUPPRESSION_COLUMNS = {
    "reason": list_suppressions.c.reason,
    "timestamp": list_suppressions.c.created_at,
    "list_id": list_suppressions.c.list_id,
}
SORT_COLUMNS = {
    "id": (profiles.c.id,),
    "created": (profiles.c.created_at, profiles.c.id),
    "updated": (profiles.c.updated_at, profiles.c.id),
    "email": (func.coalesce(profiles.c.email, ""), profiles.c.id),
}


def listing(account_id: str, conditions: Sequence[Any]) -> AnySelect:
    """Profiles of the account matching every condition (each has .op, .field, .value)."""
    q = select(profiles).where(profiles.c.account_id == account_id)
    on_suppressions, on_list_suppressions = [], []
    for c in conditions:
        compare = OPERATORS[c.op]
        if c.field in _PROFILE_COLUMNS:
            q = q.where(compare(_PROFILE_COLUMNS[c.field], c.value))
        elif c.field.startswith(_SUPPRESSION):
            on_suppressions.append(compare(_SUPPRESSION_COLUMNS[c.field.removeprefix(_SUPPRESSION)], c.value))
        elif c.field.startswith(_LIST_SUPPRESSION):
            column = _LIST_SUPPRESSION_COLUMNS[c.field.removeprefix(_LIST_SUPPRESSION)]
            on_list_suppressions.append(compare(column, c.value))
        else:
            raise ValueError(f"no column for filter field {c.field}")
    # All conditions on suppressions hold for one and the same suppression.
    for table, conds in ((suppressions, on_suppressions), (list_suppressions, on_list_suppressions)):
        if conds:
            q = q.where(exists().where(table.c.account_id == account_id, table.c.profile_id == profiles.c.id, *conds))
    return q


def sort_key(field: str) -> Callable[[AnyRow], SortKey]:
    if field == "id":
        return lambda r: (r.id,)
    if field == "email":
        return lambda r: (r.email or "", r.id)
    column = f"{field}_at"
    return lambda r: (getattr(r, column).isoformat(), r.id)


def lists_of(conn: Connection, account_id: str, profile_id: str) -> list[AnyRow]:
    """The lists the profile is a member of."""
    q = (
        select(lists)
        .join(list_members, (list_members.c.account_id == lists.c.account_id) & (list_members.c.list_id == lists.c.id))
        .where(list_members.c.account_id == account_id, list_members.c.profile_id == profile_id)
        .order_by(lists.c.id)
    )
    return list(conn.execute(q))


# --- canonical emails -------------------------------------------------------------------------
# An address is stored wholly lowercased (domain.identity.normalize_email). SQLite's lower() folds
# ASCII only, so there the comparison uses Python's str.lower, registered on the connection;
# PostgreSQL's lower() folds by the database's locale (the same for the ASCII addresses nearly
# everyone has).


def canonical_email_sql(conn: Connection, column: str) -> str:
    """SQL for `column` in canonical form, on this connection."""
    if conn.dialect.name == "sqlite":
        raw = driver_connection(conn)
        raw.create_function("assent_lower", 1, lambda v: v.lower() if isinstance(v, str) else v, deterministic=True)
        return f"assent_lower({column})"
    return f"lower({column})"


def email_collisions(conn: Connection, account_id: str | None = None) -> list[tuple[str, str, list[str]]]:
    """(account id, canonical email, profile ids) for every canonical address that more than one
    profile of an account holds in different spellings; read-only, on any schema revision."""
    canonical = canonical_email_sql(conn, "email")
    only = "AND account_id = :account_id" if account_id is not None else ""
    sql = (
        "SELECT account_id, canonical, id FROM ("
        f" SELECT account_id, id, {canonical} AS canonical,"
        f" COUNT(*) OVER (PARTITION BY account_id, {canonical}) AS n"
        f" FROM profiles WHERE email IS NOT NULL {only}) AS c "
        "WHERE n > 1 ORDER BY account_id, canonical, id"
    )
    out: dict[tuple[str, str], list[str]] = {}
    for row in conn.execute(text(sql), {"account_id": account_id}):
        out.setdefault((row.account_id, row.canonical), []).append(row.id)
    return [(a, email, ids) for (a, email), ids in out.items()]


class EmailCollisions(Exception):
    """Profiles of one account whose addresses differ only in case: canonicalising would merge
    them, which is a decision for a person, not a migration."""

    def __init__(self, collisions: list[tuple[str, str, list[str]]]) -> None:
        self.collisions = collisions
        shown = [f"account {a}: {email} is held by profiles {', '.join(ids)}" for a, email, ids in collisions[:20]]
        more = f"\n  … and {len(collisions) - 20} more" if len(collisions) > 20 else ""
        super().__init__(
            f"{len(collisions)} email address(es) would belong to two or more profiles once lowercased; "
            "nothing was changed. Resolve them (see `assent profiles duplicates --account ID`), then "
            "run the upgrade again:\n  " + "\n  ".join(shown) + more
        )


def canonicalize_emails(conn: Connection) -> None:
    """Store every address in canonical form, set-based; raises EmailCollisions, having changed
    nothing, when two profiles of an account would then share one."""
    collisions = email_collisions(conn)
    if collisions:
        raise EmailCollisions(collisions)
    profile_email = canonical_email_sql(conn, "email")
    conn.execute(text(f"UPDATE profiles SET email = {profile_email} WHERE email <> {profile_email}"))
    recipient = canonical_email_sql(conn, "recipient")
    conn.execute(
        text(f"UPDATE outbox SET recipient = {recipient} WHERE channel = 'email' AND recipient <> {recipient}")
    )
