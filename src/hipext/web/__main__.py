"""`python -m hipext.web`: migrate, seed the demo clinic (embedded SQLite default only, or --demo), print the URL,
serve. A database that cannot be reached ends start-up with one line naming it, and exit status 2.
`python -m hipext.web recompute-evaluations`: see `hipext.web.recompute`."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys

from hipext.web.prepare import prepare

# Nothing heavy at module level: with several workers this process only supervises them, and everything it
# imports stays resident for the server's life.


def wants_demo(args: argparse.Namespace) -> bool:
    """The published demo accounts (an administrator among them) go only into the embedded SQLite database a
    `make run` creates, or wherever --demo explicitly asks; never into a configured database by default."""
    if args.no_demo:
        return False
    if args.demo:
        return True
    return not args.database_url and not os.environ.get("HIPEXT_DATABASE_URL")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["recompute-evaluations"]:  # a maintenance command (after an upgrade), not the server
        from hipext.web.recompute import main as recompute

        recompute(argv[1:])
        return
    ap = argparse.ArgumentParser(
        prog="python -m hipext.web",
        description="Run the hipext clinic web app. `python -m hipext.web recompute-evaluations --help`: recompute "
        "the stored evaluations made by other rules (after an upgrade).",
    )
    ap.add_argument("--host", default=os.environ.get("HIPEXT_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("HIPEXT_PORT", "8000")))
    ap.add_argument("--database-url", default=None, help="default: $HIPEXT_DATABASE_URL or sqlite:///hipext.sqlite3")
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
    from hipext.store.urls import database_url

    url = database_url(args.database_url)
    where = f"http://{args.host}:{args.port}/"
    # Absolute links use HIPEXT_BASE_URL; without it, the address this server was told to listen on (inherited by
    # the workers), never a request's Host header.
    os.environ.setdefault("HIPEXT_BASE_URL", where.rstrip("/"))
    seed = wants_demo(args)
    log_level = os.environ.get("HIPEXT_LOG_LEVEL", "warning")
    import uvicorn  # noqa: PLC0415 - not in a supervisor that serves through hipext.web.workers

    if args.workers <= 1:
        app = prepare(url, args.schema, seed, where)
        uvicorn.run(app, host=args.host, port=args.port, log_level=log_level)
        return
    # Workers are separate processes that share nothing but the database. The supervisor builds no app: it
    # migrates and seeds in a child that exits, then hands the workers the database through the environment.
    child = multiprocessing.get_context("spawn").Process(target=prepare, args=(url, args.schema, seed, where))
    child.start()
    child.join()
    if child.exitcode == 2:  # the child said why, in one line
        sys.exit(2)
    if child.exitcode:
        sys.exit(f"hipext web: preparing the database failed (exit {child.exitcode})")
    os.environ["HIPEXT_DATABASE_URL"] = url
    if args.schema:
        os.environ["HIPEXT_DB_SCHEMA"] = args.schema
    from hipext.web import workers

    if workers.SUPPORTED:  # a listening socket per worker: connections spread evenly (hipext.web.workers)
        try:
            workers.serve(args.host, args.port, args.workers, log_level)
        except OSError as exc:
            sys.exit(f"hipext web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return
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
