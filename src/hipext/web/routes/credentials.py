"""Credentials: changing one's password, setting up a second factor (TOTP with recovery codes), and the one-time
password-reset link an administrator makes for a user of their clinic.

Every change asks for the current password again (ASVS 7.5.1) and ends the user's other sessions; a reset cannot get
past a second factor (ASVS 6.4.3); every step is on the audit log.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select

from hipext.store import repo, second_factor, throttle
from hipext.store.models import PasswordReset, RecoveryCode, User, WebSession
from hipext.store.passwords import password_problem
from hipext.web.deps import AdminUser, CurrentUser, FormDep, PendingUser, SessionDep
from hipext.web.http import absolute_url
from hipext.web.rendering import render
from hipext.web.security import (
    SESSION_COOKIE,
    LoginRequired,
    Principal,
    TokenGuesses,
    anonymous_audit,
    check_csrf,
    check_double_submit,
    client_ip,
    db_step,
    start_session,
)

router = APIRouter(include_in_schema=False)
RESET_CSRF_COOKIE = "hipext_reset_csrf"


def _audit(
    db: SessionDep,
    request: Request,
    user: User,
    action: str,
    actor: str,
    detail: str | None = None,
    outcome: str = "ok",
) -> None:
    repo.audit(
        db,
        action=action,
        actor=actor,
        clinic_id=user.clinic_id,
        user_id=user.id,
        detail=detail,
        ip=client_ip(request),
        outcome=outcome,
        now=request.app.state.settings.now(),
    )


def _new_password_errors(user: User, new: str, confirm: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    problem = password_problem(new, username=user.username, context=(user.display_name, user.clinic.name))
    if problem:
        errors["new_password"] = [problem]
    elif new != confirm:
        errors["confirm_password"] = ["the same new password twice"]
    return errors


def _enrolling(p: Principal) -> Principal:
    """Second-factor set-up is for a full session, or for an administrator made to set one up at sign-in; never for
    a sign-in still waiting for its code."""
    if p.session is not None and p.session.stage == "totp":
        raise HTTPException(403, "finish signing in first")
    return p


def _own_row(db: SessionDep, p: Principal) -> User:
    """The signed-in user's row, read in this step. Gone meanwhile (an administrator removed it): signed out."""
    user = db.get(User, p.user_id)
    if user is None:
        raise LoginRequired()
    return user


def _end_sessions(db: SessionDep, user_id: int, keep: str | None = None) -> None:
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep:
        stmt = stmt.where(WebSession.id != keep)
    db.execute(stmt)


async def _current_password_ok(request: Request, db: SessionDep, p: Principal, password: str) -> bool:
    """Re-authentication, throttled like a sign-in of this account from this address."""
    settings = request.app.state.settings
    keys = {f"login-pair:{p.username.casefold()}|{client_ip(request) or '-'}": settings.login_pair}
    verdict = await db_step(db, throttle.attempt, db, keys, settings.now())
    if not verdict.allowed:
        raise HTTPException(
            429, "Too many wrong passwords. Try again later.", headers={"Retry-After": str(verdict.retry_seconds)}
        )
    user = await db_step(db, db.get, User, p.user_id)
    ok = await request.app.state.passwords.verify(user.password_hash if user else None, password)
    if ok:
        await db_step(db, lambda: throttle.succeeded(db, keys, reset=set(keys), now=settings.now()))
    return ok


# --- password change ----------------------------------------------------------------------------------------------


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, p: CurrentUser) -> Response:
    return render(request, "password_change.html", {}, p)


@router.post("/account/password")
async def password_change(request: Request, p: CurrentUser, db: SessionDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    user = await db_step(db, _own_row, db, p)
    errors = _new_password_errors(user, form.get("new_password") or "", form.get("confirm_password") or "")
    if not await _current_password_ok(request, db, p, form.get("current_password") or ""):
        errors["current_password"] = ["your current password"]
    if errors:
        return render(request, "password_change.html", {"errors": errors}, p, status=422)
    new_hash = await request.app.state.passwords.hash(form["new_password"])

    def store() -> None:
        fresh = _own_row(db, p)
        fresh.password_hash = new_hash
        fresh.password_changed_at = request.app.state.settings.now()
        _end_sessions(db, fresh.id, keep=p.session.id if p.session else None)
        _audit(db, request, fresh, "auth.password_change", p.label, "other sessions ended")
        db.commit()

    await db_step(db, store)
    return RedirectResponse("/account?changed=password", status_code=303)


# --- second factor ------------------------------------------------------------------------------------------------


@router.get("/account/totp", response_class=HTMLResponse)
def totp_setup(request: Request, p: PendingUser, db: SessionDep) -> Response:
    _enrolling(p)
    user = _own_row(db, p)
    if user.has_totp:
        return RedirectResponse("/account", status_code=303)
    if not user.totp_secret:  # a pending secret survives a reload of this page
        user.totp_secret = second_factor.new_secret()
        db.commit()
    ctx = {
        "secret": user.totp_secret,
        "uri": second_factor.provisioning_uri(user.totp_secret, user.username),
        "required": p.session is not None and p.session.stage == "enrol",
    }
    return render(request, "totp_setup.html", ctx, p)


@router.post("/account/totp")
async def totp_enable(request: Request, p: PendingUser, db: SessionDep, form: FormDep) -> Response:
    check_csrf(_enrolling(p), form.get("csrf_token") or "")
    password_ok = await _current_password_ok(request, db, p, form.get("password") or "")

    def enable() -> Response:
        user = _own_row(db, p)
        now = request.app.state.settings.now()
        errors: dict[str, list[str]] = {}
        if not password_ok:
            errors["password"] = ["your current password"]
        if not second_factor.verify_totp(user, form.get("code") or "", now):
            errors["code"] = ["the 6-digit code your authenticator app shows now"]
        if errors:
            db.commit()  # keeps a used code's time step, if the code was right and the password was not
            ctx = {
                "secret": user.totp_secret,
                "errors": errors,
                "uri": second_factor.provisioning_uri(user.totp_secret or "", user.username),
                "required": p.session is not None and p.session.stage == "enrol",
            }
            return render(request, "totp_setup.html", ctx, p, status=422)
        user.totp_enabled_at = now
        codes = second_factor.new_recovery_codes(db, user, now)
        _end_sessions(db, user.id, keep=p.session.id if p.session else None)
        _audit(db, request, user, "auth.totp_enabled", p.label, "recovery codes issued; other sessions ended")
        resp = render(request, "recovery_codes.html", {"codes": codes}, p)
        if p.session is not None and p.session.stage != "full":  # the set-up an admin had to do: now signed in
            token = start_session(db, user, now, old_token=request.cookies.get(SESSION_COOKIE))
            resp = render(request, "recovery_codes.html", {"codes": codes, "user": user}, p)
            resp.set_cookie(
                SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.app.state.settings.secure_cookies
            )
        db.commit()
        return resp

    return await db_step(db, enable)


@router.post("/account/totp/disable")
async def totp_disable(request: Request, p: CurrentUser, db: SessionDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    password_ok = await _current_password_ok(request, db, p, form.get("password") or "")

    def disable() -> Response:
        user = _own_row(db, p)
        settings = request.app.state.settings
        if settings.require_admin_totp and user.role == "admin":
            raise HTTPException(403, "administrators must keep a second factor in this deployment")
        code_ok = user.has_totp and second_factor.verify_totp(user, form.get("code") or "", settings.now())
        if not (password_ok and code_ok):
            db.commit()
            raise HTTPException(403, "your current password and a current code are needed to turn this off")
        user.totp_secret, user.totp_enabled_at = None, None
        db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        _audit(db, request, user, "auth.totp_disabled", p.label)
        db.commit()
        return RedirectResponse("/account", status_code=303)

    return await db_step(db, disable)


# --- admin-initiated reset ----------------------------------------------------------------------------------------


@router.post("/admin/users/{uid}/reset")
def reset_link_create(uid: int, request: Request, p: AdminUser, db: SessionDep) -> Response:
    """A one-time link (valid for an hour) that lets the user choose a new password; shown once, stored hashed."""
    user = db.get(User, uid)
    if user is None or user.clinic_id != p.clinic_id or not user.active:
        raise HTTPException(status_code=404, detail="not found")
    settings = request.app.state.settings
    now = settings.now()
    token = secrets.token_urlsafe(32)
    db.add(
        PasswordReset(
            user_id=user.id,
            token_hash=repo.sha256(token),
            created_by=p.user_id,
            created_at=now,
            expires_at=now + settings.reset_lifetime,
        )
    )
    _audit(
        db,
        request,
        user,
        "user.reset_link",
        p.label,
        f"for {user.username}, valid until {now + settings.reset_lifetime:%H:%M} UTC",
    )
    db.commit()
    ctx = {
        "users": repo.clinic_users(db, p.clinic_id),
        "reset_for": user.username,
        "reset_url": absolute_url(request, f"/reset/{token}"),
    }
    return render(request, "users.html", ctx, p)


def _reset(request: Request, db: SessionDep, token: str) -> tuple[PasswordReset, User]:
    """The valid reset of this token; guesses are throttled per address like patient links."""
    now = request.app.state.settings.now()
    guesses = TokenGuesses(request, db, "reset")
    guesses.check()
    reset = db.scalar(select(PasswordReset).where(PasswordReset.token_hash == repo.sha256(token)))
    user = db.get(User, reset.user_id) if reset else None
    if reset and user and user.active and reset.used_at is None and reset.expires_at > now:
        return reset, user
    anonymous_audit(
        request,
        db,
        action="auth.reset_denied",
        actor="reset-link",
        clinic_id=user.clinic_id if user else None,
        user_id=user.id if user else None,
        detail="no such link" if reset is None else "used or expired",
    )
    if reset is None:
        guesses.miss()
    db.commit()
    raise HTTPException(404, "This link is not valid any more. Ask your administrator for a new one.")


def _reset_page(request: Request, user: User, errors: dict | None = None, status: int = 200) -> Response:
    csrf = request.cookies.get(RESET_CSRF_COOKIE) or secrets.token_urlsafe(24)
    ctx = {"reset_user": user, "needs_code": user.has_totp, "csrf": csrf, "errors": errors or {}, "user": None}
    resp = request.app.state.templates.TemplateResponse(request, "password_reset.html", ctx, status_code=status)
    resp.set_cookie(
        RESET_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        path="/reset/",
        secure=request.app.state.settings.secure_cookies,
    )
    return resp


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_form(token: str, request: Request, db: SessionDep) -> Response:
    _reset_row, user = _reset(request, db, token)
    return _reset_page(request, user)


@router.post("/reset/{token}")
async def reset_submit(token: str, request: Request, db: SessionDep, form: FormDep) -> Response:
    check_double_submit(request.cookies.get(RESET_CSRF_COOKIE), form.get("csrf_token"))
    reset, user = await db_step(db, _reset, request, db, token)
    errors = _new_password_errors(user, form.get("new_password") or "", form.get("confirm_password") or "")
    now = request.app.state.settings.now()
    if user.has_totp:  # the link alone does not get past a second factor
        code = form.get("code") or ""
        ok = await db_step(  # committed at once: a recovery code is used up even if the rest fails
            db,
            lambda: (
                second_factor.verify_totp(user, code, now)
                or second_factor.use_recovery_code(db, user, code, now)
            )
        )
        if not ok:
            errors["code"] = ["a current code from your authenticator app, or a recovery code"]
    if errors:
        return _reset_page(request, user, errors, 422)
    new_hash = await request.app.state.passwords.hash(form["new_password"])

    def store() -> None:
        reset.used_at = now
        user.password_hash, user.password_changed_at, user.api_token_hash = new_hash, now, None
        _end_sessions(db, user.id)
        _audit(
            db,
            request,
            user,
            "auth.password_reset",
            f"user:{user.username}",
            "with a one-time link; every session and the API token ended",
        )
        db.commit()

    await db_step(db, store)
    return RedirectResponse("/login?reset=1", status_code=303)
