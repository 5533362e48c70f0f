"""The patient's own page, opened from a per-patient link: home program and session log. No account needed;
the link token (256 bits, stored hashed) is the credential, and it expires and can be revoked."""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hipext.care import data as care_data
from hipext.store import repo
from hipext.store.models import Clinic, PatientLink, SessionLog
from hipext.web import home_logs, program_view, questionnaire_offer
from hipext.web.deps import FormDep, SessionDep, evaluation_of
from hipext.web.security import TokenGuesses, anonymous_audit, check_double_submit, client_ip

router = APIRouter(include_in_schema=False)
CSRF_COOKIE = "hipext_home_csrf"


def _audit(
    db: Session, request: Request, link: PatientLink, action: str, detail: str | None = None, outcome: str = "ok"
) -> None:
    repo.audit(
        db,
        action=action,
        actor=f"patient-link:{link.id}",
        clinic_id=link.clinic_id,
        patient_id=link.patient_id,
        ip=client_ip(request),
        detail=detail,
        outcome=outcome,
        now=request.app.state.settings.now(),
    )


def csrf_token_for(request: Request) -> str:
    """The double-submit token: the one in the browser's cookie, or a new one (the response sets the cookie)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _link(request: Request, db: Session, token: str) -> PatientLink:
    """The valid link of this token. Tokens that match nothing are counted per address (guessing is throttled with
    back-off: 429 once blocked); an expired or revoked link is denied on its clinic's audit log."""
    now = request.app.state.settings.now()
    guesses = TokenGuesses(request, db, "link")
    guesses.check()
    link = repo.link_by_token(db, token)
    if link is not None and link.revoked_at is None and link.expires_at > now:
        return link
    reason = "no such link" if link is None else "revoked" if link.revoked_at else "expired"
    anonymous_audit(
        request,
        db,
        action="link.denied",
        actor=f"patient-link:{link.id}" if link else "patient-link",
        clinic_id=link.clinic_id if link else None,
        patient_id=link.patient_id if link else None,
        detail=reason,
    )
    if link is None:
        guesses.miss()  # commits the audit row too
    db.commit()
    raise HTTPException(status_code=404, detail="This link is not valid. Ask your clinic for a new one.")


def _home_exercises(request: Request, db: Session, link: PatientLink) -> list[str]:
    """The ids of the exercises the patient does at home (the log form asks about each)."""
    row = repo.get_patient(db, link.clinic_id, link.patient_id)
    if row is None:
        return []
    return [e.id for e in program_view.current(evaluation_of(request, db, row).model) if e.home]


def _page(
    request: Request,
    db: Session,
    token: str,
    link: PatientLink,
    errors: dict | None = None,
    values: dict | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    settings = request.app.state.settings
    row = repo.get_patient(db, link.clinic_id, link.patient_id)
    if row is None:
        raise HTTPException(status_code=404, detail="not found")
    view = evaluation_of(request, db, row)
    exercises = program_view.current(view.model)
    logs = repo.session_logs(db, link.clinic_id, row.id)
    csrf = csrf_token_for(request)
    ctx = {
        "user": None,
        "token": token,
        "exercises": [e for e in exercises if e.home],
        "with_therapist": [e for e in exercises if not e.home],
        "ev": view.data,
        "logs": list(reversed(logs[-14:])),
        "errors": errors or {},
        "saved": saved,
        "values": values or {"date": settings.now().date().isoformat()},
        "csrf": csrf,
        "expires_at": link.expires_at,
        "questionnaires": questionnaire_offer.offered(link, row),
        "clinic": db.get(Clinic, link.clinic_id),
        "clinic_contact": settings.clinic_contact,
        "names": {i: e.name for i, e in care_data.exercises().items()},
    }
    resp = request.app.state.templates.TemplateResponse(request, "home.html", ctx, status_code=status)
    if csrf != request.cookies.get(CSRF_COOKIE):
        resp.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=settings.secure_cookies, path="/p/")
    return resp


@router.get("/p/{token}", response_class=HTMLResponse)
def home_program(token: str, request: Request, db: SessionDep) -> Response:
    link = _link(request, db, token)
    _audit(db, request, link, "home.view")
    db.commit()
    return _page(request, db, token, link, saved=request.query_params.get("saved") == "1")


def _alert(request: Request, db: Session, link: PatientLink, background: BackgroundTasks, *,
           during: float | None = None, morning: float | None = None) -> None:
    """Queue an e-mail to the clinic when a logged pain is one the pain model says to act on (sent after the
    response, never on the event loop); audited whether or not mail is configured."""
    from hipext.care.data import pain_model
    from hipext.web import attention, mail

    settings = request.app.state.settings
    stop = float(pain_model()["model"]["acceptable_max"])
    reasons = []
    if during is not None and during > stop:
        reasons.append("pain during a session in the stop zone")
    if morning is not None:
        row = repo.get_patient(db, link.clinic_id, link.patient_id)
        base = attention.baseline_pain(repo.case_data(row)) if row else None
        if base is not None and morning > base:
            reasons.append("next-morning pain above baseline")
    if not reasons:
        return
    _audit(db, request, link, "home.alert", "; ".join(reasons) + ("" if settings.mail else " (no e-mail configured)"))
    if settings.mail is not None:
        clinic = db.get(Clinic, link.clinic_id)
        background.add_task(mail.attention_alert, settings.mail, clinic.name if clinic else "the clinic",
                            settings.base_url or "",
                            "; ".join(reasons))


@router.post("/p/{token}/log")
def log_session(token: str, request: Request, db: SessionDep, form: FormDep, background: BackgroundTasks) -> Response:
    link = _link(request, db, token)
    settings = request.app.state.settings
    check_double_submit(request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
    day_ago = settings.now() - dt.timedelta(days=1)
    if repo.sessions_logged_since(db, link.id, day_ago) >= settings.link_sessions_per_day:
        raise HTTPException(
            status_code=429,
            detail=f"{settings.link_sessions_per_day} sessions have been logged with this link in the last 24 hours, "
            "the most it takes. Try again tomorrow, or tell your clinic.",
            headers={"Retry-After": "3600"},
        )
    errors: dict[str, list[str]] = {}
    today = settings.now().date()
    try:
        day = dt.date.fromisoformat(form.get("date") or "")
        if day > today or (today - day).days > 60:
            errors["date"] = ["a date in the last 60 days"]
    except ValueError:
        errors["date"] = ["a date as YYYY-MM-DD"]
        day = today
    home_ids = _home_exercises(request, db, link)
    entries = home_logs.exercise_entries(form, home_ids, errors)
    # The whole session's rating when the patient gives one (or has no exercises listed), else the worst of the
    # exercises' own: a summary of the session, never an exercise's entry.
    during = home_logs.pain(form.get("pain_during"), "pain_during", errors)
    morning = home_logs.pain(form.get("pain_next_morning"), "pain_next_morning", errors)
    during = during if during is not None else home_logs.worst(entries, "pain_during")
    morning = morning if morning is not None else home_logs.worst(entries, "pain_next_morning")
    if during is None and not any(k.endswith("pain_during") for k in errors):
        where = f"ex.{home_ids[0]}.pain_during" if home_ids else "pain_during"
        what = "the exercises" if home_ids else "the session"
        errors[where] = [f"your pain during {what}, 0 to 10"]
    note = (form.get("note") or "").strip()[:1000] or None
    if errors:
        return _page(request, db, token, link, errors, form, status=422)
    db.add(
        SessionLog(
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            link_id=link.id,
            date=day,
            exercise_id=None,
            completed=any(e["completed"] for e in entries.values()) if entries else form.get("completed") != "no",
            pain_during=during,
            pain_next_morning=morning,
            note=note,
            exercises_json=entries or None,
            created_at=settings.now(),
        )
    )
    _audit(
        db,
        request,
        link,
        "home.log",
        f"session {day}: pain during {during:g}" + (f", next morning {morning:g}" if morning is not None else ""),
    )
    _alert(request, db, link, background, during=during, morning=morning)
    db.commit()
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303)


@router.post("/p/{token}/log/{log_id}/morning")
def log_morning(token: str, log_id: int, request: Request, db: SessionDep, form: FormDep,
                background: BackgroundTasks) -> Response:
    link = _link(request, db, token)
    check_double_submit(request.cookies.get(CSRF_COOKIE), form.get("csrf_token"))
    lg = db.get(SessionLog, log_id)
    if lg is None or lg.patient_id != link.patient_id or lg.clinic_id != link.clinic_id:
        raise HTTPException(status_code=404, detail="not found")
    errors: dict[str, list[str]] = {}
    entries = dict(lg.exercises_json or {})
    given = home_logs.exercise_entries(form, list(entries), errors)
    new = {ex: e["pain_next_morning"] for ex, e in given.items() if e["pain_next_morning"] is not None}
    session = home_logs.pain(form.get("pain_next_morning"), "pain_next_morning", errors)
    if errors or (session is None and not new):
        return _page(request, db, token, link, errors or {"pain_next_morning": ["0 to 10"]}, status=422)
    # One entry per session and exercise: what was recorded stays (the attempt is kept on the audit log).
    taken = [ex for ex in new if entries[ex].get("pain_next_morning") is not None]
    if taken or (session is not None and lg.pain_next_morning is not None):
        kept = "; ".join(f"{ex.replace('_', ' ')} ({entries[ex]['pain_next_morning']:g}); {new[ex]:g} not stored"
                         for ex in taken) or f"({lg.pain_next_morning:g}); {session:g} not stored"
        _audit(db, request, link, "home.log_morning", f"session {lg.date}: next-morning pain already recorded {kept}",
               outcome="rejected")
        db.commit()
        recorded = f"{lg.pain_next_morning:g}" if lg.pain_next_morning is not None else "recorded"
        errors = {"pain_next_morning": [f"the next-morning pain of {lg.date} is already recorded "
                                        f"({recorded}); tell your clinician if it was wrong"]}
        return _page(request, db, token, link, errors, status=409)
    if new:
        lg.exercises_json = {ex: dict(e, pain_next_morning=new.get(ex, e.get("pain_next_morning")))
                             for ex, e in entries.items()}
        morning = home_logs.worst(lg.exercises_json, "pain_next_morning")
    else:
        morning = session
    if morning is None:  # unreachable: a rating was given above; kept for the type checker
        return _page(request, db, token, link, {"pain_next_morning": ["0 to 10"]}, status=422)
    lg.pain_next_morning = morning
    _audit(db, request, link, "home.log_morning", f"session {lg.date}: next-morning pain {morning:g}")
    _alert(request, db, link, background, morning=morning)
    db.commit()
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303)
