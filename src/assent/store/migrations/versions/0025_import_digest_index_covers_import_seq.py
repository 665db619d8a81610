"""The import digest index also holds each profile's import_seq. A re-import looks each row's digest
up on it and then asks the profile's ledger for an event past that seq: without the seq in the
index, each row also read its profile's row from the table (on SQLite, a search of the profiles'
primary key), more than half of the look-up's time. The index stays partial (only profiles an
import wrote hold a digest).

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HELD = sa.text("import_digest IS NOT NULL")


def _index(columns: list[str]) -> None:
    op.drop_index("ix_profiles_import_digest", table_name="profiles")
    op.create_index(
        "ix_profiles_import_digest", "profiles", columns, postgresql_where=_HELD, sqlite_where=_HELD
    )  # fmt: skip


def upgrade() -> None:
    _index(["account_id", "import_digest", "import_seq"])


def downgrade() -> None:
    _index(["account_id", "import_digest"])
