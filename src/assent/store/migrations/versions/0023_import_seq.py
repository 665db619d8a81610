"""A profile's import digest holds while the profile has had no ledger event since it took the row.
That was told by counting its events against the count kept with the digest (`import_events`);
it is now told by a ledger seq kept with it (`import_seq`: none of its events had passed it then),
asking whether any event of the profile has a higher one. On PostgreSQL the count read every event
of the profile, and right after a large import (before VACUUM sets the visibility map) fetched each
event's heap page to see it; the question finds no index entry when the digest holds, and fetches
nothing. A digest that holds now gets the account's ledger head (no event of the profile has passed
it, any later one will); one that no longer holds is cleared. Set-based, in two statements.
PostgreSQL writes a new version of each profile row that has a digest: `VACUUM FULL profiles` (see
0022) gives the room back.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OWN_EVENTS = "consent_events.account_id = profiles.account_id AND consent_events.profile_id = profiles.id"


def upgrade() -> None:
    op.add_column("profiles", sa.Column("import_seq", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE profiles SET import_seq = (SELECT ledger_seq FROM accounts WHERE accounts.id = profiles.account_id)"
        " WHERE import_digest IS NOT NULL"
        f" AND import_events = (SELECT count(*) FROM consent_events WHERE {_OWN_EVENTS})"
    )
    op.execute("UPDATE profiles SET import_digest = NULL WHERE import_digest IS NOT NULL AND import_seq IS NULL")
    op.drop_column("profiles", "import_events")


def downgrade() -> None:
    op.add_column("profiles", sa.Column("import_events", sa.Integer(), nullable=True))
    op.execute(
        f"UPDATE profiles SET import_events = (SELECT count(*) FROM consent_events WHERE {_OWN_EVENTS})"
        " WHERE import_digest IS NOT NULL AND import_seq IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM consent_events WHERE {_OWN_EVENTS}"
        " AND consent_events.seq > profiles.import_seq)"
    )
    op.execute("UPDATE profiles SET import_digest = NULL WHERE import_digest IS NOT NULL AND import_events IS NULL")
    op.drop_column("profiles", "import_seq")
