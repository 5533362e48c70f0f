"""Visits: the new-visit form (history, screening, measurements, response to the program) and the visit record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext import evidence
from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import forms, services
from hipext.web.deps import (
    AuditDep,
    CurrentUser,
    PatientDep,
    RawFormDep,
    SessionDep,
    WriterUser,
    evaluation_of,
    today,
)
from hipext.web.rendering import render
from hipext.web.routes.patients import patient_form_ctx
from hipext.web.security import Principal

router = APIRouter(include_in_schema=False)


def _history_values(history: dict[str, Any]) -> dict[str, str]:
    v: dict[str, str] = {"history.involved_side": history.get("involved_side", "none")}
    for k in ("presentation", "conditions", "comorbidities", "medications"):
        v[f"history.{k}"] = ", ".join(history.get(k) or [])
    for k, x in (history.get("onset") or {}).items():
        v[f"history.onset.{k}"] = str(x or "")
    surgery = history.get("surgery") or {}
    for k in ("procedure", "side", "date", "restrictions_weeks"):
        if surgery.get(k) is not None:
            v[f"history.surgery.{k}"] = str(surgery[k])
    for i, r in enumerate(surgery.get("restrictions") or []):
        for k, x in r.items():
            if x is not None:
                v[f"history.surgery.restrictions[{i}].{k}"] = str(x)
    for k, ans in (history.get("red_flags") or {}).items():
        v[f"history.red_flags.{k}"] = "yes" if ans else "no"
    return v


def _label_problems(problems: list[dict[str, Any]], field_of: dict[str, str]) -> None:
    """Name each problem by the form field a clinician sees (the case path stays in the list too)."""
    labels = forms.field_labels()
    for pr in problems:
        one = forms.field_errors([pr], field_of)
        target = next(iter(one), "")
        pr["label"] = labels.get(target) or (
            target.replace("history.", "History: ").replace("_", " ") if target else None
        )


def _visit_ctx(
    request: Request,
    p: Principal,
    db: Session,
    row: Patient,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    problems: list[dict] | None = None,
) -> dict[str, Any]:
    view = evaluation_of(request, row)
    _program, exercises = services.effective_program(view.data, repo.overrides(db, p.clinic_id, row.id))
    ctx = patient_form_ctx(values, errors)
    ctx.update(
        {
            "patient": row,
            "tests": forms.measurement_forms(),
            "observations": forms.OBSERVATIONS,
            "response_rows": [e for e in exercises if not e["removed"]],
            "problems": problems or [],
            "logs_summary": None,
        }
    )
    return ctx


@router.get("/patients/{pid}/visits/new", response_class=HTMLResponse)
def visit_form(request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep) -> Response:
    values: dict[str, Any] = _history_values(row.history_json)
    values["visit.date"] = today(request).isoformat()
    last = row.visits[-1].date if row.visits else None
    summary = services.responses_from_logs(repo.session_logs(db, p.clinic_id, row.id), last)
    ctx = _visit_ctx(request, p, db, row, values)
    for k, row_ex in enumerate(ctx["response_rows"]):
        # A home session covers every home exercise, so its count applies to each; pain logged for a whole
        # session belongs to no single exercise and is shown above the table, never copied into a row.
        home = row_ex["exercise"].get("supervision", "home") == "home"
        if home and summary.get("sessions_done") is not None:
            values[f"er.{k}.sessions_done"] = f"{summary['sessions_done']:g}"
        values[f"er.{k}.completed"] = "on"
    ctx["logs_summary"] = summary
    audit("patient.view", row.id, detail="new visit form")
    db.commit()
    return render(request, "visit_new.html", ctx, p)


@router.post("/patients/{pid}/visits/new")
def visit_create(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, raw: RawFormDep
) -> Response:
    form = {k: str(v) for k, v in raw.items()}
    response_ids = []
    for k in range(50):
        ex = form.get(f"er.{k}.exercise")
        if ex is None:
            break
        response_ids.append(ex)
    history = forms.history_from_form(form)
    built = forms.visit_from_form(raw, response_ids)
    problems = forms.visit_problems(row.patient_json, history, built.visit)
    if problems:
        values: dict[str, Any] = dict(form)
        values["visit.observations"] = raw.getlist("visit.observations")
        errors = forms.field_errors(problems, built.field_of)
        _label_problems(problems, built.field_of)
        ctx = _visit_ctx(request, p, db, row, values, errors, problems)
        # The attempt is on record; nothing of it is stored.
        audit("visit.create", row.id, detail=f"{len(problems)} input problems", outcome="rejected")
        db.commit()
        return render(request, "visit_new.html", ctx, p, status=422)
    now = request.app.state.settings.now()
    visit, changed = services.add_visit(db, row, built.visit, user_id=p.user_id, now=now, history=history)
    audit(
        "visit.create",
        row.id,
        detail=f"visit {visit.date}, {len(visit.data_json.get('measurements', []))} measurements"
        + (", history changed (new version kept)" if changed else ""),
    )
    db.commit()
    return RedirectResponse(f"/patients/{row.id}/evaluation", status_code=303)


@router.get("/patients/{pid}/visits/{vid}", response_class=HTMLResponse)
def visit_view(
    vid: int, request: Request, p: CurrentUser, row: PatientDep, db: SessionDep, audit: AuditDep
) -> Response:
    visit = next((v for v in row.visits if v.id == vid), None)
    if visit is None:
        raise HTTPException(status_code=404, detail="not found")
    audit("visit.view", row.id, detail=f"visit {visit.date}")
    db.commit()
    names = {pr.id: pr.name for pr in evidence.load().protocols.values()}
    return render(request, "visit.html", {"patient": row, "visit": visit, "d": visit.data_json, "names": names}, p)
