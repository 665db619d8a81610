"""Consent workflows: account public ids and settings, public lists, the outbox, webhook
receipts and soft-bounce counts

Revision ID: 0003
Revises: 0002
"""

import secrets
import string
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
TIME = sa.DateTime(timezone=True)
NO_ROWID = {"sqlite_with_rowid": False}
_ALPHABET = string.ascii_letters + string.digits


def upgrade() -> None:
    conn = op.get_bind()
    # Added in place (no table rebuild, which on SQLite would drop WITHOUT ROWID), then filled.
    op.add_column("accounts", sa.Column("public_id", sa.String(length=12), nullable=False, server_default=""))
    for (account_id,) in conn.execute(sa.text("SELECT id FROM accounts")).all():
        public_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))
        conn.execute(sa.text("UPDATE accounts SET public_id = :p WHERE id = :a"), {"p": public_id, "a": account_id})
    op.create_index("ix_accounts_public_id", "accounts", ["public_id"], unique=True)
    op.add_column("lists", sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        "account_settings",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_account_settings")),
        **NO_ROWID,
    )
    op.create_table(
        "outbox",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_outbox")),
        **NO_ROWID,
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "created_at"])
    op.create_table(
        "webhook_receipts",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "provider", "event_id", name=op.f("pk_webhook_receipts")),
        **NO_ROWID,
    )
    op.create_table(
        "soft_bounces",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "profile_id", name=op.f("pk_soft_bounces")),
        **NO_ROWID,
    )


def downgrade() -> None:
    for table in ("soft_bounces", "webhook_receipts", "outbox", "account_settings"):
        op.drop_table(table)
    op.drop_column("lists", "public")
    op.drop_index("ix_accounts_public_id", "accounts")
    op.drop_column("accounts", "public_id")
