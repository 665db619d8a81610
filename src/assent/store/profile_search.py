"""Finding profiles as a person types: by email, phone number, external id or name, a page at a time."""

from __future__ import annotations

from sqlalchemy import Connection, false, func, literal, or_, select

from .rows import AnyRow
from .tables import lists, profiles


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    conn: Connection,
    account_id: str,
    text: str,
    *,
    phone: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AnyRow], bool]:
    """Profiles whose email starts with `text`, whose phone number is `phone` (normalised by the
    caller), whose external id is `text`, or whose first, last or full name starts with it (any
    case); newest first. An empty `text` lists every profile. Returns the page and whether more follow."""
    q = select(profiles).where(profiles.c.account_id == account_id)
    text = text.strip()
    if text:
        prefix = _escaped(text.lower()) + "%"
        full_name = func.lower(
            func.coalesce(profiles.c.first_name, literal("")) + literal(" ") + func.coalesce(profiles.c.last_name, "")
        )
        q = q.where(
            or_(
                profiles.c.email.like(prefix, escape="\\"),
                profiles.c.phone_number == phone if phone else false(),
                profiles.c.external_id == text,
                func.lower(profiles.c.first_name).like(prefix, escape="\\"),
                func.lower(profiles.c.last_name).like(prefix, escape="\\"),
                full_name.like(prefix, escape="\\"),
            )
        )
    q = q.order_by(profiles.c.created_at.desc(), profiles.c.id.desc()).limit(limit + 1).offset(offset)
    rows = list(conn.execute(q))
    return rows[:limit], len(rows) > limit


def list_names(conn: Connection, account_id: str) -> dict[str, str]:
    """Every list's name by id (without member counts: a profile page needs only the names)."""
    q = select(lists.c.id, lists.c.name).where(lists.c.account_id == account_id)
    return {r.id: r.name for r in conn.execute(q)}
