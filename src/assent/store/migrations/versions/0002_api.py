"""API: bulk jobs, metrics and activity events; profile location and paging indexes

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=26)
TIME = sa.DateTime(timezone=True)
NO_ROWID = {"sqlite_with_rowid": False}


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("latitude", sa.Text(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Text(), nullable=True))
        batch.add_column(sa.Column("ip", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_event_at", TIME, nullable=True))
    op.create_index("ix_profiles_created", "profiles", ["account_id", "created_at", "id"])
    op.create_index("ix_profiles_updated", "profiles", ["account_id", "updated_at", "id"])

    op.create_table(
        "jobs",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("list_ids", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.String(length=26), nullable=True),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("lease_until", TIME, nullable=True),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_jobs")),
        **NO_ROWID,
    )
    op.create_index("ix_jobs_kind", "jobs", ["account_id", "kind", "created_at", "id"])
    op.create_index("ix_jobs_status", "jobs", ["status", "created_at"])
    op.create_table(
        "job_errors",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("pointer", sa.String(length=200), nullable=False),
        sa.Column("original_payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "job_id", "seq", name=op.f("pk_job_errors")),
        **NO_ROWID,
    )
    op.create_table(
        "job_profiles",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "job_id", "profile_id", name=op.f("pk_job_profiles")),
        **NO_ROWID,
    )
    op.create_table(
        "metrics",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_metrics_account_id_name")),
        **NO_ROWID,
    )
    op.create_table(
        "events",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.Column("metric_id", sa.String(length=26), nullable=False),
        sa.Column("profile_id", ID, nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_currency", sa.String(length=3), nullable=True),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "account_id",
            "profile_id",
            "metric_id",
            "unique_id",
            name=op.f("uq_events_account_id_profile_id_metric_id_unique_id"),
        ),  # fmt: skip
        **NO_ROWID,
    )
    op.create_index("ix_events_time", "events", ["account_id", "occurred_at", "id"])
    op.create_index("ix_events_metric", "events", ["account_id", "metric_id", "occurred_at", "id"])


def downgrade() -> None:
    for table in ("events", "metrics", "job_profiles", "job_errors", "jobs"):
        op.drop_table(table)
    op.drop_index("ix_profiles_updated", "profiles")
    op.drop_index("ix_profiles_created", "profiles")
    with op.batch_alter_table("profiles") as batch:
        for column in ("last_event_at", "ip", "longitude", "latitude"):
            batch.drop_column(column)
