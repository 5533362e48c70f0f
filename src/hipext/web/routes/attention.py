"""The clinician's list of patients needing attention: stop-zone pain, next-morning pain above baseline, missed
sessions, from what patients logged through their links. Each row links to the patient's record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from hipext.store import repo
from hipext.store.models import PatientLink
from hipext.web import attention, program_view
from hipext.web.deps import AuditDep, CurrentUser, SessionDep, evaluation_of, today
from hipext.web.rendering import render

router = APIRouter(include_in_schema=False)


def attention_rows(request: Request, db: SessionDep, clinic_id: int) -> list[dict[str, Any]]:
    """Patients with an active home-program link and at least one flag, most urgent first."""
    now = request.app.state.settings.now()
    day = today(request)
    links = db.scalars(select(PatientLink).where(PatientLink.clinic_id == clinic_id, PatientLink.revoked_at.is_(None),
                                                 PatientLink.expires_at > now)).all()
    started: dict[int, dt.datetime] = {}
    for lk in links:
        started[lk.patient_id] = min(started.get(lk.patient_id, lk.created_at), lk.created_at)
    rows: list[dict[str, Any]] = []
    for pid, since in started.items():
        row = repo.get_patient(db, clinic_id, pid)
        if row is None:
            continue
        view = evaluation_of(request, db, row)
        planned = program_view.planned_per_week(view.model)
        found = attention.flags(repo.session_logs(db, clinic_id, pid), case=repo.case_data(row),
                                planned_per_week=planned, today=day, since=since.date())
        if found:
            rows.append({"patient": row, "flags": found})
    order = {"pain_stop": 0, "morning_worse": 1, "missed_sessions": 2}
    rows.sort(key=lambda r: (min(order[f.kind] for f in r["flags"]), str(r["patient"].external_id)))
    return rows


@router.get("/attention", response_class=HTMLResponse)
def attention_page(request: Request, p: CurrentUser, db: SessionDep, audit: AuditDep) -> Response:
    rows = attention_rows(request, db, p.clinic_id)
    audit("attention.view", None, detail=f"{len(rows)} patient(s) listed")
    db.commit()
    return render(request, "attention.html", {"rows": rows, "window": attention.WINDOW_DAYS}, p)
