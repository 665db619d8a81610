"""The migrations build exactly the schema the code declares, on both backends."""

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from assent.store.db import NotMigrated, head_revision, make_engine, require_migrated, schema_head, stored_revision
from assent.store.tables import metadata


def test_migrated_schema_matches_the_declared_tables(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_the_head_read_from_the_migration_files_is_alembics():
    assert schema_head() == head_revision()


def test_a_migrated_database_is_checked_with_one_select_and_without_alembic(db_url):
    # In a fresh interpreter: this test process has loaded alembic already.
    code = (
        "import sys\n"
        "from assent.store.db import make_engine, require_migrated, stored_revision, schema_head\n"
        f"engine = make_engine({db_url!r})\n"
        "require_migrated(engine)\n"
        "assert stored_revision(engine) == schema_head()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_old_or_empty_database_is_still_refused(tmp_path, engine):
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert stored_revision(empty) is None
    with pytest.raises(NotMigrated, match="has no Assent schema"):
        require_migrated(empty)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0015'"))
        with pytest.raises(NotMigrated, match="is at revision 0015"):
            require_migrated(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": schema_head()})
    require_migrated(engine)
