"""`python -m hipext.store upgrade|current|verify-audit [--database-url URL] [--schema S]`.

upgrade: create or upgrade the schema with Alembic (run it as the database owner). current: print the revision.
verify-audit: walk every clinic's audit hash chain and report the first broken link of each; exit 1 if any is broken.
Uses $HIPEXT_DATABASE_URL by default (SQLite `hipext.sqlite3` when unset).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hipext.store import audit_chain
from hipext.store.db import database_url, describe_db_error, make_engine, migrate


def verify_audit(engine) -> int:  # noqa: ANN001
    reports = audit_chain.verify(engine)
    broken = [r for r in reports if r.broken]
    for r in reports:
        name = f"clinic {r.chain}" if r.chain else "events with no clinic"
        state = f"BROKEN: {r.broken}" if r.broken else "intact"
        print(f"chain {r.chain} ({name}): {r.rows} rows, head link {r.head_seq} {r.head_hash[:16]}: {state}")
        if r.backdated:
            print(
                f"  {len(r.backdated)} rows dated more than 5 minutes before the database recorded them: "
                f"ids {', '.join(map(str, r.backdated[:20]))}"
            )
    total = sum(r.rows for r in reports)
    if broken:
        print(f"audit log: {len(broken)} of {len(reports)} chains broken ({total} rows checked)")
        return 1
    print(f"audit log intact: {len(reports)} chains, {total} rows")
    return 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m hipext.store", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("command", choices=["upgrade", "current", "verify-audit"])
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--schema", default=None, help="PostgreSQL schema (optional)")
    args = ap.parse_args(argv)
    url = database_url(args.database_url)
    engine = make_engine(url, schema=args.schema)
    try:
        if args.command == "verify-audit":
            code = verify_audit(engine)
        else:
            if args.command == "upgrade":
                migrate(engine)
            with engine.connect() as conn:
                rev = conn.execute(text("select version_num from alembic_version")).scalar()
            print(f"schema at revision {rev}")
            code = 0
    except SQLAlchemyError as exc:
        print(f"hipext: {describe_db_error(exc, url)}", file=sys.stderr)
        code = 2
    finally:
        engine.dispose()
    sys.exit(code)


if __name__ == "__main__":
    main()
