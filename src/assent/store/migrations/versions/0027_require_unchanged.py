"""PostgreSQL: `assent_require(ok, why)`, which fails the transaction with a serialization failure
(SQLSTATE 40001) unless `ok`. A bulk job sent whole in one round trip (its rows, the account's lock,
its ledger events and its commit: store/ledger.py, append_in_database) checks with it, once it holds
the lock, that nothing it read has changed since; if something has, the statements after it,
the commit among them, do nothing, and the job is worked out again. SQLite has nothing to add.

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION assent_require(ok boolean, why text) RETURNS boolean
        LANGUAGE plpgsql AS $$
        BEGIN
            IF ok IS NOT TRUE THEN
                RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = why;
            END IF;
            RETURN true;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS assent_require(boolean, text)")
