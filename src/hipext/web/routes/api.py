"""JSON API under /api: patients, cases and evaluations, with the CLI's validation (422 + problem list)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from hipext.caseio import parse_case
from hipext.document import Evaluation
from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import services
from hipext.web.deps import (
    AsOfDep,
    AuditDep,
    Auditor,
    CsrfUser,
    CurrentUser,
    EvaluationDep,
    PatientDep,
    SessionDep,
    WriterUser,
    evaluate_saved,
    evaluation_of,
    principal_and_patient,
)
from hipext.web.http import StrictJSONRoute, content_disposition, safe_problems
from hipext.web.security import read_step

router = APIRouter(prefix="/api", tags=["clinic"], route_class=StrictJSONRoute)


class ProblemOut(BaseModel):
    path: str
    value: Any = None
    expected: str


class ProblemsOut(BaseModel):
    detail: str
    problems: list[ProblemOut]


class PatientOut(BaseModel):
    id: int = Field(description="Server id used in URLs.")
    external_id: str
    age: int
    sex: str
    body_mass_kg: float
    visits: int
    updated_at: dt.datetime


class PatientIn(BaseModel):
    patient: dict[str, Any] = Field(description="The case file's `patient` block.")
    history: dict[str, Any] = Field(default_factory=dict, description="The case file's `history` block.")


UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemsOut, "description": "Invalid input; every problem listed"}
}


def _out(row: Patient) -> PatientOut:
    return PatientOut(
        id=row.id,
        external_id=row.external_id,
        age=row.age,
        sex=row.sex,
        body_mass_kg=row.body_mass_kg,
        visits=len(row.active_visits),
        updated_at=row.updated_at,
    )


def _problems(problems: list[dict[str, Any]], detail: str = "invalid case", status: int = 422) -> JSONResponse:
    """The CLI's problem list; values echoed JSON-safe (NaN, unpaired surrogates and long strings cannot break it)."""
    return JSONResponse({"detail": detail, "problems": safe_problems(problems)}, status_code=status)


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> Any:
    """The OpenAPI document as a plain page (no CDN, no script): endpoints, parameters, bodies and schemas."""
    spec = request.app.openapi()
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema", {})
            ops.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "op": op,
                    "body": body.get("$ref", "").split("/")[-1] or body.get("description") or body.get("type", ""),
                }
            )
    return request.app.state.templates.TemplateResponse(
        request, "api_docs.html", {"spec": spec, "ops": ops, "user": None}
    )


@router.get("/patients", response_model=list[PatientOut], summary="List or search your clinic's patients")
def list_patients(p: CurrentUser, db: SessionDep, audit: AuditDep, q: str | None = None) -> list[PatientOut]:
    rows = repo.list_patients(db, p.clinic_id, q)
    audit("patient.list", detail=f"api, {len(rows)} shown")
    db.commit()
    return [_out(r) for r in rows]


@router.post(
    "/patients",
    status_code=201,
    response_model=PatientOut,
    responses=UNPROCESSABLE,
    summary="Create a patient from a case file's patient and history blocks",
)
def create_patient(request: Request, body: PatientIn, p: WriterUser, db: SessionDep, audit: AuditDep) -> Any:
    try:
        row = services.create_patient(
            db, p.clinic_id, body.patient, body.history, user_id=p.user_id, now=request.app.state.settings.now()
        )
    except services.InputProblems as exc:
        return _problems(exc.problems)
    audit("patient.create", row.id, detail="api")
    db.commit()
    return _out(row)


@router.get("/patients/{pid}", response_model=PatientOut, summary="One patient")
def get_patient(row: PatientDep, db: SessionDep, audit: AuditDep) -> PatientOut:
    audit.view("patient.view", row.id, detail="api")
    db.commit()
    return _out(row)


@router.get("/patients/{pid}/case", summary="The patient's case file (the `hipext evaluate` input)")
def get_case(row: PatientDep, db: SessionDep, audit: AuditDep) -> dict[str, Any]:
    audit.view("case.read", row.id, detail="api")
    db.commit()
    return repo.case_data(row)


@router.post(
    "/patients/{pid}/visits",
    status_code=201,
    responses=UNPROCESSABLE,
    summary="Add a visit (the case file's visit shape); validated like `hipext evaluate`",
)
def add_visit(
    request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep, visit: dict[str, Any] = Body(...)
) -> Any:
    try:
        v, _ = services.add_visit(db, row, visit, user_id=p.user_id, now=request.app.state.settings.now())
    except services.InputProblems as exc:
        return _problems(exc.problems)
    audit("visit.create", row.id, detail=f"api, visit {v.date}")
    db.commit()
    evaluate_saved(request, db, row)
    return {"id": v.id, "date": v.date.isoformat(), "patient_id": row.id}


@router.get(
    "/patients/{pid}/evaluation",
    response_model=Evaluation,
    responses={409: {"description": "The case cannot be evaluated"}},
    summary="Evaluate the patient's case (same document as `hipext evaluate --format json`)",
)
def get_evaluation(request: Request, pid: int, db: SessionDep, as_of: AsOfDep = None) -> Any:
    # The user, the patient and the evaluation are read here, not by dependencies: the most frequent API read takes
    # one thread hop (issue 12).
    p, row = principal_and_patient(request, db, pid)
    audit = Auditor(db, request, p)
    read_step(db)
    view = evaluation_of(request, db, row, as_of)
    audit.view("evaluation.view", row.id, detail="api")
    db.commit()
    if not view.ok:  # a stored document is answered as it is, never parsed
        return _problems(view.problems, view.error or "cannot be evaluated", 409)
    return Response(view.json_bytes, media_type="application/json")  # byte for byte what `hipext evaluate` prints


@router.get(
    "/patients/{pid}/fhir",
    responses={
        200: {"content": {"application/fhir+json": {}}, "description": "A FHIR R4 Bundle (collection)"},
        409: {"description": "The case cannot be evaluated"},
    },
    summary="The patient's case and evaluation as a FHIR R4 Bundle (same as `hipext export`)",
)
def get_fhir(row: PatientDep, view: EvaluationDep, db: SessionDep, audit: AuditDep) -> Any:
    from hipext.fhir import bundle_json, to_bundle  # noqa: PLC0415 - optional adapter, loaded when asked for

    as_of = view.model.as_of if view.model is not None else None
    audit("fhir.export", row.id, detail=f"api, as of {as_of}" if as_of else "api")
    db.commit()
    if view.model is None:
        return _problems(view.problems, view.error or "cannot be evaluated", 409)
    body = bundle_json(to_bundle(parse_case(repo.case_data(row)), view.model))
    # The patient id is free text (any script, quotes, control characters): the header is built to carry any.
    headers = {"Content-Disposition": content_disposition(f"{row.external_id}-fhir.json"), "X-Hipext-As-Of": str(as_of)}
    return Response(body, media_type="application/fhir+json", headers=headers)


@router.post(
    "/evaluate",
    response_model=Evaluation,
    responses=UNPROCESSABLE,
    summary="Validate and evaluate a case file sent in the body, without storing it",
)
def evaluate(
    request: Request,
    p: CsrfUser,
    db: SessionDep,
    audit: AuditDep,
    as_of: AsOfDep = None,
    case: dict[str, Any] = Body(..., description="A case file as JSON"),
) -> Any:
    settings = request.app.state.settings
    # Not cached: only stored records are, so posted cases cannot fill the server's memory.
    view = services.evaluate_data(
        case, as_of=as_of, today=settings.now().date(), cache=None, evaluator=settings.evaluator
    )
    audit.view("case.evaluate", None, detail="api, not stored")
    db.commit()
    if view.problems:
        return _problems(view.problems)
    if view.model is None:
        return _problems([], view.error or "cannot be evaluated", 409)
    return Response(view.json_bytes, media_type="application/json")
