"""A profile's identifiers (email, phone number, external id) stay unique within the account, but
each unique key now holds only the profiles that have that identifier: the keys were unique
constraints, whose indexes held an entry for every profile, one with an empty identifier too. An
email-only profile wrote two index entries nobody can look up (its empty phone number and
external id), on every insert: a new profile's row now writes four index entries instead of six.
Uniqueness is unchanged (empty identifiers never conflicted), and a look-up by an identifier reads
the same index as before.

PostgreSQL: each constraint is replaced by a partial unique index of the same name. SQLite cannot
drop a table's constraint, so `profiles` is rebuilt (its rows copied into a table made from its
own definition less the three constraints, its other indexes made again): on a large database this
takes a while and needs room for a second copy of the table while it runs.

Revision ID: 0026
Revises: 0025
"""

import re
from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTIFIERS = ("email", "phone_number", "external_id")


def _name(column: str) -> str:
    return f"uq_profiles_account_id_{column}"


def _partial_index(column: str) -> str:
    return f"CREATE UNIQUE INDEX {_name(column)} ON profiles (account_id, {column}) WHERE {column} IS NOT NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in IDENTIFIERS:
            op.execute(f"ALTER TABLE profiles DROP CONSTRAINT {_name(column)}")
            op.execute(_partial_index(column))
        return
    _rebuild_sqlite(without=True)
    for column in IDENTIFIERS:
        op.execute(_partial_index(column))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in IDENTIFIERS:
            op.execute(f"DROP INDEX {_name(column)}")
            op.execute(f"ALTER TABLE profiles ADD CONSTRAINT {_name(column)} UNIQUE (account_id, {column})")
        return
    for column in IDENTIFIERS:
        op.execute(f"DROP INDEX {_name(column)}")
    _rebuild_sqlite(without=False)


def _constraint(column: str) -> str:
    return f"CONSTRAINT {_name(column)} UNIQUE (account_id, {column})"


def _rebuild_sqlite(*, without: bool) -> None:
    """Make `profiles` again from its own stored definition, with the identifiers' unique constraints
    taken out (`without`) or put back, then copy its rows over and make its indexes again."""
    conn = op.get_bind()
    table_sql: str = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'profiles'"
    ).scalar_one()
    indexes = [
        sql
        for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'profiles' AND sql IS NOT NULL"
        )
    ]
    if without:
        new_sql = table_sql
        for column in IDENTIFIERS:
            new_sql, found = re.subn(rf",\s*{re.escape(_constraint(column))}", "", new_sql)
            if found != 1:
                raise RuntimeError(f"profiles' definition has no unique constraint {_name(column)}")
    else:
        key = re.search(r"CONSTRAINT pk_profiles PRIMARY KEY \(account_id, id\)", table_sql)
        if key is None:
            raise RuntimeError("profiles' definition has no primary key pk_profiles")
        added = "".join(f", \n\t{_constraint(column)}" for column in IDENTIFIERS)
        new_sql = table_sql[: key.end()] + added + table_sql[key.end() :]
    new_sql = re.sub(r"^CREATE TABLE \"?profiles\"?", "CREATE TABLE profiles_rebuilt", new_sql)
    op.execute(new_sql)
    op.execute("INSERT INTO profiles_rebuilt SELECT * FROM profiles")
    op.execute("DROP TABLE profiles")
    op.execute("ALTER TABLE profiles_rebuilt RENAME TO profiles")
    for sql in indexes:
        if not any(_name(column) in sql for column in IDENTIFIERS):
            op.execute(sql)
