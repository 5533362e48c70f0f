"""Signing in and out. The login form uses a double-submit CSRF cookie (there is no session yet).

Sign-in policy (SECURITY.md): every attempt is counted before the password is checked, against four throttles at
once (the account from this address, this address, the account from anywhere, everything); the account-wide one
never blocks for more than 30 s, so failures sent from one address cannot keep the owner out from another. The
Argon2 check runs on its own bounded pool (`hashing`), never on the event loop or the shared worker threads. A user
with a second factor then gives a TOTP or recovery code on a second page; an administrator, when the deployment
requires it, must set one up before anything else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hipext.store import repo, second_factor, throttle
from hipext.store.models import User, WebSession
from hipext.web.deps import FormDep, PendingUser, SessionDep
from hipext.web.hashing import Busy
from hipext.web.rendering import render
from hipext.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    anonymous_audit,
    check_csrf,
    check_double_submit,
    client_ip,
    db_step,
    end_session,
    start_session,
)

router = APIRouter(include_in_schema=False)
BAD_LOGIN = "The username or password is not correct."


@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/patients", status_code=303)


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


def _session_cookie(request: Request, resp: Response, token: str) -> Response:
    resp.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.app.state.settings.secure_cookies
    )
    return resp


@dataclass
class _Attempt:
    username: str
    keys: dict[str, throttle.Policy]
    verdict: throttle.Verdict
    user_id: int | None = None
    clinic_id: int | None = None
    password_hash: str | None = None


def _count_attempt(request: Request, db: SessionDep, username: str) -> _Attempt:
    settings = request.app.state.settings
    ip, name = client_ip(request) or "-", username.casefold()[:100]
    keys = {  # in this order: the first and third are the account's own (see _finish)
        f"login-pair:{name}|{ip}": settings.login_pair,
        f"login-ip:{ip}": settings.login_ip,
        f"login-account:{name}": settings.login_account,
        "login-global": settings.login_global,
    }
    user = repo.user_by_username(db, username) if username else None
    attempt = _Attempt(username, keys, throttle.Verdict(True))
    if user is not None:
        attempt.user_id, attempt.clinic_id = user.id, user.clinic_id
        attempt.password_hash = user.password_hash if user.active else None
    attempt.verdict = throttle.attempt(db, keys, settings.now())
    if not attempt.verdict.allowed:
        kind = (attempt.verdict.blocked_key or "").split(":")[0].replace("login-", "")
        anonymous_audit(
            request,
            db,
            action="auth.login_throttled",
            actor=f"login:{username[:100]}",
            clinic_id=attempt.clinic_id,
            user_id=attempt.user_id,
            detail=f"blocked by the {kind} throttle for {attempt.verdict.retry_seconds} s",
        )
        db.commit()
    return attempt


def _give_back(request: Request, db: SessionDep, attempt: _Attempt) -> None:
    throttle.succeeded(db, attempt.keys, reset=set(), now=request.app.state.settings.now())


def _finish(request: Request, db: SessionDep, attempt: _Attempt, ok: bool) -> Response:
    settings = request.app.state.settings
    now = settings.now()
    user = db.get(User, attempt.user_id) if ok and attempt.user_id else None
    if user is None or not user.active:
        anonymous_audit(
            request,
            db,
            action="auth.login_failed",
            actor=f"login:{attempt.username[:100]}",
            clinic_id=attempt.clinic_id,
            user_id=attempt.user_id,
        )
        db.commit()
        return _login_page(request, BAD_LOGIN, 400, attempt.username)
    # The owner got in: their account's counters start over; the address and global ones only get this one back.
    throttle.succeeded(db, attempt.keys, reset=set(list(attempt.keys)[:1] + list(attempt.keys)[2:3]), now=now)
    stage = "full"
    if user.has_totp:
        stage = "totp"
    elif settings.require_admin_totp and user.role == "admin":
        stage = "enrol"
    token = start_session(db, user, now, old_token=request.cookies.get(SESSION_COOKIE), stage=stage)
    repo.audit(
        db,
        action="auth.login" if stage == "full" else "auth.password_ok",
        actor=f"user:{user.username}",
        clinic_id=user.clinic_id,
        user_id=user.id,
        detail=None if stage == "full" else f"second factor {'due' if stage == 'totp' else 'to be set up'}",
        ip=client_ip(request),
        now=now,
    )
    db.commit()
    target = {"full": "/patients", "totp": "/login/totp", "enrol": "/account/totp"}[stage]
    resp = _session_cookie(request, RedirectResponse(target, status_code=303), token)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


def _csrf_failed(request: Request, db: SessionDep, username: str) -> None:
    user = repo.user_by_username(db, username) if username else None
    anonymous_audit(
        request,
        db,
        action="auth.login_csrf_failed",
        actor=f"login:{username[:100]}",
        clinic_id=user.clinic_id if user else None,
        user_id=user.id if user else None,
        detail="sign-in form without its CSRF token (forged or replayed)",
    )
    db.commit()


@router.post("/login")
async def login(request: Request, db: SessionDep, form: FormDep) -> Response:
    # Async: the database steps go to the worker threads, the password check to its own bounded pool.
    username = (form.get("username") or "").strip()
    try:
        check_double_submit(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token") or "")
    except HTTPException:
        await db_step(db, _csrf_failed, request, db, username)
        raise
    attempt = await db_step(db, _count_attempt, request, db, username)
    if not attempt.verdict.allowed:
        resp = _login_page(request, "Too many attempts. Try again in a little while.", 429, username)
        resp.headers["Retry-After"] = str(attempt.verdict.retry_seconds)
        return resp
    try:
        ok = await request.app.state.passwords.verify(attempt.password_hash, form.get("password") or "")
    except Busy:
        await db_step(db, _give_back, request, db, attempt)  # not the user's fault: the attempt is not counted
        raise
    return await db_step(db, _finish, request, db, attempt, ok and attempt.password_hash is not None)


# --- second factor ------------------------------------------------------------------------------------------------


@router.get("/login/totp", response_class=HTMLResponse)
def totp_form(request: Request, p: PendingUser) -> Response:
    if p.session is None or p.session.stage != "totp":
        return RedirectResponse("/patients", status_code=303)
    return render(request, "login_totp.html", {"error": None, "user": None}, p)


@router.post("/login/totp")
def totp_check(request: Request, p: PendingUser, db: SessionDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    ws = db.get(WebSession, p.session.id) if p.session else None
    user = db.get(User, p.user_id)
    if ws is None or ws.stage != "totp" or user is None or not user.has_totp:
        return RedirectResponse("/login", status_code=303)
    settings = request.app.state.settings
    now = settings.now()
    code = (form.get("code") or "").strip()
    how = "totp"
    ok = second_factor.verify_totp(user, code, now)
    if not ok and len(code) > 8:
        ok, how = second_factor.use_recovery_code(db, user, code, now), "recovery code"
    actor = f"user:{user.username}"
    if not ok:
        ws.totp_failures += 1
        too_many = ws.totp_failures >= settings.second_factor_tries
        if too_many:  # start over: the password is needed again (and counted again)
            db.delete(ws)
        repo.audit(
            db,
            action="auth.second_factor_failed",
            actor=actor,
            clinic_id=user.clinic_id,
            user_id=user.id,
            detail="sign-in ended, too many wrong codes" if too_many else None,
            ip=client_ip(request),
            outcome="denied",
            now=now,
        )
        db.commit()
        if too_many:
            resp = RedirectResponse("/login", status_code=303)
            resp.delete_cookie(SESSION_COOKIE)
            return resp
        return render(request, "login_totp.html", {"error": "That code is not correct.", "user": None}, p, status=400)
    token = start_session(db, user, now, old_token=request.cookies.get(SESSION_COOKIE))  # a new id at each step
    repo.audit(
        db,
        action="auth.login",
        actor=actor,
        clinic_id=user.clinic_id,
        user_id=user.id,
        detail=f"with {how}",
        ip=client_ip(request),
        now=now,
    )
    db.commit()
    return _session_cookie(request, RedirectResponse("/patients", status_code=303), token)


@router.post("/logout")
def logout(request: Request, p: PendingUser, db: SessionDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    end_session(db, request.cookies.get(SESSION_COOKIE))
    repo.audit(
        db,
        action="auth.logout",
        actor=p.label,
        clinic_id=p.clinic_id,
        user_id=p.user_id,
        ip=client_ip(request),
        now=request.app.state.settings.now(),
    )
    db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp
