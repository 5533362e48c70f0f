"""Sessions, CSRF, roles, login throttling and the request's database session (FastAPI dependencies)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from sqlalchemy import bindparam, delete, event, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from starlette.concurrency import run_in_threadpool

from hipext.store import repo, throttle
from hipext.store.models import User, WebSession
from hipext.web.config import Settings

SESSION_COOKIE = "hipext_session"
LOGIN_CSRF_COOKIE = "hipext_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITER_ROLES = frozenset({"admin", "clinician"})
T = TypeVar("T")


class LoginRequired(Exception):
    """Raised for an HTML page without a valid session; answered with a redirect to the login page."""


@dataclass
class Principal:
    user: User
    session: WebSession | None  # None when authenticated by bearer token
    via_bearer: bool = False

    def __post_init__(self) -> None:
        # Plain copies: still readable after the request's database session has closed (error handlers, audit).
        self.user_id: int = self.user.id
        self.username: str = self.user.username
        self._clinic_id: int = self.user.clinic_id

    @property
    def clinic_id(self) -> int:
        return self._clinic_id

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token if self.session else ""

    @property
    def can_write(self) -> bool:
        return self.user.role in WRITER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def label(self) -> str:
        return f"user:{self.username}"


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's database session. Creating and closing it does no I/O; a connection is taken from the pool
    only by a query, and given back when its transaction ends.

    Rule: a request never holds a connection while it waits (for a worker thread, the network, a password check,
    another connection). Every database step therefore ends its transaction before it returns: `db_step` for the
    steps of async code, `end_transaction` at the end of sync dependencies, a commit in routes. Otherwise requests
    that hold connections while queued for the worker threads can take the whole pool, and the threads then block
    waiting for a connection that only a queued request can give back (the 30 s hang of issue 12)."""
    s = request.app.state.sessionmaker()
    try:
        yield s
    finally:
        if s.in_transaction():  # a step that failed: rolled back off the event loop, even if the client has gone
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(s.close)
        s.close()


def end_transaction(s: Session) -> None:
    """Give the connection back to the pool (a commit: objects already loaded stay readable). A read step ends here
    even when it ran no statement (the commit begins and ends an empty transaction: no connection is taken)."""
    s.commit()


_READING = "hipext_read_step"
_AUTOCOMMIT_DUE = "hipext_read_step_autocommit"


def read_step(s: Session) -> None:
    """Begin a database step that only reads (call it before the step's first statement). On PostgreSQL its
    statements run in autocommit: each is one round trip, where a transaction adds a BEGIN and a COMMIT round trip
    of its own (issue 12: 9 round trips for an evaluation page, 3 without). SQLite's driver already reads outside a
    transaction. Each statement is then a snapshot of its own, which is why a step that needs two reads to agree
    must not use this (the request's steps never shared a transaction anyway: a session revoked after its lookup
    was always seen only by the next request; the clinic filter is in every query). A write in the step is refused
    (`ReadStepWrite`) instead of being committed statement by statement; the step ends with `end_transaction`.
    PostgreSQL runs at READ COMMITTED here, where the statements of one transaction never shared a snapshot either.
    The connection is taken by the step's first statement: a step that finds everything in memory takes none.
    Called inside a transaction already begun, it changes nothing: the reads join that transaction as before."""
    if s.in_transaction():
        return
    s.info[_READING] = True
    if s.get_bind().dialect.name == "postgresql":
        s.info[_AUTOCOMMIT_DUE] = True


class ReadStepWrite(RuntimeError):
    """A statement that changes data was sent in a read step (a programming error, never a client's)."""


@event.listens_for(Session, "do_orm_execute")
def _read_step_statement(state: ORMExecuteState) -> None:
    s = state.session
    if not s.info.get(_READING):
        return
    if not state.is_select:
        raise ReadStepWrite("a read step may not change data")
    if s.info.pop(_AUTOCOMMIT_DUE, False) and not s.in_transaction():  # the step's first statement
        s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@event.listens_for(Session, "before_flush")
def _refuse_flush_in_read_step(session: Session, _ctx: object, _instances: object) -> None:
    if session.info.get(_READING) and (session.new or session.deleted or session.dirty):
        raise ReadStepWrite("a read step may not change data")


@event.listens_for(Session, "after_transaction_end")
def _read_step_over(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_READING, None)
        session.info.pop(_AUTOCOMMIT_DUE, None)


async def db_step(s: Session, fn: Callable[..., T], *args: object) -> T:
    """Run one database step on a worker thread and end its transaction there, so nothing blocks the event loop
    and no connection is held while the request goes on waiting."""

    def step() -> T:
        result = fn(*args)
        end_transaction(s)
        return result

    return await run_in_threadpool(step)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- audit rows of requests nobody is signed in to ---------------------------------------------------------------


@dataclass
class AnonymousAuditBound:
    """Requests from nobody signed in (bad passwords, guessed links, forged tokens) are audited, but an attacker must
    not be able to grow the log without limit: per address and overall, at most so many rows per window; the rest
    are counted and the count is written into the next row that is let through. Per process: with N workers the
    bound is N times this."""

    per_ip: int = 30
    overall: int = 600
    window: dt.timedelta = dt.timedelta(minutes=10)
    _start: dt.datetime | None = None
    _counts: dict[str, int] = field(default_factory=dict)
    _total: int = 0
    _suppressed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, ip: str | None, now: dt.datetime) -> tuple[bool, int]:
        """(write this row?, how many rows were held back before it)."""
        with self._lock:
            if self._start is None or now - self._start >= self.window or now < self._start:
                self._start, self._counts, self._total = now, {}, 0
            key = ip or "-"
            if self._counts.get(key, 0) >= self.per_ip or self._total >= self.overall:
                self._suppressed += 1
                return False, 0
            self._counts[key] = self._counts.get(key, 0) + 1
            self._total += 1
            held, self._suppressed = self._suppressed, 0
            return True, held


def anonymous_audit(
    request: Request,
    s: Session,
    *,
    action: str,
    actor: str,
    clinic_id: int | None = None,
    user_id: int | None = None,
    patient_id: int | None = None,
    detail: str | None = None,
    outcome: str = "denied",
) -> bool:
    """Audit an event of an unauthenticated request (against the clinic concerned when one is known), within the
    bound above. Written in the caller's transaction; returns whether a row was written."""
    now = settings_of(request).now()
    admitted, held = request.app.state.anonymous_audit.admit(client_ip(request), now)
    if not admitted:
        return False
    if held:
        detail = f"{detail or ''} (+{held} similar events from unauthenticated requests not logged)".strip()
    repo.audit(
        s,
        action=action,
        actor=actor,
        clinic_id=clinic_id,
        user_id=user_id,
        patient_id=patient_id,
        detail=detail,
        ip=client_ip(request),
        outcome=outcome,
        now=now,
    )
    return True


# --- sessions -------------------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG


def start_session(
    s: Session, user: User, now: dt.datetime, old_token: str | None = None, *, stage: str = "full"
) -> str:
    """Create a fresh session (a new id at every login and at every step of it) and end the one the browser came
    with. `stage` is "full", or "totp"/"enrol" while a second factor is still due."""
    if old_token:
        s.execute(delete(WebSession).where(WebSession.id == repo.sha256(old_token)))
    token = new_token()
    s.add(
        WebSession(
            id=repo.sha256(token),
            user_id=user.id,
            csrf_token=new_token(),
            created_at=now,
            last_seen_at=now,
            stage=stage,
            totp_failures=0,
        )
    )
    return token


def end_session(s: Session, token: str | None) -> None:
    if token:
        s.execute(delete(WebSession).where(WebSession.id == repo.sha256(token)))


_SESSION_USER = (  # built once (issue 12): run with the session id's hash
    select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.id == bindparam("sid"))
)


def _session_principal(request: Request, s: Session, stages: tuple[str, ...] = ("full",)) -> Principal | None:
    """The session's principal. Found, it leaves its read step open, so that the caller's next reads (the patient)
    share its pooled connection; the caller ends the step. Any write ends the step first: it is a transaction of its
    own."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    settings = settings_of(request)
    now = settings.now()
    # One round trip for the session and its user (with the user's clinic, joined), in a read step.
    read_step(s)
    found = s.execute(_SESSION_USER, {"sid": repo.sha256(token)}).first()
    if found is None:
        end_transaction(s)
        return None
    ws, user = found
    if now - ws.last_seen_at > settings.idle_timeout or now - ws.created_at > settings.absolute_lifetime:
        end_transaction(s)
        s.delete(ws)
        s.commit()
        return None
    if not user.active or ws.stage not in stages:
        end_transaction(s)
        return None
    if now - ws.last_seen_at > dt.timedelta(seconds=30):  # keep the idle clock without a write per request
        end_transaction(s)
        ws.last_seen_at = now
        s.commit()
    return Principal(user=user, session=ws)


def _bearer_principal(request: Request, s: Session) -> Principal | None:
    """The API token's principal; found, its read step stays open as in `_session_principal`."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return None
    read_step(s)
    user = repo.user_by_api_token(s, auth[7:].strip())
    if user is None:  # a guessed, revoked or leaked-and-rotated token: on the record (bounded)
        end_transaction(s)
        anonymous_audit(request, s, action="auth.token_invalid", actor="api-token", detail=request.url.path[:200])
        s.commit()
        return None
    return Principal(user=user, session=None, via_bearer=True)


def _lookup_principal(request: Request, s: Session) -> Principal | None:
    if request.url.path.startswith("/api") and request.headers.get("authorization"):
        return _bearer_principal(request, s)
    return _session_principal(request, s)


# The principal is looked up once per request: every dependency, route and error handler of the request that asks
# again gets the same one (FastAPI caches a dependency per request; this also covers lookups outside its graph).
# Not across requests: a cache in one worker process cannot see a sign-out, a deactivation or a password change
# made through another worker (or the CLI) without asking the database, and asking is the query it would save.
_PRINCIPAL = "hipext_principal"
_UNSET = object()


async def optional_principal(request: Request, s: Session = Depends(get_db)) -> Principal | None:
    cached = request.scope.get(_PRINCIPAL, _UNSET)
    if cached is not _UNSET:
        assert cached is None or isinstance(cached, Principal)
        return cached
    p = await db_step(s, _lookup_principal, request, s)
    request.scope[_PRINCIPAL] = p
    return p


def principal_in_step(request: Request, s: Session) -> Principal:
    """`current_principal` for a sync dependency that reads more on the same worker thread (the path's patient):
    one thread hop and one pooled connection for both. The principal's read step is left open for those reads; the
    caller ends it."""
    p = request.scope.get(_PRINCIPAL, _UNSET)
    if p is _UNSET:
        p = _lookup_principal(request, s)
        request.scope[_PRINCIPAL] = p
    assert p is None or isinstance(p, Principal)
    return _signed_in(request, p)


async def pending_principal(request: Request, s: Session = Depends(get_db)) -> Principal:
    """A session half-way through signing in (password checked, second factor due or to be set up), or a full one."""
    cached = request.scope.get(_PRINCIPAL)
    if isinstance(cached, Principal) and not cached.via_bearer:
        request.state.principal = cached
        return cached  # a full session was already found for this request
    p = await db_step(s, _session_principal, request, s, ("totp", "enrol", "full"))
    if p is None:
        raise LoginRequired()
    request.state.principal = p
    return p


async def current_principal(request: Request, p: Principal | None = Depends(optional_principal)) -> Principal:
    return _signed_in(request, p)


def _signed_in(request: Request, p: Principal | None) -> Principal:
    if p is None:
        if request.url.path.startswith("/api"):
            raise HTTPException(
                status_code=401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"}
            )
        raise LoginRequired()
    request.state.principal = p
    return p


def check_csrf(p: Principal, supplied: str | None) -> None:
    if p.via_bearer:
        return
    if not supplied or not hmac.compare_digest(supplied.encode(), p.csrf_token.encode()):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token")


async def _check_csrf_on_write(request: Request, p: Principal) -> None:
    """State-changing requests carry the CSRF token in a header (API) or a form field (pages)."""
    if request.method not in SAFE_METHODS:
        supplied = request.headers.get("x-csrf-token")
        if supplied is None and "form" in request.headers.get("content-type", ""):
            supplied = str((await request.form()).get("csrf_token") or "")
        check_csrf(p, supplied)


async def writer(request: Request, p: Principal = Depends(current_principal)) -> Principal:
    """A user allowed to change data, on a request carrying a valid CSRF token (unless bearer-authenticated)."""
    if not p.can_write:
        raise HTTPException(status_code=403, detail="your role cannot change data")
    await _check_csrf_on_write(request, p)
    return p


async def admin(request: Request, p: Principal = Depends(current_principal)) -> Principal:
    if not p.is_admin:
        raise HTTPException(status_code=403, detail="administrators only")
    await _check_csrf_on_write(request, p)
    return p


# --- anonymous forms (login, patient link): double-submit CSRF tokens -------------------------------------------------


def check_double_submit(cookie: str | None, supplied: str | None) -> None:
    """Anonymous forms (login, patient link): the form's token must equal the one in the SameSite=Strict cookie."""
    if not cookie or not supplied or not hmac.compare_digest(cookie.encode(), supplied.encode()):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token")


async def csrf_checked(request: Request, p: Principal = Depends(current_principal)) -> Principal:
    """Any role; unsafe methods still need the CSRF token when authenticated by cookie."""
    if request.method not in SAFE_METHODS:
        check_csrf(p, request.headers.get("x-csrf-token"))
    return p


# --- guessing secret links (patient links, password-reset links) -----------------------------------------------------


class TokenGuesses:
    """Per-address throttle on links whose token matched nothing: `check()` before the lookup (429 once blocked),
    `miss()` after a token that matched nothing (counts, with back-off; commits)."""

    def __init__(self, request: Request, s: Session, kind: str) -> None:
        self.request, self.s = request, s
        self.key = f"{kind}-guess:{client_ip(request) or '-'}"

    def check(self) -> None:
        verdict = throttle.blocked(self.s, self.key, settings_of(self.request).now())
        if not verdict.allowed:
            raise HTTPException(
                status_code=429,
                detail="Too many links that do not work were tried from here. Try again later.",
                headers={"Retry-After": str(verdict.retry_seconds)},
            )

    def miss(self) -> None:
        settings = settings_of(self.request)
        throttle.failed(self.s, {self.key: settings.link_guess}, settings.now())
