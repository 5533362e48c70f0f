"""Sessions, CSRF, roles, login throttling and the request's database session (FastAPI dependencies)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hipext.store import repo
from hipext.store.models import User, WebSession
from hipext.web.config import Settings

SESSION_COOKIE = "hipext_session"
LOGIN_CSRF_COOKIE = "hipext_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITER_ROLES = frozenset({"admin", "clinician"})


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
    """The request's database session. Async so it costs no thread hop; creating and closing a session does no I/O
    beyond returning a connection to the pool (route functions doing the queries run in the thread pool)."""
    s = request.app.state.sessionmaker()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- sessions -------------------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG


def start_session(s: Session, user: User, now: dt.datetime, old_token: str | None = None) -> str:
    """Create a fresh session (a new id at every login) and end the one the browser came with."""
    if old_token:
        s.execute(delete(WebSession).where(WebSession.id == repo.sha256(old_token)))
    token = new_token()
    s.add(WebSession(id=repo.sha256(token), user_id=user.id, csrf_token=new_token(), created_at=now, last_seen_at=now))
    return token


def end_session(s: Session, token: str | None) -> None:
    if token:
        s.execute(delete(WebSession).where(WebSession.id == repo.sha256(token)))


def _session_principal(request: Request, s: Session) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    settings = settings_of(request)
    now = settings.now()
    found = s.execute(
        select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.id == repo.sha256(token))
    ).first()  # one round trip for the session and its user (with the user's clinic, joined)
    if found is None:
        return None
    ws, user = found
    if now - ws.last_seen_at > settings.idle_timeout or now - ws.created_at > settings.absolute_lifetime:
        s.delete(ws)
        s.commit()
        return None
    if not user.active:
        return None
    if now - ws.last_seen_at > dt.timedelta(seconds=30):  # keep the idle clock without a write per request
        ws.last_seen_at = now
        s.commit()
    return Principal(user=user, session=ws)


def _bearer_principal(request: Request, s: Session) -> Principal | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return None
    user = repo.user_by_api_token(s, auth[7:].strip())
    return Principal(user=user, session=None, via_bearer=True) if user else None


async def optional_principal(request: Request, s: Session = Depends(get_db)) -> Principal | None:
    # One or two primary-key lookups: done on the event loop, cheaper than a hop to the thread pool.
    if request.url.path.startswith("/api") and request.headers.get("authorization"):
        p = _bearer_principal(request, s)
    else:
        p = _session_principal(request, s)
    # End the read transaction: the connection goes back to the pool while the request waits for a worker thread.
    s.commit()
    return p


async def current_principal(request: Request, p: Principal | None = Depends(optional_principal)) -> Principal:
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
