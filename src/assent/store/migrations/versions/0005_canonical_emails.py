"""Emails in canonical form: every stored address wholly lowercased (profiles, the outbox);
refuses, changing nothing, where two profiles of an account would then share one address

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

from assent.store.profiles import canonicalize_emails

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The ledger keeps addresses as they were recorded: its events are hash-chained history.
    canonicalize_emails(op.get_bind())


def downgrade() -> None:
    pass  # the original spellings are not kept; lowercased addresses stay valid
