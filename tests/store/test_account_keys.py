"""Every primary key, unique constraint and unique index leads with account_id, so every table can
be distributed by account (Citus: docs/scaling.md) and every uniqueness check stays within one
account's shard. Read from the real migrated schema on both backends, not from the declarations."""

from sqlalchemy import inspect

# The keys that deliberately do not lead with account_id, and why. Each is looked up before the
# account is known, or holds no account at all; with Citus they live in reference tables.
EXCEPTIONS = {
    # The account's own key: accounts.id *is* the account_id every other table leads with.
    ("accounts", "primary key", ("id",)),
    # Website forms name the account by its public id (Klaviyo's company_id): the look-up that
    # finds the account cannot already know it. One small row per account.
    ("accounts", "unique", ("public_id",)),
    # A request's API key is matched by its digest before its account is known; a digest must be
    # unique across the installation, or one key could open two accounts.
    ("api_keys", "unique", ("digest",)),
    # Installation-wide settings (such as the pepper of API-key digests) belong to no account.
    ("settings", "primary key", ("name",)),
    # Shared rate-limit counters: `scope` holds the account id for API keys, but "" for the signup
    # limit, which counts a client address across every account. Short-lived counters, not account
    # data: with Citus they live in Redis (ASSENT_REDIS_URL) or in a table on the coordinator.
    ("rate_limit_windows", "primary key", ("scope", "bucket", "window_start")),
    # The distinct lists of time zones profiles' places name (for the audience SQL's quiet hours):
    # reference data shared by every account, like the zone database itself.
    ("zone_groups", "primary key", ("zones",)),
    # Alembic's own bookkeeping: the schema's revision, one row for the installation.
    ("alembic_version", "primary key", ("version_num",)),
}


def _keys(engine) -> set[tuple[str, str, tuple[str, ...]]]:
    """(table, kind, columns) of every primary key and unique constraint or index."""
    found = set()
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        if pk:
            found.add((table, "primary key", tuple(pk)))
        for unique in inspector.get_unique_constraints(table):
            found.add((table, "unique", tuple(unique["column_names"])))
        for index in inspector.get_indexes(table):
            if index["unique"]:
                found.add((table, "unique", tuple(index["column_names"])))
    return found


def test_every_primary_and_unique_key_leads_with_account_id(engine):
    keys = _keys(engine)
    assert any(kind == "primary key" for _, kind, _ in keys)  # the inspection saw the schema
    leading_elsewhere = {key for key in keys if key[2][0] != "account_id"}
    assert leading_elsewhere == EXCEPTIONS


def test_every_table_has_a_primary_key(engine):
    inspector = inspect(engine)
    without = [t for t in inspector.get_table_names() if not inspector.get_pk_constraint(t)["constrained_columns"]]
    assert without == []
