"""The evaluation page: screening, results with charts and trends, findings and the program as prescribed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride
from hipext.web import charts, program_view, services
from hipext.web.deps import AsOfDep, AuditDep, CurrentUser, PatientDep, SessionDep, today
from hipext.web.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/patients/{pid}/evaluation", response_class=HTMLResponse)
def evaluation_page(
    request: Request, p: CurrentUser, row: PatientDep, db: SessionDep, audit: AuditDep, as_of: AsOfDep = None
) -> Response:
    ovs = repo.overrides(db, p.clinic_id, row.id)
    audit("evaluation.view", row.id, detail=f"as of {as_of}" if as_of else None)
    db.commit()
    day = today(request)
    data = repo.case_data(row)
    key = services.content_key("evaluation", data, as_of, day, row.id, row.external_id, [o.id for o in ovs])
    body = request.app.state.fragments.get_or_compute(
        key, lambda: _evaluation_body(request, row, data, ovs, as_of, day)
    )
    return render(request, "evaluation.html", {"patient": row, "body": body, "as_of": as_of}, p)


def _evaluation_body(
    request: Request,
    row: Patient,
    data: dict[str, Any],
    ovs: list[ProgramOverride],
    as_of: dt.date | None,
    day: dt.date,
) -> Markup:
    """The evaluation page's content. Pure function of the case, the overrides and the dates, so it is cached."""
    state = request.app.state
    view = services.evaluate_data(
        data,
        as_of=as_of,
        today=day,
        cache=state.cache,
        evaluator=state.settings.evaluator,
        overrides=services.care_overrides(ovs),
    )
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
    }
    return Markup(state.templates.env.get_template("_evaluation_body.html").render(ctx))
