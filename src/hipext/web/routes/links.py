"""The patient's personal link (home program and session log): created and revoked by a clinician."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from hipext.store import repo
from hipext.web import questionnaire_offer
from hipext.web.deps import AuditDep, PatientDep, RawFormDep, SessionDep, WriterUser
from hipext.web.http import absolute_url
from hipext.web.routes.patients import patient_page

router = APIRouter(include_in_schema=False)


@router.post("/patients/{pid}/links")
def link_create(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, raw: RawFormDep
) -> Response:
    token = secrets.token_urlsafe(32)  # 256 bits; only its hash is stored
    settings = request.app.state.settings
    link = repo.create_link(db, row, token, user_id=p.user_id, now=settings.now(), lifetime=settings.link_lifetime)
    link.questionnaires_json = questionnaire_offer.chosen(raw)  # only those the clinician assigned
    assigned = ", ".join(link.questionnaires_json) or "no questionnaires"
    audit("link.create", row.id, detail=f"link {link.id} until {link.expires_at:%Y-%m-%d}; {assigned}")
    db.commit()
    return patient_page(request, p, db, row, new_link_url=absolute_url(request, f"/p/{token}"))


@router.post("/patients/{pid}/links/{lid}/revoke")
def link_revoke(
    lid: int, request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep
) -> Response:
    link = next((lk for lk in repo.links(db, p.clinic_id, row.id) if lk.id == lid), None)
    if link is None:
        raise HTTPException(status_code=404, detail="not found")
    if link.revoked_at is None:
        link.revoked_at = request.app.state.settings.now()
        audit("link.revoke", row.id, detail=f"link {link.id}")
        db.commit()
    return RedirectResponse(f"/patients/{row.id}", status_code=303)
