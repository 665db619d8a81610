"""Reported message sends, counted per profile in a time window by frequency caps

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_sends",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("sent_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "profile_id", "channel", "message_id", name=op.f("pk_message_sends")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_message_sends_window",
        "message_sends",
        ["account_id", "profile_id", "channel", "purpose", "sent_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_message_sends_window", table_name="message_sends")
    op.drop_table("message_sends")
