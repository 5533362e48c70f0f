"""Clinic store: SQLAlchemy 2 models, Alembic migrations and clinic-scoped repositories.

The names below are imported on first use, so that `hipext.store.urls` can be read without loading SQLAlchemy and
Alembic (the web server's supervisor process names the database and nothing more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hipext.store.db import make_engine, migrate, session_factory, table_names
    from hipext.store.urls import database_url

__all__ = ["database_url", "make_engine", "migrate", "session_factory", "table_names"]


def __getattr__(name: str) -> Any:
    if name == "database_url":
        from hipext.store.urls import database_url  # noqa: PLC0415

        return database_url
    if name in __all__:
        from hipext.store import db  # noqa: PLC0415

        return getattr(db, name)
    raise AttributeError(f"module 'hipext.store' has no attribute {name!r}")
