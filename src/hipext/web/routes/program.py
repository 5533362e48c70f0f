"""The program: the prescription with the clinician's dose overrides, the override form and the printed handout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext.care.overrides import INCLUDE, editable_fields, parse_value
from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import program_view
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

router = APIRouter(include_in_schema=False)


def _program_ctx(request: Request, db: Session, row: Patient) -> dict[str, Any]:
    view = evaluation_of(request, db, row)
    ev = view.model
    return {
        "patient": row,
        "ev": ev,
        "error": view.error,
        "program": ev.program if ev else None,
        "exercises": program_view.rows(ev),
        "edits": ev.clinician_edits if ev else [],
        "pending": [s for s in ev.clinician_edits if s.state != "applied"] if ev else [],
        "overrides": list(reversed(repo.program_edits(db, row))),
        "dose_fields": editable_fields(),
        "library": program_view.picker(ev),
    }


@router.get("/patients/{pid}/program", response_class=HTMLResponse)
def program_page(request: Request, row: PatientDep, p: CurrentUser, db: SessionDep, audit: AuditDep) -> Response:
    audit.view("program.view", row.id)
    db.commit()
    return render(request, "program.html", _program_ctx(request, db, row), p)


def _override_problems(ctx: dict[str, Any], ex_id: str, field: str, value: str, reason: str) -> dict[str, list[str]]:
    """Every problem of a program edit, named by the field the clinician sees."""
    errors: dict[str, list[str]] = {}
    library = {e["id"]: e for e in ctx["library"]}
    in_program = {e.id for e in ctx["exercises"] if not e.removed}
    if not ctx["program"] or not ctx["program"].exercises:
        errors.setdefault("exercise_id", []).append("there is no prescribed program to change yet")
    elif ex_id not in library and ex_id not in in_program:
        errors.setdefault("exercise_id", []).append("an exercise from the list")
    elif library.get(ex_id, {}).get("blocked") and not (field == INCLUDE and value == "no"):
        errors.setdefault("exercise_id", []).append(
            f"an exercise screening allows ({library[ex_id]['name']}: {library[ex_id]['blocked']})"
        )
    if field == INCLUDE:
        if value not in ("yes", "no"):
            errors.setdefault("new_value", []).append("yes to add the exercise or no to remove it")
    elif field not in ctx["dose_fields"]:
        errors.setdefault("field", []).append("what to change, from the list")
    else:
        _typed, expected = parse_value(field, value)
        if expected:
            errors.setdefault("new_value", []).append(f"{field.replace('_', ' ')}: {expected} (got {value!r})")
        elif ex_id not in in_program:
            errors.setdefault("exercise_id", []).append("an exercise in the program (add it first to set its dose)")
    if len(reason) < 3:
        errors.setdefault("reason", []).append("a reason for the change (it is kept with the override)")
    return errors


@router.post("/patients/{pid}/program/overrides")
def program_override(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, form: FormDep
) -> Response:
    ctx = _program_ctx(request, db, row)
    ex_id = (form.get("exercise_id") or "").strip()
    field = (form.get("field") or "").strip()
    value = (form.get("new_value") or "").strip()
    reason = (form.get("reason") or "").strip()
    errors = _override_problems(ctx, ex_id, field, value, reason)
    if errors:
        ctx.update({"errors": errors, "values": form})
        audit("program.override", row.id, detail=f"{ex_id}.{field}: refused", outcome="rejected")
        db.commit()
        return render(request, "program.html", ctx, p, status=422)
    # The engine's value, so a later change by the engine shows the edit as stale instead of silently dropping it.
    edits = {(s.override.exercise, s.override.field): s for s in ctx["edits"]}
    current = next((e for e in ctx["exercises"] if e.id == ex_id and not e.removed), None)
    engine = (
        edits[(ex_id, field)].engine_value_now
        if (ex_id, field) in edits
        else (None if current is None else current.dose.get(field))
    )
    repo.add_override(
        db,
        row,
        exercise_id=ex_id,
        field=field,
        old_value=None if engine is None else str(engine),
        new_value=value,
        reason=reason,
        user_id=p.user_id,
        now=request.app.state.settings.now(),
    )
    audit("program.override", row.id, detail=f"{ex_id}.{field}: {engine} -> {value}")
    db.commit()
    return RedirectResponse(f"/patients/{row.id}/program", status_code=303)


@router.get("/patients/{pid}/handout", response_class=HTMLResponse)
def handout(
    request: Request, row: PatientDep, p: CurrentUser, view: EvaluationDep, db: SessionDep, audit: AuditDep
) -> Response:
    audit.view("handout.print", row.id)
    db.commit()
    ctx = {
        "patient": row,
        "ev": view.model,
        "program": view.model.program if view.model else None,
        "exercises": program_view.current(view.model),
        "error": view.error,
        "today": today(request),
    }
    return render(request, "handout.html", ctx, p)
