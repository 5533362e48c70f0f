"""Clinic store: SQLAlchemy 2 models, Alembic migrations and clinic-scoped repositories."""

from hipext.store.db import database_url, make_engine, migrate, session_factory, table_names

__all__ = ["database_url", "make_engine", "migrate", "session_factory", "table_names"]
