"""The consent summary: one row per profile with a consent, suppression or pending opt-in,
holding what the audience rules read of them (domain/summary.py), so an audience count joins one
narrow row per profile. Backfilled set-based from the projection tables; the implied-consent
expiry (calendar months, the day clamped) is worked out in Python for the few consents recorded
on an implied basis, as the write path does.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from assent.domain.pack_rules import IMPLIED_MONTHS, add_months
from assent.store.tables import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The pairs and reasons as this revision knows them, in bit order (domain/summary.py).
PAIRS = (("email", "marketing"), ("sms", "marketing"), ("sms", "transactional"), ("push", "marketing"),
         ("whatsapp", "marketing"), ("whatsapp", "transactional"), ("whatsapp", "conversational"),
         ("postal", "marketing"))  # fmt: skip
MARKETING_CHANNELS = tuple(c for c, p in PAIRS if p == "marketing")
PENDING_PAIRS = tuple((c, p) for c in ("email", "sms", "push", "whatsapp", "postal")
                      for p in ("marketing", "transactional", "conversational"))  # fmt: skip
REASONS = ("HARD_BOUNCE", "INVALID_EMAIL", "SPAM_COMPLAINT", "UNSUBSCRIBE", "USER_SUPPRESSED")
SOFT_OPT_IN = "SOFT_OPT_IN"
STATUSES = tuple(f"{c}_{p}" for c, p in PAIRS)
EXPIRIES = tuple(f"{c}_implied_expires" for c in MARKETING_CHANNELS)

consents = sa.table("consents", *(sa.column(n, sa.Text) for n in ("account_id", "profile_id", "channel", "purpose",
                    "status", "method")), sa.column("double_optin", sa.Boolean),
                    sa.column("consent_timestamp", UTCDateTime))  # fmt: skip
suppressions = sa.table("suppressions", *(sa.column(n, sa.Text) for n in ("account_id", "profile_id", "reason")))
pending_optins = sa.table("pending_optins", *(sa.column(n, sa.Text) for n in ("account_id", "profile_id", "channel",
                          "purpose")))  # fmt: skip
summaries = sa.table("consent_summaries", sa.column("account_id", sa.Text), sa.column("profile_id", sa.Text),
                     *(sa.column(n, sa.Text) for n in STATUSES), sa.column("email_unconfirmed", sa.Boolean),
                     *(sa.column(n, UTCDateTime) for n in EXPIRIES), sa.column("suppressed", sa.Integer),
                     sa.column("pending", sa.Integer))  # fmt: skip


def _pair(t: sa.TableClause, channel: str, purpose: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.channel == channel, t.c.purpose == purpose)


def _backfill() -> None:
    c, s, po = consents, suppressions, pending_optins
    keys = sa.union(
        sa.select(c.c.account_id, c.c.profile_id),
        sa.select(s.c.account_id, s.c.profile_id),
        sa.select(po.c.account_id, po.c.profile_id),
    ).subquery("k")
    unconfirmed = sa.and_(_pair(c, "email", "marketing"), c.c.status == "SUBSCRIBED",
                          sa.func.coalesce(c.c.method, "") != SOFT_OPT_IN, c.c.double_optin.is_not(True))  # fmt: skip
    by_consent = (
        sa.select(
            c.c.account_id, c.c.profile_id,
            *(sa.func.max(sa.case((_pair(c, ch, pu), c.c.status), else_=sa.null())).label(f"{ch}_{pu}")
              for ch, pu in PAIRS),
            sa.func.max(sa.case((unconfirmed, 1), else_=0)).label("unconfirmed"),
        )
        .group_by(c.c.account_id, c.c.profile_id)
        .subquery("c")
    )  # fmt: skip
    # A profile has each reason at most once (the key), so the sum of its bits is their union.
    bit = sa.case(*((s.c.reason == r, 1 << i) for i, r in enumerate(REASONS)), else_=0)
    by_reason = (
        sa.select(s.c.account_id, s.c.profile_id, sa.func.sum(bit).label("mask"))
        .group_by(s.c.account_id, s.c.profile_id)
        .subquery("s")
    )
    # A pair may be pending on several lists: each pair's bit once (its MAX), then their sum.
    pending_mask: sa.ColumnElement[int] = sa.literal(0)
    for i, (ch, pu) in enumerate(PENDING_PAIRS):
        pending_mask = pending_mask + sa.func.max(sa.case((_pair(po, ch, pu), 1 << i), else_=0))
    by_pending = (
        sa.select(po.c.account_id, po.c.profile_id, pending_mask.label("mask"))
        .group_by(po.c.account_id, po.c.profile_id)
        .subquery("p")
    )

    def on(t: sa.Subquery) -> sa.ColumnElement[bool]:
        return sa.and_(t.c.account_id == keys.c.account_id, t.c.profile_id == keys.c.profile_id)

    source = keys.outerjoin(by_consent, on(by_consent)).outerjoin(by_reason, on(by_reason))
    source = source.outerjoin(by_pending, on(by_pending))
    rows = sa.select(
        keys.c.account_id,
        keys.c.profile_id,
        *(by_consent.c[n] for n in STATUSES),
        sa.func.coalesce(by_consent.c.unconfirmed, 0) == 1,
        sa.func.coalesce(by_reason.c.mask, 0),
        sa.func.coalesce(by_pending.c.mask, 0),
    ).select_from(source)
    names = ["account_id", "profile_id", *STATUSES, "email_unconfirmed", "suppressed", "pending"]
    op.execute(sa.insert(summaries).from_select(names, rows))

    # Implied consents are rare (CASL and soft opt-ins): their expiry is added to their rows.
    conn = op.get_bind()
    implied = sa.select(c.c.account_id, c.c.profile_id, c.c.channel, c.c.method, c.c.consent_timestamp).where(
        c.c.purpose == "marketing", c.c.method.in_(sorted(IMPLIED_MONTHS)), c.c.consent_timestamp.is_not(None)
    )
    updates: dict[str, list[dict[str, object]]] = {}
    for account_id, profile_id, channel, method, at in conn.execute(implied):
        if channel in MARKETING_CHANNELS:
            updates.setdefault(channel, []).append(
                {"a": account_id, "p": profile_id, "t": add_months(at, IMPLIED_MONTHS[method])}
            )
    for channel, values in updates.items():
        stmt = (
            sa.update(summaries)
            .where(summaries.c.account_id == sa.bindparam("a"), summaries.c.profile_id == sa.bindparam("p"))
            .values({f"{channel}_implied_expires": sa.bindparam("t", type_=UTCDateTime())})
        )
        conn.execute(stmt, values)


def upgrade() -> None:
    op.create_table(
        "consent_summaries",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("profile_id", sa.String(length=26), nullable=False),
        *(sa.Column(n, sa.String(length=20), nullable=True) for n in STATUSES),
        sa.Column("email_unconfirmed", sa.Boolean(), nullable=False),
        *(sa.Column(n, sa.DateTime(timezone=True), nullable=True) for n in EXPIRIES),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "profile_id", name=op.f("pk_consent_summaries")),
        sqlite_with_rowid=False,
    )
    _backfill()


def downgrade() -> None:
    op.drop_table("consent_summaries")
