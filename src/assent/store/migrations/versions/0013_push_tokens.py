"""Push tokens: a profile's devices and the push permission given on each

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "push_tokens",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("vendor", sa.String(length=10), nullable=False),
        sa.Column("enablement_status", sa.String(length=20), nullable=False),
        sa.Column("background", sa.String(length=20), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_push_tokens")),
        sa.UniqueConstraint("account_id", "token", name=op.f("uq_push_tokens_account_id_token")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_push_tokens_profile", "push_tokens", ["account_id", "profile_id", "enablement_status"]
    )


def downgrade() -> None:
    op.drop_index("ix_push_tokens_profile", table_name="push_tokens")
    op.drop_table("push_tokens")
