"""Engines, sessions and migrations. SQLite by default; `HIPEXT_DATABASE_URL` selects PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hipext.store.audit_chain import sqlite_path
from hipext.store.urls import DEFAULT_SQLITE_URL as DEFAULT_SQLITE_URL
from hipext.store.urls import database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The longest a request waits for a pooled connection or for SQLite's write lock before it gets a 503 "busy" (the
# web app answers it): both are held for milliseconds, so waiting this long means the server is overloaded.
DB_WAIT_S = float(os.environ.get("HIPEXT_DB_WAIT_S", "10"))
POOL_SIZE = int(os.environ.get("HIPEXT_DB_POOL_SIZE", "20"))


PRIVATE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".audit-key")


def private_sqlite_file(path: Path) -> None:
    """The database holds patient data and password hashes: its file is created 0600 before SQLite opens it (SQLite
    gives its -wal and -shm files the database file's mode), and existing files readable by others are tightened."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:  # no such directory, read-only place: SQLite reports it when it opens the file
        return
    for suffix in PRIVATE_SUFFIXES:
        f = path.with_name(path.name + suffix)
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(0o600)


def make_engine(
    url: str | None = None, *, schema: str | None = None, pool_size: int = POOL_SIZE, wait_s: float = DB_WAIT_S
) -> Engine:
    """Create an engine. `schema` puts every table in one PostgreSQL schema (used by tests and benchmarks).

    The pool is bounded (`pool_size` connections, as many again in bursts) and a checkout waits at most `wait_s`.
    A request holds a connection only while one of its steps runs (hipext.web.security.get_db), so the web app's
    few worker threads never need more than a handful."""
    url = database_url(url)
    kwargs: dict[str, Any] = {"pool_timeout": wait_s}
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            private_sqlite_file(path)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": wait_s}
        if ":memory:" in url:
            del kwargs["pool_timeout"]  # a single shared connection, no queue
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
            cur.close()

        return engine
    # A database that does not answer is an error within seconds, not a hang (start-up, /health).
    kwargs["connect_args"] = {"connect_timeout": 5}
    if schema:
        kwargs["connect_args"]["options"] = f"-csearch_path={schema}"
    # No pre-ping (a round trip per request); recycle instead so a restarted server is picked up.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, **kwargs)


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite gave up waiting for its write lock (busy_timeout): the database is busy, not broken."""
    return "database is locked" in str(getattr(exc, "orig", exc))


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given, minus anything before '@'
        return url.split("@")[-1]


def describe_db_error(exc: BaseException, url: str) -> str:
    """One line that says which database could not be used and why (no traceback)."""
    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split()) or type(orig).__name__
    return f"cannot use the database {shown_url(url)}: {reason[:300]}"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema with Alembic (the only way the schema is made)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
