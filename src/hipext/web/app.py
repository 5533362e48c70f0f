"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as DatabaseBusy
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from hipext import __version__
from hipext.reports.capacity_charts import task_bars_svg, torque_angle_svg
from hipext.reports.qr import qr_svg
from hipext.store import make_engine, migrate, session_factory
from hipext.store.audit_writer import AuditWriter
from hipext.store.db import is_lock_timeout
from hipext.web.audit_gate import AuditGate
from hipext.web.config import Settings
from hipext.web.hashing import Busy, PasswordWorkers
from hipext.web.http import json_safe
from hipext.web.limits import BodyLimit
from hipext.web.security import AnonymousAuditBound, LoginRequired
from hipext.web.services import EvaluationCache
from hipext.web.stored_evaluations import Keeper

HERE = Path(__file__).parent
log = logging.getLogger("hipext.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

ERROR_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Busy",
}


def create_app(
    database_url: str | None = None,
    *,
    schema: str | None = None,
    settings: Settings | None = None,
    run_migrations: bool = True,
    seed_demo: bool = False,
) -> FastAPI:
    """Build the clinic web app over a database (SQLite by default, `HIPEXT_DATABASE_URL` or `database_url`).

    `schema` keeps every table in one PostgreSQL schema (tests, benchmarks). Migrations run at start-up.
    """
    settings = settings or Settings()
    engine = make_engine(database_url, schema=schema)
    if run_migrations:
        migrate(engine)
    threads = int(os.environ.get("HIPEXT_THREADS", "2"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        # Fewer threads than anyio's default 40: the work is mostly CPU under the GIL, and a short queue keeps
        # the latency tail short under load.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await anyio.to_thread.run_sync(_warm_up)
        # What is loaded by now (modules, evidence, validators) lives as long as the worker: kept out of the
        # collector's full passes, which would otherwise walk all of it again and again under load.
        gc.freeze()
        yield
        gc.unfreeze()
        app.state.audit_writer.close()  # after the last request: every queued event is written
        app.state.evaluations.shutdown()
        app.state.passwords.shutdown()
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="hipext clinic API",
        version=__version__,
        description="Patients, cases and evaluations of the hipext clinic app. Authenticate with a session cookie "
        "(send X-CSRF-Token on writes) or `Authorization: Bearer <token>` from your account page. Invalid cases "
        "get HTTP 422 with the same problem list as `hipext evaluate`.",
        docs_url=None,  # Swagger UI loads from a CDN; /api/docs is rendered here instead
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    app.state.settings = settings
    app.state.passwords = PasswordWorkers()
    app.state.health_limiter = anyio.CapacityLimiter(2)
    app.state.anonymous_audit = AnonymousAuditBound()
    app.state.cache = EvaluationCache(settings.cache_bytes)
    app.state.evaluations = Keeper(lambda: app.state.sessionmaker)  # stores evaluations with their records
    app.state.audit_writer = AuditWriter(lambda: app.state.engine)  # group commit of read events (Auditor.view)
    # Rendered page fragments, keyed by their inputs: as much again as the documents (a page re-rendered costs
    # about 5 ms of CPU, a document re-read from the store well under one).
    app.state.fragments = EvaluationCache(settings.cache_bytes)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.auto_reload = False  # shipped with the package: no stat() of every template on every render
    templates.env.globals["version"] = __version__
    # The capacity charts are shared with the HTML report (one way out); they return trusted SVG strings.
    templates.env.globals["torque_angle_svg"] = lambda cap: Markup(torque_angle_svg(cap) or "")
    templates.env.globals["task_bars_svg"] = lambda cap: Markup(task_bars_svg(cap) or "")
    templates.env.tests["startingwith"] = lambda value, prefix: str(value).startswith(prefix)
    templates.env.filters["qr_svg"] = lambda url: Markup(qr_svg(url, title="Patient link as a QR code"))
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from hipext.web.routes import routers  # noqa: PLC0415 - routes need the app state above

    for router in routers():
        app.include_router(router)
    app.add_api_route("/health", health, include_in_schema=False)

    app.add_middleware(AuditGate)  # inside the error handlers' middleware: it sees every response start
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)  # outermost: a 413 gets the headers too

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (403, 404):
            await run_in_threadpool(audit_denial, request, exc.status_code)
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        resp = error_page(request, exc.status_code, str(exc.detail) if exc.status_code != 404 else None)
        resp.headers.update(exc.headers or {})
        return resp

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> Response:
        return busy(request, "The server is busy checking other sign-ins. Try again in a moment.")

    @app.exception_handler(DatabaseBusy)
    async def _db_busy(request: Request, exc: Exception) -> Response:
        # No connection free, or SQLite's write lock not granted, within DB_WAIT_S: a 503 to retry, never a hang.
        log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
        return busy(request, "The server is busy. Try again in a moment.")

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> Response:
        if is_lock_timeout(exc):
            return await _db_busy(request, exc)
        return await _crash(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "path": ".".join(str(x) for x in e["loc"] if x != "body"),
                "value": json_safe(e.get("input")) if e.get("type") != "missing" else None,
                "expected": json_safe(e["msg"], 500),
            }
            for e in exc.errors()
        ]
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": "invalid input", "problems": problems}, status_code=422)
        return error_page(request, 422, "The request was not understood.")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": "internal error"}, status_code=500)
        return error_page(request, 500, None)

    return app


async def health(request: Request) -> Response:
    """Liveness and the database: 200 {"status": "ok"} or 503 {"status": "degraded"}. Async, and its database
    check runs on a thread of its own, so a queue of slow requests (or of sign-ins) never makes it look down."""
    state = request.app.state
    ok, reason = False, "no answer within 3 s"
    with anyio.move_on_after(3):
        ok, reason = await anyio.to_thread.run_sync(
            database_ok, state.engine, limiter=state.health_limiter, abandon_on_cancel=True
        )
    body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else reason}
    return JSONResponse(body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})


def database_ok(engine: Any) -> tuple[bool, str]:
    from sqlalchemy import text  # noqa: PLC0415

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure to answer is "degraded"
        log.warning("health check: database unavailable: %s", exc)
        return False, "unavailable"


def audit_denial(request: Request, status: int) -> None:
    """Failed authorisation of a signed-in user (and a 404 on a patient route, which is how another clinic's
    patient looks) goes to the audit log."""
    p = getattr(request.state, "principal", None)
    if p is None:
        return
    if status == 404 and "/patients/" not in request.url.path:
        return
    from hipext.store import repo  # noqa: PLC0415

    with request.app.state.sessionmaker() as s:
        repo.audit(
            s,
            action="access.denied" if status == 403 else "access.not_found",
            actor=p.label,
            clinic_id=p.clinic_id,
            user_id=p.user_id,
            detail=f"{request.method} {request.url.path}"[:300],
            ip=request.client.host if request.client else None,
            outcome="denied",
            now=request.app.state.settings.now(),
        )
        s.commit()


class SecurityHeaders:
    """Pure ASGI middleware (BaseHTTPMiddleware costs about a millisecond a request): adds the security headers."""

    def __init__(self, app: Any, hsts: bool = False) -> None:
        self.app = app
        headers = dict(SECURITY_HEADERS)
        if hsts:  # only when served over HTTPS (secure cookies on)
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.static_headers = [h for h in self.headers if h[0] != b"cache-control"]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.static_headers if scope["path"].startswith("/static") else self.headers

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def busy(request: Request, message: str) -> Response:
    if request.url.path.startswith("/api"):
        return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "1"})
    resp = error_page(request, 503, message)
    resp.headers["Retry-After"] = "1"
    return resp


def error_page(request: Request, status: int, message: str | None) -> Response:
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": ERROR_TITLES.get(status, "Error"), "message": message, "user": None},
        status_code=status,
    )


def _warm_up() -> None:
    """Evaluate one demo case before serving: the first request of each worker would otherwise pay for loading
    the evidence, building the models' validators and the care data (several hundred ms)."""
    from hipext.app import evaluate_case
    from hipext.core.case import Case
    from hipext.web.demo import demo_cases
    from hipext.web.stored_evaluations import evaluation_version

    today = dt.date(2026, 1, 1)
    try:
        case = next(c for c in demo_cases(today) if c.get("visits"))
        evaluate_case(Case.model_validate(case), as_of=today)
        evaluation_version()  # hashes the data files and the engine's source once, before the first stored read
    except Exception:  # noqa: BLE001 - a warm-up must never stop the server; the request path reports errors
        logging.getLogger(__name__).warning("warm-up evaluation failed", exc_info=True)


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory hipext.web.app:app_from_env` and multi-worker runs: configuration comes from
    HIPEXT_DATABASE_URL and HIPEXT_DB_SCHEMA. Workers share nothing but the database."""
    return create_app(os.environ.get("HIPEXT_DATABASE_URL"), schema=os.environ.get("HIPEXT_DB_SCHEMA") or None)
