"""Questionnaires the patient completes through their link (LEFS, HOOS, iHOT-12, VISA-H, PSFS): the same items,
answers and validation as the clinician's visit form, stored until the next visit takes them in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext.store import repo
from hipext.store.models import PatientLink, QuestionnaireResponse
from hipext.web import forms, questionnaire_offer, visit_form
from hipext.web.deps import RawFormDep, SessionDep
from hipext.web.routes.home import CSRF_COOKIE, _audit, _link, csrf_token_for
from hipext.web.security import check_double_submit

router = APIRouter(include_in_schema=False)


def _questionnaire(db: Session, link: PatientLink, test: str) -> visit_form.TestForm:
    """A questionnaire this link offers (404 for any other: the patient fills in what their clinician asked for)."""
    row = repo.get_patient(db, link.clinic_id, link.patient_id)
    found = next((t for t in questionnaire_offer.offered(link, row) if t.id == test), None) if row else None
    if found is None:
        raise HTTPException(status_code=404, detail="not found")
    return found


def _page(
    request: Request, token: str, t: visit_form.TestForm, values: dict[str, Any], errors: dict, status: int = 200
) -> Response:
    csrf = csrf_token_for(request)
    ctx = {"user": None, "token": token, "t": t, "values": values, "errors": errors, "csrf": csrf}
    resp = request.app.state.templates.TemplateResponse(request, "questionnaire.html", ctx, status_code=status)
    if csrf != request.cookies.get(CSRF_COOKIE):
        settings = request.app.state.settings
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=settings.secure_cookies, path="/p/")
    return resp


@router.get("/p/{token}/q/{test}", response_class=HTMLResponse)
def questionnaire_form(token: str, test: str, request: Request, db: SessionDep) -> Response:
    link = _link(request, db, token)
    t = _questionnaire(db, link, test)
    _audit(db, request, link, "home.questionnaire_view", t.id)
    db.commit()
    return _page(request, token, t, {}, {})


@router.post("/p/{token}/q/{test}")
def questionnaire_submit(token: str, test: str, request: Request, db: SessionDep, raw: RawFormDep) -> Response:
    link = _link(request, db, token)
    t = _questionnaire(db, link, test)
    check_double_submit(request.cookies.get(CSRF_COOKIE), str(raw.get("csrf_token") or ""))
    mine = {k: v for k, v in raw.items() if k.startswith(f"m.{t.id}.x.")}  # only this questionnaire's answers
    built = visit_form.visit_from_form(mine, [])
    row = repo.get_patient(db, link.clinic_id, link.patient_id)
    if row is None:
        raise HTTPException(status_code=404, detail="not found")
    today = request.app.state.settings.now().date().isoformat()
    visit = {"date": today, "measurements": built.visit.get("measurements", [])}
    problems = visit_form.visit_problems(row.patient_json, row.history_json, visit)
    if not visit["measurements"]:
        problems = [{"path": "visits[0].measurements", "value": None, "expected": "your answers to the questions"}]
    if problems:
        errors = forms.field_errors(problems, built.field_of | {"measurements": f"m.{t.id}.x._group"})
        return _page(request, token, t, {k: str(v) for k, v in mine.items()}, errors, status=422)
    m = visit["measurements"][0]
    db.add(
        QuestionnaireResponse(
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            link_id=link.id,
            test=t.id,
            measurement_json=m,
            submitted_at=request.app.state.settings.now(),
        )
    )
    _audit(db, request, link, "home.questionnaire", t.id)
    db.commit()
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303)
