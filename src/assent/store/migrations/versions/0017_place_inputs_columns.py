"""A profile's place keeps its four inputs (phone number, country, region, time zone) in plain
columns instead of one key text, so the audience SQL joins it without building a key per profile.
Current places keep their inputs, copied from their profiles (set-based); stale ones are dropped
and worked out again on the next audience that needs them.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INPUTS = ("phone_number", "country", "region", "timezone")
_SEP = "\x1f"

places = sa.table("profile_places", sa.column("account_id"), sa.column("profile_id"),
                  sa.column("place_key", sa.Text), *(sa.column(f"given_{n}", sa.Text) for n in INPUTS))  # fmt: skip
profiles = sa.table("profiles", sa.column("account_id"), sa.column("id"), *(sa.column(n, sa.Text) for n in INPUTS))


def _key(t: sa.TableClause, names: Sequence[str]) -> sa.ColumnElement[str]:
    """The key 0014's places kept: the four inputs joined by a unit separator, NULL as ''."""
    key: sa.ColumnElement[str] = sa.func.coalesce(t.c[names[0]], "")
    for name in names[1:]:
        key = key + sa.literal(_SEP, sa.Text) + sa.func.coalesce(t.c[name], "")
    return key


def _profile_of(pp: sa.TableClause) -> sa.ColumnElement[bool]:
    return sa.and_(profiles.c.account_id == pp.c.account_id, profiles.c.id == pp.c.profile_id)


def upgrade() -> None:
    with op.batch_alter_table("profile_places") as batch:
        for name in INPUTS:
            batch.add_column(sa.Column(f"given_{name}", sa.Text(), nullable=True))
    current = sa.exists().where(_profile_of(places), places.c.place_key == _key(profiles, INPUTS))
    op.execute(sa.delete(places).where(~current))
    op.execute(sa.update(places).where(_profile_of(places)).values({f"given_{n}": profiles.c[n] for n in INPUTS}))
    with op.batch_alter_table("profile_places") as batch:
        batch.drop_column("place_key")


def downgrade() -> None:
    with op.batch_alter_table("profile_places") as batch:
        batch.add_column(sa.Column("place_key", sa.Text(), nullable=True))
    op.execute(sa.update(places).values(place_key=_key(places, [f"given_{n}" for n in INPUTS])))
    with op.batch_alter_table("profile_places") as batch:
        batch.alter_column("place_key", existing_type=sa.Text(), nullable=False)
        for name in INPUTS:
            batch.drop_column(f"given_{name}")
