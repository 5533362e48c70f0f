"""Administration of a clinic: its users and its audit log (administrators only)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete

from hipext.store import repo
from hipext.store.models import User, WebSession
from hipext.store.passwords import password_problem
from hipext.web.deps import AdminUser, AuditDep, FormDep, SessionDep
from hipext.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    p: AdminUser,
    db: SessionDep,
    audit: AuditDep,
    who: str = "",
    patient: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
    patient_id: int | None = None,
) -> Response:
    """The clinic's audit log, newest first, 100 a page, filtered by who, patient (server or clinic id), action
    (or its prefix, e.g. `auth.`) and dates (UTC, inclusive)."""
    errors: dict[str, list[str]] = {}
    pid = patient_id
    if patient.strip():
        found = repo.patient_by_external_id(db, p.clinic_id, patient.strip())
        pid = found.id if found else (int(patient) if patient.strip().isdigit() else -1)
    dates: dict[str, dt.datetime | None] = {}
    for name, raw, shift in (("since", since, 0), ("until", until, 1)):
        try:
            day = dt.date.fromisoformat(raw) if raw.strip() else None
            dates[name] = dt.datetime.combine(day + dt.timedelta(days=shift), dt.time(), dt.UTC) if day else None
        except ValueError:
            errors[name] = ["a date as YYYY-MM-DD"]
            dates[name] = None
    events, next_before = repo.audit_search(
        db,
        p.clinic_id,
        who=who.strip() or None,
        patient_id=pid,
        action=action.strip() or None,
        since=dates["since"],
        until=dates["until"],
        before=before,
    )
    filters = {
        "who": who,
        "patient": patient or (str(patient_id) if patient_id else ""),
        "action": action,
        "since": since,
        "until": until,
    }
    audit(
        "audit.view",
        pid if pid and pid > 0 else None,
        detail="; ".join(f"{k}={v}" for k, v in filters.items() if v) or None,
    )
    db.commit()
    query = {k: v for k, v in filters.items() if v}
    next_url = f"/admin/audit?{urlencode({**query, 'before': next_before})}" if next_before is not None else None
    ctx = {
        "events": events,
        "filters": filters,
        "next_url": next_url,
        "first_page": before is None,
        "newest_url": f"/admin/audit?{urlencode(query)}",
        "actions": repo.audit_actions(db, p.clinic_id),
        "errors": errors,
    }
    return render(request, "audit.html", ctx, p, status=422 if errors else 200)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, p: AdminUser, db: SessionDep) -> Response:
    return render(request, "users.html", {"users": repo.clinic_users(db, p.clinic_id)}, p)


@router.post("/admin/users")
def user_create(request: Request, p: AdminUser, db: SessionDep, audit: AuditDep, form: FormDep) -> Response:
    username = (form.get("username") or "").strip()
    role = form.get("role") or ""
    password = form.get("password") or ""
    errors: dict[str, list[str]] = {}
    if not username or len(username) > 100:
        errors["username"] = ["a username (up to 100 characters)"]
    elif repo.user_by_username(db, username):
        errors["username"] = ["a username nobody else uses"]
    if role not in ("admin", "clinician", "read_only"):
        errors["role"] = ["admin, clinician or read_only"]
    problem = password_problem(password)
    if problem:
        errors["password"] = [problem]
    if errors:
        ctx = {
            "users": repo.clinic_users(db, p.clinic_id),
            "errors": errors,
            "values": {"username": username, "role": role},
        }
        return render(request, "users.html", ctx, p, status=422)
    display_name = (form.get("display_name") or username).strip()[:200]
    user = repo.create_user(db, p.user.clinic, username, password, role=role, display_name=display_name)
    audit("user.create", detail=f"{user.username} ({role})")
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{uid}/deactivate")
def user_deactivate(uid: int, p: AdminUser, db: SessionDep, audit: AuditDep) -> Response:
    """Disable an account of the admin's clinic and end all its sessions and its API token."""
    user = db.get(User, uid)
    if user is None or user.clinic_id != p.clinic_id:
        raise HTTPException(status_code=404, detail="not found")
    if user.id == p.user_id:
        raise HTTPException(status_code=400, detail="you cannot deactivate your own account")
    user.active = False
    user.api_token_hash = None
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit("user.deactivate", detail=user.username)
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)
