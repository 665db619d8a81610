"""Consent text versions and signed ledger checkpoints, for consent proofs

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
TIME = sa.DateTime(timezone=True)
NO_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    op.create_table(
        "consent_texts",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_consent_texts")),
        sa.UniqueConstraint("account_id", "version", name=op.f("uq_consent_texts_account_id_version")),
        **NO_ROWID,
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", TIME, nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "seq", name=op.f("pk_ledger_checkpoints")),
        **NO_ROWID,
    )


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_table("consent_texts")
