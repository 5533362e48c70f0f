"""Which database: light on purpose (no SQLAlchemy), so a supervisor process can name it without loading the store."""

from __future__ import annotations

import os

DEFAULT_SQLITE_URL = "sqlite:///hipext.sqlite3"


def database_url(url: str | None = None) -> str:
    """The database to use; plain postgresql:// URLs get the psycopg 3 driver that hipext ships with."""
    url = url or os.environ.get("HIPEXT_DATABASE_URL") or DEFAULT_SQLITE_URL
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
