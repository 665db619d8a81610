"""Console sessions signed out before their cookie expired

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions_ended",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "session_id", name=op.f("pk_staff_sessions_ended")),
    )
    op.create_index("ix_staff_sessions_ended_expiry", "staff_sessions_ended", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_sessions_ended_expiry", table_name="staff_sessions_ended")
    op.drop_table("staff_sessions_ended")
