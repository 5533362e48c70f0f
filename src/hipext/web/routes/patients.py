"""Patients: the searchable list, the new-patient form and the patient's page (timeline, program, home sessions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext import evidence
from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride
from hipext.web import charts, confirm, forms, home_logs, program_view, questionnaire_offer, services, visit_form
from hipext.web.deps import AuditDep, CurrentUser, FormDep, PatientDep, SessionDep, WriterUser, evaluation_of
from hipext.web.rendering import render
from hipext.web.security import Principal

router = APIRouter(include_in_schema=False)


@router.get("/patients", response_class=HTMLResponse)
def patient_list(request: Request, p: CurrentUser, db: SessionDep, audit: AuditDep, q: str | None = None) -> Response:
    rows = repo.list_patients(db, p.clinic_id, q)
    audit("patient.list", detail=f"search, {len(rows)} shown" if q else f"{len(rows)} shown")
    db.commit()
    return render(request, "patients.html", {"patients": rows, "q": q or ""}, p)


def patient_form_ctx(values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None) -> dict:
    """What the patient and history fields need (shared with the visit form, which repeats the history)."""
    return {
        "values": values or {},
        "errors": errors or {},
        "activity_levels": forms.ACTIVITY_LEVELS,
        "involved_sides": forms.INVOLVED_SIDES,
        "restriction_kinds": [(k, forms.RESTRICTION_LABELS.get(k, k)) for k in forms.RESTRICTION_KINDS],
        "residences": forms.RESIDENCES,
        "growth_plates": forms.GROWTH_PLATES,
        "deliveries": forms.DELIVERIES,
        "screening": forms.screening_questions(),
        "n_common": len(forms.COMMON_QUESTIONS),
        "condition_terms": forms.condition_terms(),
    }


@router.get("/patients/new", response_class=HTMLResponse)
def patient_new_form(request: Request, p: WriterUser) -> Response:
    values = {"patient.activity_level": "recreational", "patient.mass_unit": "kg", "patient.height_unit": "cm"}
    return render(request, "patient_new.html", patient_form_ctx(values), p)


def _patient_warnings(form: dict[str, str], data: dict[str, Any], prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Unusual values in the parts of the case this form edits (`prefixes`), unless the clinician confirmed them."""
    found = [w for w in confirm.warnings_of(data) if w["path"].startswith(prefixes)]
    return [] if confirm.confirmed(form, found) else found


def _with_warnings(ctx: dict[str, Any], warnings: list[dict[str, Any]]) -> dict[str, Any]:
    checks = forms.field_errors(visit_form.label_problems(warnings))
    return ctx | confirm.context(warnings, checks) | {
        "errors": {k: [f"please check: {m}" for m in ms] for k, ms in checks.items()},
        "values": {k: v for k, v in ctx["values"].items() if k not in (confirm.FIELD, confirm.TOKEN)},
    }


@router.post("/patients/new")
def patient_create(request: Request, p: WriterUser, db: SessionDep, audit: AuditDep, form: FormDep) -> Response:
    now = request.app.state.settings.now()
    patient, history = forms.patient_from_form(form), forms.history_from_form(form)
    try:
        data = {"hipext_case": 1, "patient": services.with_age(patient, now.date()), "history": history}
        warnings = _patient_warnings(form, data, ("patient", "history"))
        if warnings:
            audit("patient.create", detail=f"{len(warnings)} unusual values shown to confirm", outcome="rejected")
            db.commit()
            return render(request, "patient_new.html", _with_warnings(patient_form_ctx(form), warnings), p, status=422)
        row = services.create_patient(db, p.clinic_id, patient, history, user_id=p.user_id, now=now)
    except services.InputProblems as exc:
        problems = visit_form.label_problems(exc.problems)
        ctx = patient_form_ctx(form, forms.field_errors(problems)) | {"problems": problems}
        return render(request, "patient_new.html", ctx, p, status=422)
    audit("patient.create", row.id)
    confirmed = [w for w in confirm.warnings_of(repo.case_data(row)) if w["path"].startswith(("patient", "history"))]
    if confirmed:
        audit("values.confirmed", row.id, detail=confirm.audit_detail(visit_form.label_problems(confirmed)))
    db.commit()
    return RedirectResponse(f"/patients/{row.id}", status_code=303)


def patient_page(request: Request, p: Principal, db: Session, row: Patient, **extra: Any) -> Response:
    view = evaluation_of(request, db, row)
    ovs = repo.program_edits(db, row)
    logs = repo.session_logs(db, p.clinic_id, row.id)
    links = repo.links(db, p.clinic_id, row.id)
    now = request.app.state.settings.now()
    ctx = {
        "patient": row,
        "visits": list(reversed(row.active_visits)),
        "timeline": _timeline(
            row,
            ovs,
            logs,
            repo.history_versions(db, p.clinic_id, row.id),
            repo.visit_versions(db, p.clinic_id, row.id) + repo.patient_versions(db, p.clinic_id, row.id),
        ),
        "links": links,
        "link_questionnaires": questionnaire_offer.questionnaires(),
        "link_suggested": questionnaire_offer.suggested(row, links),
        "now": now,
        "logs": logs[-20:],
        "pain_chart": charts.pain_chart(logs),
        "adherence": home_logs.adherence(logs, now.date(), program_view.planned_per_week(view.model)),
        "evaluation": view.model,
        "history": row.history_json,
    }
    ctx.update(extra)
    return render(request, "patient.html", ctx, p)


def _timeline(
    row: Patient, ovs: list[ProgramOverride], logs: list[Any], versions: list[Any], corrections: list[Any]
) -> list[dict[str, Any]]:
    """The episode as one list, newest first: visits (voided ones marked), corrections with their reasons, history
    versions, program changes and home sessions by week."""
    names = {p.id: p.name for p in evidence.load().protocols.values()}
    items: list[dict[str, Any]] = []
    for v in row.visits:
        d = v.data_json
        tests = sorted({names.get(m["test"], m["test"]) for m in d.get("measurements", [])})
        items.append({"date": v.date, "kind": "visit", "visit": d, "tests": tests, "id": v.id, "row": v})
    for c in corrections:
        if c.reason is not None:  # the first version is the record itself, not a correction
            what = f"visit of {c.date}" if hasattr(c, "visit_id") else "patient details"
            items.append({"date": c.created_at.date(), "kind": "correction", "what": what, "version": c})
    for o in ovs:
        items.append({"date": o.created_at.date(), "kind": "override", "override": o})
    for i, hv in enumerate(versions):
        changed = sorted(
            k
            for k in set(hv.history_json) | set(versions[i - 1].history_json if i else {})
            if not i or hv.history_json.get(k) != versions[i - 1].history_json.get(k)
        )
        items.append(
            {"date": hv.created_at.date(), "kind": "history", "version": hv, "number": i + 1, "changed": changed}
        )
    weeks: dict[dt.date, list[Any]] = {}
    for lg in logs:
        weeks.setdefault(lg.date - dt.timedelta(days=lg.date.weekday()), []).append(lg)
    for start, group in weeks.items():
        pains = [lg.pain_during for lg in group if lg.pain_during is not None]
        items.append(
            {
                "date": max(lg.date for lg in group),
                "kind": "home",
                "week": start,
                "count": len(group),
                "done": sum(1 for lg in group if lg.completed),
                "max_pain": max(pains) if pains else None,
            }
        )
    order = {"visit": 0, "correction": 1, "history": 2, "override": 3, "home": 4}
    return sorted(items, key=lambda x: (x["date"], -order[x["kind"]]), reverse=True)


@router.get("/patients/{pid}", response_class=HTMLResponse)
def patient_view(request: Request, row: PatientDep, p: CurrentUser, db: SessionDep, audit: AuditDep) -> Response:
    audit.view("patient.view", row.id)
    db.commit()
    return patient_page(request, p, db, row)


def _patient_values(patient: dict[str, Any]) -> dict[str, str]:
    v = {f"patient.{k}": str(x) for k, x in patient.items() if not isinstance(x, list)}
    v["patient.goals"] = "\n".join(patient.get("goals") or [])
    return v | {"patient.mass_unit": "kg", "patient.height_unit": "m"}


@router.get("/patients/{pid}/edit", response_class=HTMLResponse)
def patient_edit_form(request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep) -> Response:
    audit("patient.view", row.id, detail="correction form")
    db.commit()
    ctx = patient_form_ctx(_patient_values(row.patient_json)) | {"patient": row}
    return render(request, "patient_edit.html", ctx, p)


@router.post("/patients/{pid}/edit")
def patient_edit(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, form: FormDep
) -> Response:
    """Correct the patient block: the reason is required and the earlier version stays on record."""
    reason = (form.get("reason") or "").strip()
    now = request.app.state.settings.now()
    patient = forms.patient_from_form(form)
    try:
        data = dict(repo.case_data(row), patient=services.with_age(patient, now.date()))
        warnings = _patient_warnings(form, data, ("patient",))
        if warnings and not services.reason_problems(reason):
            shown = f"{len(warnings)} unusual values shown to confirm"
            audit("patient.amend", row.id, detail=shown, outcome="rejected")
            db.commit()
            ctx = _with_warnings(patient_form_ctx(form) | {"patient": row}, warnings)
            return render(request, "patient_edit.html", ctx, p, status=422)
        changed = services.amend_patient(db, row, patient, reason=reason, user_id=p.user_id, now=now)
    except services.InputProblems as exc:
        audit("patient.amend", row.id, detail=f"{len(exc.problems)} input problems", outcome="rejected")
        db.commit()
        errors = forms.field_errors([pr for pr in exc.problems if pr["path"] != "reason"])
        errors |= {"reason": [f"expected {pr['expected']}" for pr in exc.problems if pr["path"] == "reason"]}
        ctx = patient_form_ctx(form, errors) | {"patient": row, "problems": visit_form.label_problems(exc.problems)}
        return render(request, "patient_edit.html", ctx, p, status=422)
    confirmed = [w for w in confirm.warnings_of(repo.case_data(row)) if w["path"].startswith("patient")]
    if changed and confirmed:
        audit("values.confirmed", row.id, detail=confirm.audit_detail(visit_form.label_problems(confirmed)))
    if changed:
        audit("patient.amend", row.id, detail=reason[:200])
    db.commit()
    return RedirectResponse(f"/patients/{row.id}", status_code=303)
