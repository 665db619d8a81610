"""The import digest index holds only profiles that have a digest: profiles written any other way
cost it nothing, and PostgreSQL's planner no longer takes it for a look-up by another column

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAS_DIGEST = sa.text("import_digest IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_profiles_import_digest", table_name="profiles")
    op.create_index(
        "ix_profiles_import_digest", "profiles", ["account_id", "import_digest"], sqlite_where=_HAS_DIGEST,
        postgresql_where=_HAS_DIGEST,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_profiles_import_digest", table_name="profiles")
    op.create_index("ix_profiles_import_digest", "profiles", ["account_id", "import_digest"])
