"""Where each profile is for the jurisdiction packs (country, US state, time zones), kept for the
audience SQL, and the zone lists it names

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_places",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("profile_id", sa.String(length=26), nullable=False),
        sa.Column("place_key", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("zones", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "profile_id", name=op.f("pk_profile_places")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "zone_groups",
        sa.Column("zones", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("zones", name=op.f("pk_zone_groups")),
    )


def downgrade() -> None:
    op.drop_table("zone_groups")
    op.drop_table("profile_places")
