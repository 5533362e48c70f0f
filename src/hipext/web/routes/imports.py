"""Dynamometer files uploaded into a visit: the same readers and checks as `hipext import dynamometer`.

All or nothing: a file with any problem lists every one (row and column) and adds nothing; a good file's
measurements are added to the visit on the chosen date (a new visit when there is none), only after the whole case
validates, and the upload is on the audit log. Force-time traces are drawn.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from hipext.caseio import parse_case
from hipext.core.errors import CaseInputError, Problem
from hipext.importers import ImportFileError, ImportOptions, load_mapping, mapping_presets, read_device_file
from hipext.importers.into_case import add_measurements
from hipext.importers.plot import trace_svg
from hipext.importers.table import MAX_BYTES
from hipext.store import repo
from hipext.web.deps import AuditDep, PatientDep, SessionDep, WriterUser, today
from hipext.web.rendering import render

router = APIRouter(include_in_schema=False)
FIELDS = ("visit_date", "test", "side", "lever_arm_m", "fixation", "device", "mapping", "velocity_deg_s", "mode",
          "csrf_token")


@dataclass
class Upload:
    fields: dict[str, str]
    name: str
    data: bytes | None  # None: no file, or larger than MAX_BYTES


async def _upload(request: Request) -> Upload:
    """The posted form and file, read on the event loop (network I/O), bounded in size and number of parts."""
    form = await request.form(max_files=1, max_fields=len(FIELDS) + 2)
    file = form.get("file")
    data = None
    name = ""
    if file is not None and not isinstance(file, str):
        name = file.filename or "upload.csv"
        data = await file.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            data = None
    return Upload({k: str(v) for k, v in form.items() if k in FIELDS and isinstance(v, str)}, name, data)


UploadDep = Annotated[Upload, Depends(_upload)]


def _page(request: Request, p: Any, row: Any, **ctx: Any) -> Response:
    status = ctx.pop("status", 200)
    base = {"patient": row, "presets": mapping_presets(), "problems": [], "added": [], "charts": [], "notes": [],
            "values": {"visit_date": today(request).isoformat()}}
    return render(request, "import.html", {**base, **ctx}, p, status=status)


@router.get("/patients/{pid}/import", response_class=HTMLResponse)
def import_form(request: Request, p: WriterUser, row: PatientDep) -> Response:
    return _page(request, p, row)


def _options(f: dict[str, str]) -> tuple[ImportOptions | None, list[Problem]]:
    problems: list[Problem] = []
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    if f.get("mapping"):
        try:
            columns, values = load_mapping(f["mapping"]) if f["mapping"] in mapping_presets() else ({}, {})
        except ImportFileError as exc:
            problems += exc.problems
    raw = {k: (f.get(k) or None) for k in ("test", "side", "lever_arm_m", "fixation", "device", "velocity_deg_s",
                                           "mode")}
    try:
        return ImportOptions(**raw, columns=columns, values=values), problems
    except ValueError as exc:
        from pydantic import ValidationError

        from hipext.caseio import problems_from

        if isinstance(exc, ValidationError):
            problems += problems_from(exc)
        return None, problems


@router.post("/patients/{pid}/import", response_class=HTMLResponse)
def import_file(request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep,
                upload: UploadDep) -> Response:
    f = upload.fields
    problems: list[Problem] = []
    try:
        visit = dt.date.fromisoformat(f.get("visit_date", ""))
    except ValueError:
        problems.append(Problem("visit date", f.get("visit_date"), "a date as YYYY-MM-DD"))
        visit = today(request)
    if upload.data is None:
        problems.append(Problem("file", upload.name or None, f"a device export of at most {MAX_BYTES} bytes"))
    options, option_problems = _options(f)
    problems += option_problems
    imported = None
    if not problems and options is not None and upload.data is not None:
        try:
            imported = read_device_file(upload.data, upload.name, options)
        except CaseInputError as exc:
            problems += exc.problems
    if imported is not None:
        try:
            # a deep copy: the stored visit's JSON must not change in place (it would not be saved, and a failed
            # import would leave it half-changed in memory)
            data, _replaced, new_visit = add_measurements(copy.deepcopy(repo.case_data(row)), visit,
                                                          imported.measurements)
            parse_case(data)
        except CaseInputError as exc:
            problems += exc.problems
    if problems or imported is None:
        audit("visit.import", row.id, detail=f"{upload.name}: {len(problems)} problem(s), nothing added",
              outcome="rejected")
        db.commit()
        return _page(request, p, row, problems=[str(x) for x in problems], values=f, status=422)
    target = next((v for v in row.visits if v.date == visit), None)
    new_data = next(v for v in data["visits"] if str(v["date"]) == visit.isoformat())
    if target is None:
        repo.add_visit(db, row, {**new_data, "date": visit.isoformat()}, user_id=p.user_id,
                       now=request.app.state.settings.now())
    else:  # only adds measurements: everything already in the visit stays as it was
        target.data_json = {**new_data, "date": visit.isoformat()}
        row.updated_at = request.app.state.settings.now()
    audit("visit.import", row.id, detail=f"{upload.name} ({imported.layout}): {len(imported.measurements)} "
                                         f"measurement(s) into {'a new' if new_visit else 'the'} visit of {visit}")
    db.commit()
    charts = [Markup(trace_svg(v)) for v in imported.traces]
    added = [f"{m.test} {m.side or ''}".strip() for m in imported.measurements]
    return _page(request, p, row, added=added, charts=charts, notes=imported.notes, visit=visit, values=f)
