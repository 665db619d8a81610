"""Persistence: the schema, every SQL statement and the Alembic migrations. Only services call it."""
