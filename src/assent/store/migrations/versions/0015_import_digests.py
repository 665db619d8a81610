"""Import digests: what row of which import file a profile last took, so an unchanged row of a
re-import costs a look-up

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("import_digest", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("import_events", sa.Integer(), nullable=True))
    op.create_index("ix_profiles_import_digest", "profiles", ["account_id", "import_digest"])


def downgrade() -> None:
    op.drop_index("ix_profiles_import_digest", table_name="profiles")
    with op.batch_alter_table("profiles") as batch:
        batch.drop_column("import_events")
        batch.drop_column("import_digest")
