"""The program: the prescription with the clinician's dose overrides, the override form and the printed handout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import services
from hipext.web.deps import (
    AuditDep,
    CurrentUser,
    EvaluationDep,
    FormDep,
    PatientDep,
    SessionDep,
    WriterUser,
    evaluation_of,
    today,
)
from hipext.web.rendering import render
from hipext.web.security import Principal

router = APIRouter(include_in_schema=False)


def _program_ctx(request: Request, p: Principal, db: Session, row: Patient) -> dict[str, Any]:
    view = evaluation_of(request, row)
    ovs = repo.overrides(db, p.clinic_id, row.id)
    program, exercises = services.effective_program(view.data, ovs)
    fields = sorted({f for e in exercises for f in e["dose"]})
    return {
        "patient": row,
        "ev": view.data,
        "error": view.error,
        "program": program,
        "exercises": exercises,
        "overrides": list(reversed(ovs)),
        "dose_fields": fields,
        "blocked": services.blocked_exercise_ids(view.data),
    }


@router.get("/patients/{pid}/program", response_class=HTMLResponse)
def program_page(request: Request, p: CurrentUser, row: PatientDep, db: SessionDep, audit: AuditDep) -> Response:
    audit("program.view", row.id)
    db.commit()
    return render(request, "program.html", _program_ctx(request, p, db, row), p)


@router.post("/patients/{pid}/program/overrides")
def program_override(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, form: FormDep
) -> Response:
    ctx = _program_ctx(request, p, db, row)
    ex_id = (form.get("exercise_id") or "").strip() or (form.get("exercise_other") or "").strip()
    field = (form.get("field") or "").strip() or (form.get("field_other") or "").strip()
    value = (form.get("new_value") or "").strip()
    reason = (form.get("reason") or "").strip()
    errors: dict[str, list[str]] = {}
    if not ex_id:
        errors.setdefault("exercise_id", []).append("choose an exercise")
    if not field or len(field) > 50 or not field.replace("_", "").isalnum():
        errors.setdefault("field", []).append("choose what to change (letters, digits and _ only)")
    if not value or len(value) > 200:
        errors.setdefault("new_value", []).append("a new value (up to 200 characters)")
    if len(reason) < 3:
        errors.setdefault("reason", []).append("a reason for the change (it is kept with the override)")
    if field == "include" and value not in ("yes", "no"):
        errors.setdefault("new_value", []).append("yes or no to include or remove the exercise")
    if ex_id in ctx["blocked"] and not (field == "include" and value == "no"):
        errors.setdefault("exercise_id", []).append(
            f"{ex_id} was blocked by screening ({ctx['blocked'][ex_id]}); an override cannot bring it back"
        )
    if not ctx["program"]:
        errors.setdefault("exercise_id", []).append("there is no prescribed program to change yet")
    if errors:
        ctx.update({"errors": errors, "values": form})
        audit("program.override", row.id, detail=f"{ex_id}.{field}: refused", outcome="rejected")
        db.commit()
        return render(request, "program.html", ctx, p, status=422)
    current = next((e for e in ctx["exercises"] if e["id"] == ex_id), None)
    old = None if current is None else current["dose"].get(field)
    repo.add_override(
        db,
        row,
        exercise_id=ex_id,
        field=field,
        old_value=None if old is None else str(old),
        new_value=value,
        reason=reason,
        user_id=p.user_id,
        now=request.app.state.settings.now(),
    )
    audit("program.override", row.id, detail=f"{ex_id}.{field}: {old} -> {value}")
    db.commit()
    return RedirectResponse(f"/patients/{row.id}/program", status_code=303)


@router.get("/patients/{pid}/handout", response_class=HTMLResponse)
def handout(
    request: Request, p: CurrentUser, row: PatientDep, view: EvaluationDep, db: SessionDep, audit: AuditDep
) -> Response:
    program, exercises = services.effective_program(view.data, repo.overrides(db, p.clinic_id, row.id))
    audit("handout.print", row.id)
    db.commit()
    ctx = {
        "patient": row,
        "ev": view.data,
        "program": program,
        "exercises": [e for e in exercises if not e["removed"]],
        "error": view.error,
        "today": today(request),
    }
    return render(request, "handout.html", ctx, p)
