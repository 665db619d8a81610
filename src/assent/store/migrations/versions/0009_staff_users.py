"""Staff users of the console, and the ledger indexed by time for its analytics

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("invite_nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_staff_users")),
    )
    op.create_index("ix_staff_users_email", "staff_users", ["account_id", "email"], unique=True)
    op.create_index("ix_staff_users_login", "staff_users", ["email"])
    op.create_index("ix_consent_events_time", "consent_events", ["account_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_consent_events_time", table_name="consent_events")
    op.drop_index("ix_staff_users_login", table_name="staff_users")
    op.drop_index("ix_staff_users_email", table_name="staff_users")
    op.drop_table("staff_users")
