"""The consent summary moves from `consent_summaries` into the profile's own row (columns named
`consent_*`), so an audience count reads one row per profile instead of joining a second table of
a row per profile (a primary-key look-up per profile on SQLite, a hash of every summary on
PostgreSQL: over a million profiles, most of the count's time). A profile with no summary holds
NULLs, which the audience rules read as the missing row was read. Copied set-based; the table goes.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The summary's columns as this revision knows them (migration 0018).
STATUSES = ("email_marketing", "sms_marketing", "sms_transactional", "push_marketing", "whatsapp_marketing",
            "whatsapp_transactional", "whatsapp_conversational", "postal_marketing")  # fmt: skip
EXPIRIES = tuple(f"{c}_implied_expires" for c in ("email", "sms", "push", "whatsapp", "postal"))
TEXTS, TIMES, FLAGS, MASKS = STATUSES, EXPIRIES, ("email_unconfirmed",), ("suppressed", "pending")
NAMES = (*TEXTS, *FLAGS, *TIMES, *MASKS)

summaries = sa.table("consent_summaries", sa.column("account_id", sa.Text), sa.column("profile_id", sa.Text),
                     *(sa.column(n, sa.Text) for n in TEXTS), sa.column("email_unconfirmed", sa.Boolean),
                     *(sa.column(n, sa.DateTime(timezone=True)) for n in TIMES),
                     *(sa.column(n, sa.Integer) for n in MASKS))  # fmt: skip
profiles = sa.table("profiles", sa.column("account_id", sa.Text), sa.column("id", sa.Text),
                    *(sa.column(f"consent_{n}", sa.Text) for n in TEXTS),
                    sa.column("consent_email_unconfirmed", sa.Boolean),
                    *(sa.column(f"consent_{n}", sa.DateTime(timezone=True)) for n in TIMES),
                    *(sa.column(f"consent_{n}", sa.Integer) for n in MASKS))  # fmt: skip


def _columns() -> list[sa.Column[Any]]:
    return [
        *(sa.Column(f"consent_{n}", sa.String(length=20), nullable=True) for n in TEXTS),
        sa.Column("consent_email_unconfirmed", sa.Boolean(), nullable=True),
        *(sa.Column(f"consent_{n}", sa.DateTime(timezone=True), nullable=True) for n in TIMES),
        *(sa.Column(f"consent_{n}", sa.Integer(), nullable=True) for n in MASKS),
    ]


def upgrade() -> None:
    for column in _columns():
        op.add_column("profiles", column)
    s = summaries
    op.execute(
        sa.update(profiles)
        .where(s.c.account_id == profiles.c.account_id, s.c.profile_id == profiles.c.id)
        .values({f"consent_{n}": s.c[n] for n in NAMES})
    )
    op.drop_table("consent_summaries")


def downgrade() -> None:
    op.create_table(
        "consent_summaries",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("profile_id", sa.String(length=26), nullable=False),
        *(sa.Column(n, sa.String(length=20), nullable=True) for n in TEXTS),
        sa.Column("email_unconfirmed", sa.Boolean(), nullable=False),
        *(sa.Column(n, sa.DateTime(timezone=True), nullable=True) for n in TIMES),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "profile_id", name=op.f("pk_consent_summaries")),
        sqlite_with_rowid=False,
    )
    p = profiles
    rows = sa.select(p.c.account_id, p.c.id, *(p.c[f"consent_{n}"] for n in NAMES)).where(
        p.c.consent_suppressed.is_not(None)
    )
    op.execute(sa.insert(summaries).from_select(["account_id", "profile_id", *NAMES], rows))
    with op.batch_alter_table("profiles") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
