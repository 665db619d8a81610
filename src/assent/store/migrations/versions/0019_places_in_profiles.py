"""A profile's place (country, US state, time zones) and the four inputs it was worked out from
move from `profile_places` into the profile's own row, so an audience count reads one row per
profile instead of joining a second table of a row per profile (a primary-key look-up per profile
on SQLite, a hash of every place on PostgreSQL). Places are copied set-based; the table goes.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INPUTS = ("phone_number", "country", "region", "timezone")
PLACE = ("country", "region", "zones")

places = sa.table("profile_places", sa.column("account_id", sa.Text), sa.column("profile_id", sa.Text),
                  *(sa.column(n, sa.Text) for n in PLACE),
                  *(sa.column(f"given_{n}", sa.Text) for n in INPUTS))  # fmt: skip
profiles = sa.table("profiles", sa.column("account_id", sa.Text), sa.column("id", sa.Text),
                    sa.column("placed", sa.Boolean), *(sa.column(f"place_{n}", sa.Text) for n in PLACE),
                    *(sa.column(f"placed_{n}", sa.Text) for n in INPUTS))  # fmt: skip


def _columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("placed", sa.Boolean(), nullable=True),
        sa.Column("place_country", sa.String(length=2), nullable=True),
        sa.Column("place_region", sa.Text(), nullable=True),
        sa.Column("place_zones", sa.Text(), nullable=True),
        *(sa.Column(f"placed_{n}", sa.Text(), nullable=True) for n in INPUTS),
    ]


def upgrade() -> None:
    for column in _columns():
        op.add_column("profiles", column)
    pp = places
    values = {"placed": sa.true(), **{f"place_{n}": pp.c[n] for n in PLACE},
              **{f"placed_{n}": pp.c[f"given_{n}"] for n in INPUTS}}  # fmt: skip
    op.execute(
        sa.update(profiles)
        .where(pp.c.account_id == profiles.c.account_id, pp.c.profile_id == profiles.c.id)
        .values(values)
    )
    op.drop_table("profile_places")


def downgrade() -> None:
    op.create_table(
        "profile_places",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("profile_id", sa.String(length=26), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("zones", sa.Text(), nullable=True),
        *(sa.Column(f"given_{n}", sa.Text(), nullable=True) for n in INPUTS),
        sa.PrimaryKeyConstraint("account_id", "profile_id", name=op.f("pk_profile_places")),
        sqlite_with_rowid=False,
    )
    p = profiles
    rows = sa.select(p.c.account_id, p.c.id, *(p.c[f"place_{n}"] for n in PLACE),
                     *(p.c[f"placed_{n}"] for n in INPUTS)).where(p.c.placed.is_(True))  # fmt: skip
    op.execute(sa.insert(places).from_select(["account_id", "profile_id", *PLACE, *(f"given_{n}" for n in INPUTS)],
                                             rows))  # fmt: skip
    with op.batch_alter_table("profiles") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
