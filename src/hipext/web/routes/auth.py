"""Signing in and out (the login form uses a double-submit CSRF cookie: there is no session yet)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hipext.store import repo
from hipext.store.passwords import DUMMY_HASH, verify_password
from hipext.web.deps import AuditDep, CurrentUser, FormDep, SessionDep
from hipext.web.rendering import render
from hipext.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    check_double_submit,
    client_ip,
    end_session,
    start_session,
)

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/patients", status_code=303)


@router.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


def _login_page(request: Request, error: str | None = None, status: int = 200, username: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"login_csrf": token, "error": error, "username": username}, status=status)
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        max_age=3600,
    )
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


def _anonymous_audit(db: SessionDep, request: Request, action: str, username: str, **kw: object) -> None:
    repo.audit(
        db,
        action=action,
        actor=f"login:{username[:100]}",
        ip=client_ip(request),
        outcome="denied",
        now=request.app.state.settings.now(),
        **kw,  # type: ignore[arg-type]
    )
    db.commit()


@router.post("/login")
def login(request: Request, db: SessionDep, form: FormDep) -> Response:
    # A plain def: checking the password hash is CPU work, kept off the event loop.
    check_double_submit(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token") or "")
    username = (form.get("username") or "").strip()
    password = form.get("password") or ""
    settings = request.app.state.settings
    now = settings.now()
    failures = repo.login_failures_since(db, username, now - settings.login_window) if username else 0
    if failures >= settings.login_max_failures:
        _anonymous_audit(db, request, "auth.login_throttled", username, clinic_id=None)
        return _login_page(request, "Too many failed attempts. Try again in a few minutes.", 429, username)
    user = repo.user_by_username(db, username) if username else None
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password) and bool(user and user.active)
    if not ok or user is None:
        _anonymous_audit(
            db,
            request,
            "auth.login_failed",
            username,
            clinic_id=user.clinic_id if user else None,
            user_id=user.id if user else None,
        )
        return _login_page(request, "The username or password is not correct.", 400, username)
    token = start_session(db, user, now, old_token=request.cookies.get(SESSION_COOKIE))
    repo.audit(
        db,
        action="auth.login",
        actor=f"user:{user.username}",
        clinic_id=user.clinic_id,
        user_id=user.id,
        ip=client_ip(request),
        now=now,
    )
    db.commit()
    resp = RedirectResponse("/patients", status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
def logout(request: Request, p: CurrentUser, db: SessionDep, audit: AuditDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    end_session(db, request.cookies.get(SESSION_COOKIE))
    audit("auth.logout")
    db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp
