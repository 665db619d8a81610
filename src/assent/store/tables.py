"""The schema, as SQLAlchemy Core tables. `account_id` leads every primary and unique key, so each
table can be distributed by account (Citus) without losing a constraint. On SQLite the tables are
WITHOUT ROWID: the primary key is the table, one B-tree fewer to write per row.

The consent projection (consents, suppressions, list_suppressions, list_members, pending_optins)
is derived from `consent_events`, the ledger, and written in the same transaction as it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ..domain.instants import EARLIEST, LATEST
from ..domain.profile import PROFILE_FIELDS
from ..domain.summary import (
    MARKETING_CHANNELS,
    PENDING_COLUMN,
    STATUS_COLUMNS,
    SUPPRESSED_COLUMN,
    UNCONFIRMED_COLUMN,
    expiry_column,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which has no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times are timezone-aware UTC")
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # a time that is off the calendar in UTC (a forged cursor): compares as its end
            value = LATEST if value.year > 1 else EARLIEST
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = String(26)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("default_region", String(2), nullable=False),
    Column("email_campaigns_require_explicit_consent", Boolean, nullable=False, default=False),
    Column("ledger_seq", BigInteger, nullable=False, default=0),
    Column("ledger_head", String(64), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    # The public key of website forms (`company_id` of Klaviyo's client API): names the account, grants nothing.
    Column("public_id", String(12), nullable=False, server_default=""),
    PrimaryKeyConstraint("id"),
    Index("ix_accounts_public_id", "public_id", unique=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("scopes", Text, nullable=False, default="*"),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_api_keys_digest", "digest", unique=True),
)

# Staff who use the console, per account. `password_hash` is argon2 (None until the invite is
# accepted); `invite_nonce` names the one invite link that still works (None: none does).
staff_users = Table(
    "staff_users",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text),
    Column("invite_nonce", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_staff_users_email", "account_id", "email", unique=True),
    Index("ix_staff_users_login", "email"),
)

# Console sessions signed out before their cookie expired: a session cookie is signed, not stored,
# so signing out records its id (the session's random CSRF token) until the cookie could no longer
# be used anyway (`expires_at`), and a copy of the cookie is refused meanwhile.
staff_sessions_ended = Table(
    "staff_sessions_ended",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "session_id"),
    Index("ix_staff_sessions_ended_expiry", "expires_at"),
)

# Installation-wide values, such as the secret that peppers API-key digests when none is configured.
settings = Table(
    "settings",
    metadata,
    Column("name", String(100), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name"),
)

lists = Table(
    "lists",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", String(26), nullable=False),
    Column("name", String(200), nullable=False),
    Column("opt_in_process", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("public", Boolean, nullable=False, default=False, server_default=false()),  # in the preference centre
    PrimaryKeyConstraint("account_id", "id"),
    sqlite_with_rowid=False,
)

profiles = Table(
    "profiles",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    *(Column(name, String(320) if name == "email" else Text) for name in PROFILE_FIELDS),
    Column("properties", Text, nullable=False, default="{}"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_event_at", UTCDateTime),
    # The digest of the import row (file row and options) the profile last took, and a seq of the
    # account's ledger that none of the profile's events had passed then (that of its last event,
    # or the head once the row's batch was appended): while no event of the profile has a higher
    # one, that row would change nothing (services/imports). Every other write of the profile's
    # fields clears both.
    Column("import_digest", String(32)),
    Column("import_seq", BigInteger),
    # Where the profile is as the jurisdiction packs read it (store/places.py): worked out in Python
    # from the four inputs, kept beside them with the inputs as they were then (`placed_*`), so the
    # audience SQL reads it in the profile's own row and sees it is stale by comparing columns.
    Column("placed", Boolean),
    Column("place_country", String(2)),
    Column("place_region", Text),
    Column("place_zones", Text),
    Column("placed_phone_number", Text),
    Column("placed_country", Text),
    Column("placed_region", Text),
    Column("placed_timezone", Text),
    # The consent summary (domain/summary.py): what the audience rules read of the profile's
    # consents, suppressions and pending opt-ins, digested and written with the projection, so a
    # count reads it in the profile's own row. All NULL when the profile has none of them.
    *(Column(name, String(20)) for _, _, name in STATUS_COLUMNS),
    Column(UNCONFIRMED_COLUMN, Boolean),
    *(Column(expiry_column(c), UTCDateTime) for c in MARKETING_CHANNELS),
    Column(SUPPRESSED_COLUMN, Integer),
    Column(PENDING_COLUMN, Integer),
    PrimaryKeyConstraint("account_id", "id"),
    # Each identifier is unique within the account; its key holds only the profiles that have it
    # (migration 0026): an email-only profile writes no entry for its empty phone number.
    *(
        Index(
            f"uq_profiles_account_id_{c}",
            "account_id",
            c,
            unique=True,
            sqlite_where=text(f"{c} IS NOT NULL"),
            postgresql_where=text(f"{c} IS NOT NULL"),
        )
        for c in ("email", "phone_number", "external_id")
    ),  # fmt: skip
    # The API pages and filters profiles by these (a sync reads `updated` since its last run).
    Index("ix_profiles_created", "account_id", "created_at", "id"),
    Index("ix_profiles_updated", "account_id", "updated_at", "id"),
    # Only profiles an import wrote hold a digest; no other write pays for the index. It holds the
    # seq kept with the digest, which a re-import's look-up needs (migration 0025).
    Index(
        "ix_profiles_import_digest",
        "account_id",
        "import_digest",
        "import_seq",
        sqlite_where=text("import_digest IS NOT NULL"),
        postgresql_where=text("import_digest IS NOT NULL"),
    ),
    # Room in each page for a row's next version (migration 0022): a consent change updates the
    # row's summary in place, with no new index entries.
    postgresql_with={"fillfactor": 85},
    sqlite_with_rowid=False,
)

consents = Table(
    "consents",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("consent_timestamp", UTCDateTime),
    Column("method", String(100)),
    Column("method_detail", Text),
    Column("custom_method_detail", Text),
    Column("double_optin", Boolean),
    Column("last_updated", UTCDateTime),
    PrimaryKeyConstraint("account_id", "profile_id", "channel", "purpose"),
    Index("ix_consents_status", "account_id", "channel", "purpose", "status"),
    sqlite_with_rowid=False,
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "profile_id", "reason"),
    sqlite_with_rowid=False,
)

list_suppressions = Table(
    "list_suppressions",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("list_id", String(26), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "profile_id", "list_id"),
    sqlite_with_rowid=False,
)

list_members = Table(
    "list_members",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("list_id", String(26), nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "profile_id", "list_id"),
    Index("ix_list_members_list", "account_id", "list_id", "profile_id"),
    sqlite_with_rowid=False,
)

pending_optins = Table(
    "pending_optins",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("list_id", String(26), nullable=False),  # "" when the opt-in names no list
    Column("requested_at", UTCDateTime, nullable=False),
    Column("method", String(100)),
    Column("method_detail", Text),
    Column("custom_method_detail", Text),
    PrimaryKeyConstraint("account_id", "profile_id", "channel", "purpose", "list_id"),
    sqlite_with_rowid=False,
)

# The ledger: append-only and hash-chained per account. `payload` is the canonical JSON text the
# hash covers (kept as text: a JSONB column would reorder it); `personal` holds the personal data
# apart, covered only through `personal_digest`, so erasing it keeps the chain verifiable.
consent_events = Table(
    "consent_events",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("profile_id", ID, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("type", String(40), nullable=False),
    Column("metric", String(100)),
    Column("payload", Text, nullable=False),
    Column("personal", Text),
    Column("personal_digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
    Index("ix_consent_events_profile", "account_id", "profile_id", "seq"),
    Index("ix_consent_events_time", "account_id", "occurred_at"),  # the console's analytics by period
    Index("ix_consent_events_metric", "account_id", "metric", "seq"),  # the change feed by metric
    # Erasures since a seq: what a write worked out before the ledger lock asks once it has it.
    Index(
        "ix_consent_events_erasures",
        "account_id",
        "seq",
        postgresql_where=text("type = 'profile.erased'"),
        sqlite_where=text("type = 'profile.erased'"),
    ),  # fmt: skip
    sqlite_with_rowid=False,
)

PROJECTION_TABLES = (consents, suppressions, list_suppressions, list_members, pending_optins)


# Bulk jobs of the API (subscribe, suppress, import, ...): durable, so a restarted server resumes
# them. `payload` is the request as received; `position` is how many of its items are done, moved
# in the same transaction as their writes, so a resumed job neither skips nor repeats work.
jobs = Table(
    "jobs",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("status", String(12), nullable=False),
    Column("payload", Text, nullable=False),
    Column("list_ids", Text, nullable=False, default="[]"),
    Column("segment_id", String(26)),
    Column("total_count", Integer, nullable=False, default=0),
    Column("completed_count", Integer, nullable=False, default=0),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("skipped_count", Integer, nullable=False, default=0),
    Column("position", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_jobs_kind", "account_id", "kind", "created_at", "id"),
    Index("ix_jobs_status", "status", "created_at"),
    sqlite_with_rowid=False,
)

job_errors = Table(
    "job_errors",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("job_id", ID, nullable=False),
    Column("seq", Integer, nullable=False, autoincrement=False),
    Column("code", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("pointer", String(200), nullable=False),
    Column("original_payload", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "job_id", "seq"),
    sqlite_with_rowid=False,
)

job_profiles = Table(
    "job_profiles",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("job_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    PrimaryKeyConstraint("account_id", "job_id", "profile_id"),
    sqlite_with_rowid=False,
)

# Metrics named by API clients (`POST /api/events`); the consent metrics are built in and not stored.
metrics = Table(
    "metrics",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", String(26), nullable=False),
    Column("name", String(128), nullable=False),
    Column("service", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint("account_id", "name"),
    sqlite_with_rowid=False,
)

# Activity events posted by API clients. Consent events live in the ledger and are listed with these.
events = Table(
    "events",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("metric_id", String(26), nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("properties", Text, nullable=False),
    Column("value", Float),
    Column("value_currency", String(3)),
    Column("unique_id", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint("account_id", "profile_id", "metric_id", "unique_id"),
    Index("ix_events_time", "account_id", "occurred_at", "id"),
    Index("ix_events_metric", "account_id", "metric_id", "occurred_at", "id"),
    sqlite_with_rowid=False,
)


# Segments: saved definitions in Klaviyo's language (`definition` is its JSON text). Membership is
# not stored: it is computed on read from the definition (store/segments.py).
segments = Table(
    "segments",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", String(26), nullable=False),
    Column("name", String(200), nullable=False),
    Column("definition", Text, nullable=False),
    Column("is_starred", Boolean, nullable=False, default=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    sqlite_with_rowid=False,
)


# Per-account settings of the consent workflows (sender, SMS keywords and replies, webhook keys, ...).
account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("name", String(100), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "name"),
    sqlite_with_rowid=False,
)

# Messages Assent itself sends (double opt-in confirmations, keyword replies): written in the
# transaction that decides to send them, delivered after it commits, kept when no mailer is set.
outbox = Table(
    "outbox",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("subject", Text),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("headers", Text, nullable=False, default="{}"),
    Column("status", String(12), nullable=False),  # queued, sending, sent, failed, held (no mailer configured)
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", UTCDateTime),  # when a deliverer took it: one sender per message, across processes
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    PrimaryKeyConstraint("account_id", "id"),
    Index("ix_outbox_status", "status", "created_at"),
    sqlite_with_rowid=False,
)

# Provider events already handled (Twilio MessageSid, SES message id, SendGrid sg_event_id), so
# a replayed webhook changes nothing.
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("provider", String(20), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "provider", "event_id"),
    sqlite_with_rowid=False,
)

# Consecutive soft bounces per profile; a delivery resets it, reaching the account's threshold suppresses.
soft_bounces = Table(
    "soft_bounces",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("count", Integer, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "profile_id"),
    sqlite_with_rowid=False,
)

# Rate-limit budget claimed in each fixed window, shared by every server process. `scope` is the
# account ("" for limits that belong to no account, such as signups per client address).
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("scope", String(26), nullable=False),
    Column("bucket", String(200), nullable=False),
    Column("window_start", BigInteger, nullable=False),  # Unix seconds, a multiple of the window
    Column("used", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "bucket", "window_start"),
    sqlite_with_rowid=False,
)

# Message sends the brand reports (POST /api/message-sends): what frequency caps count, per
# profile, channel and purpose in a window (the index). One row per message and profile and
# channel, so a report sent twice counts once.
message_sends = Table(
    "message_sends",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "profile_id", "channel", "message_id"),
    Index("ix_message_sends_window", "account_id", "profile_id", "channel", "purpose", "sent_at"),
    sqlite_with_rowid=False,
)


# Webhooks of an account (Klaviyo's /api/webhooks): where consent events are sent, signed with the
# endpoint's Standard Webhooks secret. `topics` is a JSON list. A webhook that kept failing past the
# retry horizon is disabled with `disabled_reason`; `claimed_until` is a deliverer's lease, so one
# process at a time sends to an endpoint, in order.
webhooks = Table(
    "webhooks",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("endpoint_url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("topics", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    PrimaryKeyConstraint("account_id", "id"),
    sqlite_with_rowid=False,
)

# What is still to be sent to each webhook: one row per (webhook, ledger event), written by the recorder
# in the transaction that appends the event, sent in `seq` order per webhook. `payload` is the
# body as signed; `failing_since` is when its first attempt failed (the retry horizon runs from it).
# A row is deleted once its endpoint has taken it.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("webhook_id", ID, nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("topic", String(80), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("failing_since", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "webhook_id", "seq"),
    Index("ix_webhook_deliveries_due", "next_attempt_at"),
    sqlite_with_rowid=False,
)


# Consent wording as people saw it, one row per version: never updated (a new wording is a new
# version), so a proof can show the exact words. `sha256` is of the UTF-8 text; signups record it.
consent_texts = Table(
    "consent_texts",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("version", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(35)),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint("account_id", "version"),
    sqlite_with_rowid=False,
)

# Signed checkpoints of the ledger: the head (seq and hash) signed with the installation's Ed25519
# key. Published copies let anyone detect a later rewrite of the whole database.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("seq", BigInteger, nullable=False, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
    sqlite_with_rowid=False,
)


# Erasure tombstones: for each identifier (email, phone number, external id) of a person erased
# after opting out, its HMAC digest under the installation's erasure key (domain/erasure.py). The
# data is gone; the digest is what stops an import or a bulk subscribe from bringing the person
# back without a new explicit consent.
erasure_tombstones = Table(
    "erasure_tombstones",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("field", String(20), nullable=False),
    Column("erased_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "digest"),
    sqlite_with_rowid=False,
)


# Push tokens (Klaviyo's /api/push-tokens): one device of a profile, with the permission the person
# gave on it. A token belongs to one profile; registered again for another, it moves. `metadata`
# is Klaviyo's device metadata as JSON. Push marketing consent follows the AUTHORIZED ones.
push_tokens = Table(
    "push_tokens",
    metadata,
    Column("account_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("profile_id", ID, nullable=False),
    Column("token", String(512), nullable=False),
    Column("platform", String(10), nullable=False),
    Column("vendor", String(10), nullable=False),
    Column("enablement_status", String(20), nullable=False),
    Column("background", String(20), nullable=False),
    Column("metadata", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    UniqueConstraint("account_id", "token"),
    Index("ix_push_tokens_profile", "account_id", "profile_id", "enablement_status"),
    sqlite_with_rowid=False,
)

# Every `profiles.place_zones` value there is (a handful of zone lists): quiet hours are worked out
# for each once per query, then compared by value.
zone_groups = Table(
    "zone_groups",
    metadata,
    Column("zones", Text, nullable=False),
    PrimaryKeyConstraint("zones"),
)
