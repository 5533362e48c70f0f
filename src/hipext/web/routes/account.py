"""The signed-in user's own account: sessions and the API token."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select

from hipext.store import repo
from hipext.store.models import User, WebSession
from hipext.web.deps import AuditDep, CurrentUser, FormDep, SessionDep
from hipext.web.rendering import render
from hipext.web.security import check_csrf

router = APIRouter(include_in_schema=False)


def _sessions(db: SessionDep, user_id: int) -> list[WebSession]:
    return list(db.scalars(select(WebSession).where(WebSession.user_id == user_id)))


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, p: CurrentUser, db: SessionDep) -> Response:
    return render(request, "account.html", {"sessions": _sessions(db, p.user_id)}, p)


@router.post("/account/sessions/end-others")
def end_other_sessions(p: CurrentUser, db: SessionDep, audit: AuditDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    current = p.session.id if p.session else ""
    db.execute(delete(WebSession).where(WebSession.user_id == p.user_id, WebSession.id != current))
    audit("auth.end_other_sessions")
    db.commit()
    return RedirectResponse("/account", status_code=303)


@router.post("/account/api-token")
def api_token(request: Request, p: CurrentUser, db: SessionDep, audit: AuditDep, form: FormDep) -> Response:
    check_csrf(p, form.get("csrf_token") or "")
    token = secrets.token_urlsafe(32)
    user = db.get(User, p.user_id)
    assert user is not None
    user.api_token_hash = repo.sha256(token)
    audit("api_token.create")
    db.commit()
    return render(request, "account.html", {"new_token": token, "sessions": _sessions(db, p.user_id)}, p)
