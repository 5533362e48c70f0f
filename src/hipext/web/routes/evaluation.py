"""The evaluation page: screening, results with charts and trends, findings and the program as prescribed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import charts, confirm, program_view, services
from hipext.web.deps import AsOfDep, Auditor, SessionDep, evaluation_of, principal_and_patient, today
from hipext.web.rendering import render
from hipext.web.security import read_step

router = APIRouter(include_in_schema=False)


@router.get("/patients/{pid}/evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, pid: int, db: SessionDep, as_of: AsOfDep = None) -> Response:
    # The user and the patient are read here, not by dependencies: the page takes one thread hop (issue 12).
    p, row = principal_and_patient(request, db, pid)
    audit = Auditor(db, request, p)
    read_step(db)  # the program edits, then the stored evaluation: its record key checks they agree with the record
    ovs = repo.program_edits(db, row)
    view = evaluation_of(request, db, row, as_of, ovs)
    audit.view("evaluation.view", row.id, detail=f"as of {as_of}" if as_of else None)
    db.commit()
    day = today(request)
    data = repo.case_data(row)
    key = services.content_key("evaluation", data, as_of, day, row.id, row.external_id, [o.id for o in ovs])
    body = request.app.state.fragments.get_or_compute(key, lambda: _evaluation_body(request, row, data, view))
    return render(request, "evaluation.html", {"patient": row, "body": body, "as_of": as_of}, p)


def _evaluation_body(request: Request, row: Patient, data: dict[str, Any], view: services.EvaluationView) -> Markup:
    """The evaluation page's content. Pure function of the case, the overrides and the dates, so it is cached."""
    state = request.app.state
    ev = view.data or {}
    latest = [r for r in ev.get("results", []) if r.get("date") == ev.get("evaluated_visit")]
    trends = []
    if view.data:
        for (test, side), pts in services.trend_series(view.data).items():
            title = f"{pts[-1].get('name', test)}" + (f" ({side})" if side else "")
            trends.append({"title": title, "svg": charts.trend_chart(title, pts)})
    model = view.model
    ctx = {
        "patient": row,
        "ev": model,
        "error": view.error,
        "problems": view.problems,
        "latest": [r for r in model.results if r.date == model.evaluated_visit] or model.results if model else [],
        "lsi_targets": charts.lsi_targets(view.data),
        "rows": {r.id: r for r in program_view.rows(model)},
        "strength_svg": charts.strength_chart(latest),
        "lsi_svg": charts.lsi_chart(latest, charts.lsi_targets(view.data)),
        "lsi_time_svg": charts.lsi_over_time_chart(ev.get("results", []), charts.lsi_targets(view.data)),
        "trends": trends,
        "program": model.program if model else None,
        # Possible but unusual entries, named as the clinician knows them (not by the case file's path).
        "case_warnings": [
            {"label": confirm.label_in_case(data, w.path), "value": w.value, "message": w.message}
            for w in (model.warnings if model else [])
        ],
    }
    return Markup(state.templates.env.get_template("_evaluation_body.html").render(ctx))
