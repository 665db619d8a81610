"""A write worked out before it took the account's ledger lock asks, once it has it, whether anyone
was erased since (an erasure's tombstones refuse identifiers the write may give). That probe now
reads a partial index of the ledger's erasures, (account_id, seq) where the event is an erasure:
nearly empty, and the one plan PostgreSQL has for it. Without it, for an account newer than the
planner's statistics ("1 row"), PostgreSQL read the account's whole ledger on another index.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ERASED = sa.text("type = 'profile.erased'")


def upgrade() -> None:
    op.create_index(
        "ix_consent_events_erasures", "consent_events", ["account_id", "seq"],
        postgresql_where=_ERASED, sqlite_where=_ERASED,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_consent_events_erasures", table_name="consent_events")
