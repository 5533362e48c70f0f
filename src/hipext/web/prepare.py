"""Migrate, seed the demo clinic and announce: run by `python -m hipext.web` before serving (in a child process
when several workers serve, so that the supervisor never builds an app)."""

from __future__ import annotations

import sys
from typing import Any


def prepare(url: str, schema: str | None, demo: bool, where: str) -> Any:
    """Migrate, seed (idempotent), print the URL and the demo login; the app. In a short-lived child process when
    workers serve. A database that cannot be used: one line on stderr, exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from hipext.store.db import describe_db_error, shown_url
    from hipext.web.app import create_app
    from hipext.web.demo import DEMO_USERS, seed_demo

    try:
        app = create_app(url, schema=schema)
        if demo:
            with app.state.sessionmaker() as s:
                seed_demo(s, today=app.state.settings.now().date())
    except SQLAlchemyError as exc:
        print(f"hipext: {describe_db_error(exc, url)}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"hipext clinic app on {where}  (database: {shown_url(url)})", flush=True)
    if demo:
        u, pw, _role, _name = DEMO_USERS[0]
        a, apw, _r, _n = DEMO_USERS[1]
        print(f"demo clinician login: {u} / {pw}   (admin: {a} / {apw})", flush=True)
    return app
