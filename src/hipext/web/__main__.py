"""`python -m hipext.web`: migrate, seed the demo clinic (idempotent), print the URL and the demo login, serve."""

from __future__ import annotations

import argparse
import os

import uvicorn

from hipext.store import database_url
from hipext.web.app import create_app
from hipext.web.demo import DEMO_USERS, seed_demo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hipext.web", description="Run the hipext clinic web app.")
    ap.add_argument("--host", default=os.environ.get("HIPEXT_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("HIPEXT_PORT", "8000")))
    ap.add_argument("--database-url", default=None, help="default: $HIPEXT_DATABASE_URL or sqlite:///hipext.sqlite3")
    ap.add_argument("--schema", default=os.environ.get("HIPEXT_DB_SCHEMA"), help="PostgreSQL schema (optional)")
    ap.add_argument("--no-demo", action="store_true", help="do not seed the demo clinic")
    ap.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("HIPEXT_WORKERS", "1")),
        help="worker processes (default 1; use one per core under load)",
    )
    args = ap.parse_args(argv)
    url = database_url(args.database_url)
    app = create_app(url, schema=args.schema)
    if not args.no_demo:
        with app.state.sessionmaker() as s:
            seed_demo(s, today=app.state.settings.now().date())
    shown = url.split("@")[-1] if "@" in url else url
    print(f"hipext clinic app on http://{args.host}:{args.port}/  (database: {shown})", flush=True)
    if not args.no_demo:
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
