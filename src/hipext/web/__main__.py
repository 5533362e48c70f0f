"""`python -m hipext.web`: migrate, seed the demo clinic (embedded SQLite default only, or --demo), print the URL,
serve. A database that cannot be reached ends start-up with one line naming it, and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from hipext.store import database_url
from hipext.store.db import DEFAULT_SQLITE_URL, describe_db_error, shown_url
from hipext.web.app import create_app
from hipext.web.config import Settings
from hipext.web.demo import DEMO_USERS, seed_demo


def wants_demo(args: argparse.Namespace) -> bool:
    """The published demo accounts (an administrator among them) go only into the embedded SQLite database a
    `make run` creates, or wherever --demo explicitly asks; never into a configured database by default."""
    if args.no_demo:
        return False
    if args.demo:
        return True
    return not args.database_url and not os.environ.get("HIPEXT_DATABASE_URL")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hipext.web", description="Run the hipext clinic web app.")
    ap.add_argument("--host", default=os.environ.get("HIPEXT_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("HIPEXT_PORT", "8000")))
    ap.add_argument("--database-url", default=None, help=f"default: $HIPEXT_DATABASE_URL or {DEFAULT_SQLITE_URL}")
    ap.add_argument("--schema", default=os.environ.get("HIPEXT_DB_SCHEMA"), help="PostgreSQL schema (optional)")
    demo = ap.add_mutually_exclusive_group()
    demo.add_argument("--demo", action="store_true", help="seed the demo clinic even in a configured database")
    demo.add_argument("--no-demo", action="store_true", help="do not seed the demo clinic")
    ap.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("HIPEXT_WORKERS", "1")),
        help="worker processes (default 1; use one per core under load)",
    )
    args = ap.parse_args(argv)
    url = database_url(args.database_url)
    # Absolute links use HIPEXT_BASE_URL; without it, the address this server was told to listen on.
    os.environ.setdefault("HIPEXT_BASE_URL", f"http://{args.host}:{args.port}")
    seed = wants_demo(args)
    try:
        app = create_app(url, schema=args.schema, settings=Settings())
        if seed:
            with app.state.sessionmaker() as s:
                seed_demo(s, today=app.state.settings.now().date())
    except SQLAlchemyError as exc:
        print(f"hipext: {describe_db_error(exc, url)}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"hipext clinic app on http://{args.host}:{args.port}/  (database: {shown_url(url)})", flush=True)
    if seed:
        u, pw, _role, _name = DEMO_USERS[0]
        a, apw, _r, _n = DEMO_USERS[1]
        print(f"demo clinician login: {u} / {pw}   (admin: {a} / {apw})", flush=True)
    log_level = os.environ.get("HIPEXT_LOG_LEVEL", "warning")
    if args.workers <= 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=log_level)
        return
    # Workers are separate processes: hand them the database through the environment.
    app.state.engine.dispose()
    os.environ["HIPEXT_DATABASE_URL"] = url
    if args.schema:
        os.environ["HIPEXT_DB_SCHEMA"] = args.schema
    uvicorn.run(
        "hipext.web.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=log_level,
    )


if __name__ == "__main__":
    main()
