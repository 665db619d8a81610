"""The change feed filtered by metric (`GET /api/consent-events?filter=equals(metric,'…')`) reads an
index on (account_id, metric, seq) instead of the account's whole ledger in seq order: a metric
with few or no events made every such request scan every event of the account.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_consent_events_metric", "consent_events", ["account_id", "metric", "seq"])


def downgrade() -> None:
    op.drop_index("ix_consent_events_metric", table_name="consent_events")
