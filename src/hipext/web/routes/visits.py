"""Visits: the new-visit form (history, screening, measurements, response to the program) and the visit record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext import evidence
from hipext.care import data as care_data
from hipext.store import repo
from hipext.store.models import Patient, Visit
from hipext.web import confirm, forms, home_logs, program_view, response_form, services, visit_checks, visit_form
from hipext.web.deps import (
    AuditDep,
    CurrentUser,
    FormDep,
    PatientDep,
    RawFormDep,
    SessionDep,
    WriterUser,
    evaluate_saved,
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
    v["history.growth_plates"] = history.get("growth_plates", "unknown")
    for k, x in (history.get("pregnancy") or {}).items():
        if x is not None:
            v[f"history.pregnancy.{k}"] = ("yes" if x else "no") if isinstance(x, bool) else str(x)
    for k, ans in (history.get("red_flags") or {}).items():
        v[f"history.red_flags.{k}"] = "yes" if ans else "no"
    return v


def _visit_ctx(
    request: Request,
    p: Principal,
    db: Session,
    row: Patient,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    problems: list[dict] | None = None,
    amend: Visit | None = None,
) -> dict[str, Any]:
    if amend is None:  # a new visit asks about each exercise of the program as it stands
        rows = [{"id": e.id, "name": e.name, "home": e.home}
                for e in program_view.current(evaluation_of(request, db, row).model)]
    else:  # an amended visit keeps the exercises it recorded responses for
        library = care_data.exercises()
        rows = [
            {"id": r["exercise"], "name": library[r["exercise"]].name if r["exercise"] in library else r["exercise"]}
            for r in amend.data_json.get("exercise_responses") or []
        ]
    ctx = patient_form_ctx(values, errors)
    ctx.update(
        {
            "patient": row,
            "tests": visit_form.measurement_forms(),
            "observations": forms.OBSERVATIONS,
            "force_units": visit_form.FORCE_UNITS,
            "response_rows": rows,
            "response_columns": response_form.COLUMNS,
            "vitals": visit_checks.VITALS,
            "activity_checks": visit_checks.activity_checks(),
            "check_answers": visit_checks.CHECK_ANSWERS,
            "problems": problems or [],
            "logs_summary": None,
            "amend": amend,
        }
    )
    return ctx


def _posted_visit(raw: Any) -> tuple[dict[str, str], visit_form.VisitBuild]:
    form = {k: str(v) for k, v in raw.items()}
    response_ids = []
    for k in range(50):
        ex = form.get(f"er.{k}.exercise")
        if ex is None:
            break
        response_ids.append(ex)
    return form, visit_form.visit_from_form(raw, response_ids)


def _refused(
    request: Request,
    p: Principal,
    db: Session,
    row: Patient,
    raw: Any,
    built: visit_form.VisitBuild,
    problems: list[dict[str, Any]],
    amend: Visit | None = None,
    warnings: list[dict[str, Any]] | None = None,
) -> Response:
    values: dict[str, Any] = {k: str(v) for k, v in raw.items() if k not in (confirm.FIELD, confirm.TOKEN)}
    values["visit.observations"] = raw.getlist("visit.observations")
    errors = forms.field_errors(problems, built.field_of)
    for pr in problems:
        if pr["path"] == "reason":
            errors["reason"] = [f"expected {pr['expected']}"]
    visit_form.label_problems(problems, built.field_of)
    ctx = _visit_ctx(request, p, db, row, values, errors, problems, amend)
    if warnings:  # nothing is wrong, but some values are unusual: shown at their fields, to be confirmed
        checks = forms.field_errors(visit_form.label_problems(warnings, built.field_of), built.field_of)
        ctx |= confirm.context(warnings, checks)
        ctx["errors"] = {k: [f"please check: {m}" for m in ms] for k, ms in checks.items()}
    return render(request, "visit_new.html", ctx, p, status=422)


@router.get("/patients/{pid}/visits/new", response_class=HTMLResponse)
def visit_new(request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep) -> Response:
    values: dict[str, Any] = _history_values(row.history_json)
    values["visit.date"] = today(request).isoformat()
    values["visit.force_unit"] = (
        visit_form.visit_values(row.active_visits[-1].data_json)["visit.force_unit"] if (row.active_visits) else "N"
    )
    values |= visit_form.remembered_lever_arms([v.data_json for v in row.active_visits])
    # Questionnaires the patient completed through their link since the last visit land in this visit's form.
    since = row.active_visits[-1].created_at if row.active_visits else None
    completed = {q.test: q for q in repo.questionnaire_responses(db, p.clinic_id, row.id, since)}  # latest wins
    for q in completed.values():
        values |= {
            k: v
            for k, v in visit_form.visit_values({"measurements": [q.measurement_json]}).items()
            if k.startswith("m.")
        }
    last = row.active_visits[-1].date if row.active_visits else None
    summary = home_logs.since(repo.session_logs(db, p.clinic_id, row.id), last)
    ctx = _visit_ctx(request, p, db, row, values)
    # Each row is prefilled from what the patient logged for that exercise; a rating given for a whole session
    # belongs to no single exercise and is shown above the table, never copied into a row.
    values |= response_form.from_home_logs(summary.get("exercises", {}), ctx["response_rows"])
    for k, row_ex in enumerate(ctx["response_rows"]):
        if row_ex.get("home") and f"er.{k}.sessions_done" not in values and summary.get("sessions_done") is not None:
            values[f"er.{k}.sessions_done"] = f"{summary['sessions_done']:g}"  # a home session covers each exercise
        values[f"er.{k}.completed"] = "on"
    ctx["logs_summary"] = summary
    ctx["from_patient"] = sorted(completed.values(), key=lambda q: q.submitted_at)
    audit("patient.view", row.id, detail="new visit form")
    db.commit()
    return render(request, "visit_new.html", ctx, p)


@router.post("/patients/{pid}/visits/new")
def visit_create(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, raw: RawFormDep
) -> Response:
    form, built = _posted_visit(raw)
    history = forms.history_from_form(form)
    problems = visit_form.visit_problems(row.patient_json, history, built.visit)
    if problems:
        # The attempt is on record; nothing of it is stored.
        audit("visit.create", row.id, detail=f"{len(problems)} input problems", outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, problems)
    confirmed = confirm.warnings_of(
        {"hipext_case": 1, "patient": row.patient_json, "history": history, "visits": [built.visit]}
    )
    if not confirm.confirmed(raw, confirmed):
        audit("visit.create", row.id, detail=f"{len(confirmed)} unusual values shown to confirm", outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, [], warnings=confirmed)
    now = request.app.state.settings.now()
    try:  # checked again against the whole stored record, which the form's own check does not see
        visit, changed = services.add_visit(db, row, built.visit, user_id=p.user_id, now=now, history=history)
    except services.InputProblems as exc:
        audit("visit.create", row.id, detail=f"{len(exc.problems)} input problems", outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, exc.problems)
    audit(
        "visit.create",
        row.id,
        detail=f"visit {visit.date}, {len(visit.data_json.get('measurements', []))} measurements"
        + (", history changed (new version kept)" if changed else ""),
    )
    if confirmed:
        labelled = visit_form.label_problems(confirmed, built.field_of)
        audit("values.confirmed", row.id, detail=confirm.audit_detail(labelled))
    db.commit()
    evaluate_saved(request, db, row)
    return RedirectResponse(f"/patients/{row.id}/evaluation", status_code=303)


def _visit_of(row: Patient, vid: int) -> Visit:
    visit = next((v for v in row.visits if v.id == vid), None)
    if visit is None:
        raise HTTPException(status_code=404, detail="not found")
    return visit


@router.get("/patients/{pid}/visits/{vid}", response_class=HTMLResponse)
def visit_view(
    vid: int, request: Request, row: PatientDep, p: CurrentUser, db: SessionDep, audit: AuditDep
) -> Response:
    visit = _visit_of(row, vid)
    audit.view("visit.view", row.id, detail=f"visit {visit.date}")
    db.commit()
    names = {pr.id: pr.name for pr in evidence.load().protocols.values()}
    versions = [v for v in repo.visit_versions(db, p.clinic_id, row.id) if v.visit_id == visit.id]
    ctx = {"patient": row, "visit": visit, "d": visit.data_json, "names": names, "versions": versions}
    return render(request, "visit.html", ctx, p)


@router.get("/patients/{pid}/visits/{vid}/amend", response_class=HTMLResponse)
def visit_amend_form(
    vid: int, request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep
) -> Response:
    visit = _visit_of(row, vid)
    audit("visit.view", row.id, detail=f"visit {visit.date}, amend form")
    db.commit()
    ctx = _visit_ctx(request, p, db, row, visit_form.visit_values(visit.data_json), amend=visit)
    return render(request, "visit_new.html", ctx, p)


@router.post("/patients/{pid}/visits/{vid}/amend")
def visit_amend(
    vid: int, request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, raw: RawFormDep
) -> Response:
    """Correct a recorded visit: the reason is required, and the earlier version stays on record."""
    visit = _visit_of(row, vid)
    form, built = _posted_visit(raw)
    problems = visit_form.visit_problems(row.patient_json, row.history_json, built.visit)
    problems += services.reason_problems(form.get("reason"))
    if problems:
        audit("visit.amend", row.id, detail=f"visit {visit.date}: {len(problems)} input problems", outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, problems, amend=visit)
    data = {"hipext_case": 1, "patient": row.patient_json, "history": row.history_json, "visits": [built.visit]}
    confirmed = confirm.warnings_of(data)
    if not confirm.confirmed(raw, confirmed):
        audit("visit.amend", row.id, detail=f"{len(confirmed)} unusual values shown to confirm", outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, [], amend=visit, warnings=confirmed)
    before = visit.date
    try:
        changed = services.amend_visit(db, row, visit, built.visit, reason=form["reason"].strip(),
                                       user_id=p.user_id, now=request.app.state.settings.now())
    except services.InputProblems as exc:
        audit("visit.amend", row.id, detail=f"visit {visit.date}: {len(exc.problems)} input problems",
              outcome="rejected")
        db.commit()
        return _refused(request, p, db, row, raw, built, exc.problems, amend=visit)
    if changed:
        audit("visit.amend", row.id, detail=f"visit {before} -> {visit.date}: {form['reason'].strip()[:200]}")
        if confirmed:
            labelled = visit_form.label_problems(confirmed, built.field_of)
            audit("values.confirmed", row.id, detail=confirm.audit_detail(labelled))
    db.commit()
    if changed:
        evaluate_saved(request, db, row)
    return RedirectResponse(f"/patients/{row.id}/visits/{visit.id}", status_code=303)


@router.post("/patients/{pid}/visits/{vid}/void")
def visit_void(
    vid: int, request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, form: FormDep
) -> Response:
    """An entered-in-error visit is voided: kept and shown, but no longer part of the case or its evaluation."""
    visit = _visit_of(row, vid)
    problems = services.reason_problems(form.get("reason"))
    if visit.voided_at is not None:
        problems.append({"path": "visit", "value": str(visit.date), "expected": "a visit that is not voided yet"})
    if problems:
        audit("visit.void", row.id, detail=f"visit {visit.date}: refused", outcome="rejected")
        db.commit()
        names = {pr.id: pr.name for pr in evidence.load().protocols.values()}
        versions = [v for v in repo.visit_versions(db, p.clinic_id, row.id) if v.visit_id == visit.id]
        ctx = {"patient": row, "visit": visit, "d": visit.data_json, "names": names, "versions": versions}
        ctx |= {"errors": {"reason": [f"expected {pr['expected']}" for pr in problems]}}
        return render(request, "visit.html", ctx, p, status=422)
    reason = (form.get("reason") or "").strip()
    repo.void_visit(db, row, visit, reason=reason, user_id=p.user_id, now=request.app.state.settings.now())
    audit("visit.void", row.id, detail=f"visit {visit.date}: {reason[:200]}")
    db.commit()
    evaluate_saved(request, db, row)
    return RedirectResponse(f"/patients/{row.id}", status_code=303)
