"""`python -m hipext.store upgrade [--database-url URL] [--schema S]`: create or upgrade the schema with Alembic.

Uses $HIPEXT_DATABASE_URL by default (SQLite `hipext.sqlite3` when unset). `current` prints the revision.
"""

from __future__ import annotations

import argparse

from sqlalchemy import text

from hipext.store.db import database_url, make_engine, migrate


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hipext.store", description=__doc__)
    ap.add_argument("command", choices=["upgrade", "current"])
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--schema", default=None, help="PostgreSQL schema (optional)")
    args = ap.parse_args(argv)
    engine = make_engine(database_url(args.database_url), schema=args.schema)
    if args.command == "upgrade":
        migrate(engine)
    with engine.connect() as conn:
        rev = conn.execute(text("select version_num from alembic_version")).scalar()
    print(f"schema at revision {rev}")
    engine.dispose()


if __name__ == "__main__":
    main()
