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
    ap.add_argument("--workers-note", action="store_true", help=argparse.SUPPRESS)
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
    uvicorn.run(app, host=args.host, port=args.port, log_level=os.environ.get("HIPEXT_LOG_LEVEL", "warning"))


if __name__ == "__main__":
    main()
