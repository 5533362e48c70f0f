"""Clinician pages (server-rendered). Every patient query is scoped to the user's clinic; every read and write
of patient data is written to the audit log in the same transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hipext import evidence
from hipext.caseio import parse_case
from hipext.core.errors import CaseInputError
from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride, User, WebSession
from hipext.store.passwords import DUMMY_HASH, password_problem, verify_password
from hipext.web import charts, forms, services
from hipext.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    admin,
    check_double_submit,
    client_ip,
    current_principal,
    end_session,
    get_db,
    start_session,
    writer,
)

router = APIRouter(include_in_schema=False)


# --- helpers -----------------------------------------------------------------------------------------------------


def render(request: Request, name: str, ctx: dict[str, Any], p: Principal | None = None, status: int = 200) -> Response:
    base: dict[str, Any] = {
        "user": p.user if p else None,
        "csrf_token": p.csrf_token if p else "",
        "can_write": bool(p and p.can_write),
        "is_admin": bool(p and p.is_admin),
        "errors": {},
        "values": {},
    }
    base.update(ctx)
    return request.app.state.templates.TemplateResponse(request, name, base, status_code=status)


def today(request: Request) -> dt.date:
    return request.app.state.settings.now().date()


def load_patient(db: Session, p: Principal, pid: int) -> Patient:
    row = repo.get_patient(db, p.clinic_id, pid)
    if row is None:
        raise HTTPException(status_code=404, detail="not found")
    return row


def audit(
    db: Session,
    request: Request,
    p: Principal,
    action: str,
    patient_id: int | None = None,
    detail: str | None = None,
    outcome: str = "ok",
) -> None:
    repo.audit(
        db,
        action=action,
        actor=p.label,
        clinic_id=p.clinic_id,
        user_id=p.user.id,
        patient_id=patient_id,
        detail=detail,
        ip=client_ip(request),
        outcome=outcome,
        now=request.app.state.settings.now(),
    )


def evaluation_of(request: Request, row: Patient) -> services.EvaluationView:
    return services.evaluate_data(
        repo.case_data(row),
        today=today(request),
        cache=request.app.state.cache,
        evaluator=request.app.state.settings.evaluator,
    )


def form_dict(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items()}


# --- authentication ---------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/patients", status_code=303)


@router.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


def _login_page(request: Request, error: str | None = None, status: int = 200, username: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"login_csrf": token, "error": error, "username": username}, status=status)
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        max_age=3600,
    )
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request, db: Session = Depends(get_db)) -> Response:
    form = await request.form()
    check_double_submit(request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get("csrf_token") or ""))
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    settings = request.app.state.settings
    now = settings.now()
    failures = repo.login_failures_since(db, username, now - settings.login_window) if username else 0
    if failures >= settings.login_max_failures:
        repo.audit(
            db,
            action="auth.login_throttled",
            actor=f"login:{username[:100]}",
            clinic_id=None,
            ip=client_ip(request),
            outcome="denied",
            now=now,
        )
        db.commit()
        return _login_page(request, "Too many failed attempts. Try again in a few minutes.", 429, username)
    user = repo.user_by_username(db, username) if username else None
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password) and bool(user and user.active)
    if not ok or user is None:
        repo.audit(
            db,
            action="auth.login_failed",
            actor=f"login:{username[:100]}",
            clinic_id=user.clinic_id if user else None,
            user_id=user.id if user else None,
            ip=client_ip(request),
            outcome="denied",
            now=now,
        )
        db.commit()
        return _login_page(request, "The username or password is not correct.", 400, username)
    token = start_session(db, user, now, old_token=request.cookies.get(SESSION_COOKIE))
    repo.audit(
        db,
        action="auth.login",
        actor=f"user:{user.username}",
        clinic_id=user.clinic_id,
        user_id=user.id,
        ip=client_ip(request),
        now=now,
    )
    db.commit()
    resp = RedirectResponse("/patients", status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout")
async def logout(
    request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    form = await request.form()
    from hipext.web.security import check_csrf  # noqa: PLC0415

    check_csrf(p, str(form.get("csrf_token") or ""))
    end_session(db, request.cookies.get(SESSION_COOKIE))
    audit(db, request, p, "auth.logout")
    db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


# --- patients ----------------------------------------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
def patient_list(
    request: Request, q: str | None = None, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    rows = repo.list_patients(db, p.clinic_id, q)
    audit(db, request, p, "patient.list", detail=f"search, {len(rows)} shown" if q else f"{len(rows)} shown")
    db.commit()
    return render(request, "patients.html", {"patients": rows, "q": q or ""}, p)


def _patient_form_ctx(values: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None) -> dict:
    return {
        "values": values or {},
        "errors": errors or {},
        "activity_levels": forms.ACTIVITY_LEVELS,
        "involved_sides": forms.INVOLVED_SIDES,
        "restriction_kinds": forms.RESTRICTION_KINDS,
        "screening": forms.screening_questions(),
        "n_common": len(forms.COMMON_QUESTIONS),
    }


@router.get("/patients/new", response_class=HTMLResponse)
def patient_new_form(request: Request, p: Principal = Depends(writer)) -> Response:
    return render(request, "patient_new.html", _patient_form_ctx({"patient.activity_level": "recreational"}), p)


@router.post("/patients/new")
async def patient_create(request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)) -> Response:
    form = form_dict(await request.form())
    patient, history = forms.patient_from_form(form), forms.history_from_form(form)
    problems: list[dict[str, Any]] = []
    try:
        case = parse_case({"hipext_case": 1, "patient": patient, "history": history, "visits": []})
    except CaseInputError as exc:
        problems = [pr.as_dict() for pr in exc.problems]
    if not problems and repo.patient_by_external_id(db, p.clinic_id, case.patient.id):
        problems.append(
            {"path": "patient.id", "value": case.patient.id, "expected": "an id not used by another patient"}
        )
    if problems:
        return render(
            request,
            "patient_new.html",
            _patient_form_ctx(form, forms.field_errors(problems)) | {"problems": problems},
            p,
            status=422,
        )
    row = repo.create_patient(
        db,
        p.clinic_id,
        case.patient.model_dump(mode="json", exclude_none=True),
        case.history.model_dump(mode="json", exclude_none=True),
        now=request.app.state.settings.now(),
        user_id=p.user_id,
    )
    audit(db, request, p, "patient.create", row.id)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        problems = [{"path": "patient.id", "value": patient.get("id"), "expected": "an id not used by another patient"}]
        return render(
            request,
            "patient_new.html",
            _patient_form_ctx(form, forms.field_errors(problems)) | {"problems": problems},
            p,
            status=422,
        )
    return RedirectResponse(f"/patients/{row.id}", status_code=303)


def _patient_page(request: Request, p: Principal, db: Session, row: Patient, **extra: Any) -> Response:
    view = evaluation_of(request, row)
    program, exercises = services.effective_program(view.data, repo.overrides(db, p.clinic_id, row.id))
    logs = repo.session_logs(db, p.clinic_id, row.id)
    now = request.app.state.settings.now()
    ctx = {
        "patient": row,
        "visits": list(reversed(row.visits)),
        "timeline": _timeline(
            row, repo.overrides(db, p.clinic_id, row.id), logs, repo.history_versions(db, p.clinic_id, row.id)
        ),
        "links": repo.links(db, p.clinic_id, row.id),
        "now": now,
        "logs": logs[-20:],
        "pain_chart": charts.pain_chart(logs),
        "program": program,
        "adherence": services.adherence(logs, now.date(), services.planned_per_week(exercises)),
        "evaluation": view.data,
        "history": row.history_json,
    }
    ctx.update(extra)
    return render(request, "patient.html", ctx, p)


def _timeline(row: Patient, ovs: list[ProgramOverride], logs: list[Any], versions: list[Any]) -> list[dict[str, Any]]:
    """The episode as one list, newest first: visits, history versions, program changes, home sessions by week."""
    names = {p.id: p.name for p in evidence.load().protocols.values()}
    items: list[dict[str, Any]] = []
    for v in row.visits:
        d = v.data_json
        tests = sorted({names.get(m["test"], m["test"]) for m in d.get("measurements", [])})
        items.append({"date": v.date, "kind": "visit", "visit": d, "tests": tests, "id": v.id})
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
    order = {"visit": 0, "history": 1, "override": 2, "home": 3}
    return sorted(items, key=lambda x: (x["date"], -order[x["kind"]]), reverse=True)


@router.get("/patients/{pid}", response_class=HTMLResponse)
def patient_view(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    audit(db, request, p, "patient.view", row.id)
    db.commit()
    return _patient_page(request, p, db, row)


# --- visits -------------------------------------------------------------------------------------------------------


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
    rows = [e for e in exercises if not e["removed"]]
    ctx = _patient_form_ctx(values, errors)
    ctx.update(
        {
            "patient": row,
            "tests": forms.measurement_forms(),
            "observations": forms.OBSERVATIONS,
            "response_rows": rows,
            "problems": problems or [],
            "logs_summary": None,
        }
    )
    return ctx


@router.get("/patients/{pid}/visits/new", response_class=HTMLResponse)
def visit_form(pid: int, request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)) -> Response:
    row = load_patient(db, p, pid)
    values: dict[str, Any] = _history_values(row.history_json)
    values["visit.date"] = today(request).isoformat()
    last = row.visits[-1].date if row.visits else None
    summary = services.responses_from_logs(repo.session_logs(db, p.clinic_id, row.id), last)
    ctx = _visit_ctx(request, p, db, row, values)
    for k in range(len(ctx["response_rows"])):
        for f in ("pain_during", "pain_next_morning", "sessions_done"):
            if summary.get(f) is not None:
                values[f"er.{k}.{f}"] = f"{summary[f]:g}"
        values[f"er.{k}.completed"] = "on"
    ctx["logs_summary"] = summary
    audit(db, request, p, "patient.view", row.id, detail="new visit form")
    db.commit()
    return render(request, "visit_new.html", ctx, p)


@router.post("/patients/{pid}/visits/new")
async def visit_create(
    pid: int, request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    raw = await request.form()
    form = form_dict(raw)
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
        audit(db, request, p, "visit.create", row.id, detail=f"{len(problems)} input problems", outcome="rejected")
        db.commit()
        return render(request, "visit_new.html", ctx, p, status=422)
    case = parse_case({"hipext_case": 1, "patient": row.patient_json, "history": history, "visits": [built.visit]})
    now = request.app.state.settings.now()
    changed = repo.update_patient(
        db,
        row,
        row.patient_json,
        case.history.model_dump(mode="json", exclude_none=True),
        now=now,
        user_id=p.user_id,
    )
    visit = case.visits[0].model_dump(mode="json", exclude_none=True)
    repo.add_visit(db, row, visit, user_id=p.user.id, now=now)
    audit(
        db,
        request,
        p,
        "visit.create",
        row.id,
        detail=f"visit {visit['date']}, {len(visit.get('measurements', []))} measurements"
        + (", history changed (new version kept)" if changed else ""),
    )
    db.commit()
    return RedirectResponse(f"/patients/{row.id}/evaluation", status_code=303)


@router.get("/patients/{pid}/visits/{vid}", response_class=HTMLResponse)
def visit_view(
    pid: int, vid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    visit = next((v for v in row.visits if v.id == vid), None)
    if visit is None:
        raise HTTPException(status_code=404, detail="not found")
    audit(db, request, p, "visit.view", row.id, detail=f"visit {visit.date}")
    db.commit()
    names = {pr.id: pr.name for pr in evidence.load().protocols.values()}
    return render(request, "visit.html", {"patient": row, "visit": visit, "d": visit.data_json, "names": names}, p)


# --- evaluation ------------------------------------------------------------------------------------------------------


@router.get("/patients/{pid}/evaluation", response_class=HTMLResponse)
def evaluation_page(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    ovs = repo.overrides(db, p.clinic_id, row.id)
    audit(db, request, p, "evaluation.view", row.id)
    db.commit()
    day = today(request)
    data = repo.case_data(row)
    key = services.content_key("evaluation", data, day, row.id, row.external_id, [o.id for o in ovs])
    body = request.app.state.fragments.get_or_compute(key, lambda: _evaluation_body(request, row, data, ovs, day))
    return render(request, "evaluation.html", {"patient": row, "body": body}, p)


def _evaluation_body(
    request: Request, row: Patient, data: dict[str, Any], ovs: list[ProgramOverride], day: dt.date
) -> Markup:
    """The evaluation page's content. Pure function of the case, the overrides and the day, so it is cached."""
    state = request.app.state
    view = services.evaluate_data(data, today=day, cache=state.cache, evaluator=state.settings.evaluator)
    ev = view.data or {}
    latest = [r for r in ev.get("results", []) if r.get("date") == ev.get("evaluated_visit")]
    trends = []
    if view.data and len(row.visits) > 1:
        series = services.trend_series(row, today=day, cache=state.cache, evaluator=state.settings.evaluator)
        for (test, side), pts in series.items():
            title = f"{pts[-1].get('name', test)}" + (f" ({side})" if side else "")
            trends.append({"title": title, "svg": charts.trend_chart(title, pts)})
    program, exercises = services.effective_program(view.data, ovs)
    ctx = {
        "patient": row,
        "ev": view.data,
        "error": view.error,
        "problems": view.problems,
        "latest": latest or ev.get("results", []),
        "strength_svg": charts.strength_chart(latest),
        "lsi_svg": charts.lsi_chart(latest),
        "trends": trends,
        "program": program,
        "exercises": exercises,
        "blocked": services.blocked_exercise_ids(view.data),
    }
    return Markup(state.templates.env.get_template("_evaluation_body.html").render(ctx))


# --- program and overrides -----------------------------------------------------------------------------------------


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
def program_page(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    audit(db, request, p, "program.view", row.id)
    db.commit()
    return render(request, "program.html", _program_ctx(request, p, db, row), p)


@router.post("/patients/{pid}/program/overrides")
async def program_override(
    pid: int, request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    form = form_dict(await request.form())
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
        audit(db, request, p, "program.override", row.id, detail=f"{ex_id}.{field}: refused", outcome="rejected")
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
        user_id=p.user.id,
        now=request.app.state.settings.now(),
    )
    audit(db, request, p, "program.override", row.id, detail=f"{ex_id}.{field}: {old} -> {value}")
    db.commit()
    return RedirectResponse(f"/patients/{row.id}/program", status_code=303)


@router.get("/patients/{pid}/handout", response_class=HTMLResponse)
def handout(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    view = evaluation_of(request, row)
    program, exercises = services.effective_program(view.data, repo.overrides(db, p.clinic_id, row.id))
    audit(db, request, p, "handout.print", row.id)
    db.commit()
    return render(
        request,
        "handout.html",
        {
            "patient": row,
            "ev": view.data,
            "program": program,
            "exercises": [e for e in exercises if not e["removed"]],
            "error": view.error,
            "today": today(request),
        },
        p,
    )


# --- patient links -------------------------------------------------------------------------------------------------


@router.post("/patients/{pid}/links")
def link_create(pid: int, request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)) -> Response:
    row = load_patient(db, p, pid)
    token = secrets.token_urlsafe(32)  # 256 bits; only its hash is stored
    settings = request.app.state.settings
    link = repo.create_link(db, row, token, user_id=p.user.id, now=settings.now(), lifetime=settings.link_lifetime)
    audit(db, request, p, "link.create", row.id, detail=f"link {link.id} until {link.expires_at:%Y-%m-%d}")
    db.commit()
    base = settings.base_url or str(request.base_url).rstrip("/")
    return _patient_page(request, p, db, row, new_link_url=f"{base}/p/{token}")


@router.post("/patients/{pid}/links/{lid}/revoke")
def link_revoke(
    pid: int, lid: int, request: Request, p: Principal = Depends(writer), db: Session = Depends(get_db)
) -> Response:
    row = load_patient(db, p, pid)
    link = next((lk for lk in repo.links(db, p.clinic_id, row.id) if lk.id == lid), None)
    if link is None:
        raise HTTPException(status_code=404, detail="not found")
    if link.revoked_at is None:
        link.revoked_at = request.app.state.settings.now()
        audit(db, request, p, "link.revoke", row.id, detail=f"link {link.id}")
        db.commit()
    return RedirectResponse(f"/patients/{row.id}", status_code=303)


# --- administration and account -------------------------------------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, patient_id: int | None = None, p: Principal = Depends(admin), db: Session = Depends(get_db)
) -> Response:
    events = repo.audit_events(db, p.clinic_id, patient_id=patient_id)
    audit(db, request, p, "audit.view", patient_id)
    db.commit()
    return render(request, "audit.html", {"events": events, "patient_id": patient_id}, p)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, p: Principal = Depends(admin), db: Session = Depends(get_db)) -> Response:
    return render(request, "users.html", {"users": repo.clinic_users(db, p.clinic_id)}, p)


@router.post("/admin/users")
async def user_create(request: Request, p: Principal = Depends(admin), db: Session = Depends(get_db)) -> Response:
    form = form_dict(await request.form())
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
        return render(
            request,
            "users.html",
            {
                "users": repo.clinic_users(db, p.clinic_id),
                "errors": errors,
                "values": {"username": username, "role": role},
            },
            p,
            status=422,
        )
    user = repo.create_user(
        db,
        p.user.clinic,
        username,
        password,
        role=role,
        display_name=(form.get("display_name") or username).strip()[:200],
    )
    audit(db, request, p, "user.create", detail=f"{user.username} ({role})")
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{uid}/deactivate")
def user_deactivate(
    uid: int, request: Request, p: Principal = Depends(admin), db: Session = Depends(get_db)
) -> Response:
    """Disable an account of the admin's clinic and end all its sessions and its API token."""
    user = db.get(User, uid)
    if user is None or user.clinic_id != p.clinic_id:
        raise HTTPException(status_code=404, detail="not found")
    if user.id == p.user.id:
        raise HTTPException(status_code=400, detail="you cannot deactivate your own account")
    user.active = False
    user.api_token_hash = None
    db.execute(delete(WebSession).where(WebSession.user_id == user.id))
    audit(db, request, p, "user.deactivate", detail=user.username)
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)) -> Response:
    sessions = list(db.scalars(select(WebSession).where(WebSession.user_id == p.user_id)))
    return render(request, "account.html", {"sessions": sessions}, p)


@router.post("/account/sessions/end-others")
async def end_other_sessions(
    request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    from hipext.web.security import check_csrf  # noqa: PLC0415

    check_csrf(p, str((await request.form()).get("csrf_token") or ""))
    current = p.session.id if p.session else ""
    db.execute(delete(WebSession).where(WebSession.user_id == p.user_id, WebSession.id != current))
    audit(db, request, p, "auth.end_other_sessions")
    db.commit()
    return RedirectResponse("/account", status_code=303)


@router.post("/account/api-token")
async def api_token(
    request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Response:
    from hipext.web.security import check_csrf  # noqa: PLC0415

    check_csrf(p, str((await request.form()).get("csrf_token") or ""))
    token = secrets.token_urlsafe(32)
    user = db.get(User, p.user.id)
    assert user is not None
    user.api_token_hash = repo.sha256(token)
    audit(db, request, p, "api_token.create")
    db.commit()
    sessions = list(db.scalars(select(WebSession).where(WebSession.user_id == p.user_id)))
    return render(request, "account.html", {"new_token": token, "sessions": sessions}, p)


__all__ = ["router", "ProgramOverride"]
