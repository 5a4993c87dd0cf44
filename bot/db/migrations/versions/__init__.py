"""Alembic revisions, applied in order by `Database.migrate()` (Alembic skips this file)."""
