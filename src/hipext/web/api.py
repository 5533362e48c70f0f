"""JSON API under /api: patients, cases and evaluations, with the CLI's validation (422 + problem list)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hipext.caseio import parse_case
from hipext.core.errors import CaseInputError
from hipext.core.evaluation import Evaluation
from hipext.store import repo
from hipext.store.models import Patient
from hipext.web import services
from hipext.web.security import Principal, client_ip, csrf_checked, current_principal, get_db, writer

router = APIRouter(prefix="/api", tags=["clinic"])


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
        visits=len(row.visits),
        updated_at=row.updated_at,
    )


def _problems(exc: CaseInputError) -> JSONResponse:
    return JSONResponse({"detail": "invalid case", "problems": [p.as_dict() for p in exc.problems]}, status_code=422)


def _audit(
    db: Session, request: Request, p: Principal, action: str, patient_id: int | None = None, detail: str | None = None
) -> None:
    repo.audit(
        db,
        action=action,
        actor=p.label + (" (api token)" if p.via_bearer else ""),
        clinic_id=p.clinic_id,
        user_id=p.user.id,
        patient_id=patient_id,
        detail=detail,
        ip=client_ip(request),
        now=request.app.state.settings.now(),
    )


def _patient(db: Session, p: Principal, pid: int) -> Patient:
    row = repo.get_patient(db, p.clinic_id, pid)
    if row is None:
        raise HTTPException(status_code=404, detail="not found")
    return row


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
def list_patients(
    request: Request, q: str | None = None, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> list[PatientOut]:
    rows = repo.list_patients(db, p.clinic_id, q)
    _audit(db, request, p, "patient.list", detail=f"api, {len(rows)} shown")
    db.commit()
    return [_out(r) for r in rows]


@router.post(
    "/patients",
    status_code=201,
    response_model=PatientOut,
    responses=UNPROCESSABLE,
    summary="Create a patient from a case file's patient and history blocks",
)
def create_patient(
    request: Request, body: PatientIn, p: Principal = Depends(writer), db: Session = Depends(get_db)
) -> Any:
    try:
        case = parse_case({"hipext_case": 1, "patient": body.patient, "history": body.history, "visits": []})
    except CaseInputError as exc:
        return _problems(exc)
    if repo.patient_by_external_id(db, p.clinic_id, case.patient.id):
        return JSONResponse(
            {
                "detail": "invalid case",
                "problems": [
                    {"path": "patient.id", "value": case.patient.id, "expected": "an id not used by another patient"}
                ],
            },
            status_code=422,
        )
    row = repo.create_patient(
        db,
        p.clinic_id,
        case.patient.model_dump(mode="json", exclude_none=True),
        case.history.model_dump(mode="json", exclude_none=True),
        now=request.app.state.settings.now(),
        user_id=p.user_id,
    )
    _audit(db, request, p, "patient.create", row.id, detail="api")
    db.commit()
    return _out(row)


@router.get("/patients/{pid}", response_model=PatientOut, summary="One patient")
def get_patient(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> PatientOut:
    row = _patient(db, p, pid)
    _audit(db, request, p, "patient.view", row.id, detail="api")
    db.commit()
    return _out(row)


@router.get("/patients/{pid}/case", summary="The patient's case file (the `hipext evaluate` input)")
def get_case(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> dict[str, Any]:
    row = _patient(db, p, pid)
    _audit(db, request, p, "case.read", row.id, detail="api")
    db.commit()
    return repo.case_data(row)


@router.post(
    "/patients/{pid}/visits",
    status_code=201,
    responses=UNPROCESSABLE,
    summary="Add a visit (the case file's visit shape); validated like `hipext evaluate`",
)
def add_visit(
    pid: int,
    request: Request,
    visit: dict[str, Any] = Body(...),
    p: Principal = Depends(writer),
    db: Session = Depends(get_db),
) -> Any:
    row = _patient(db, p, pid)
    try:
        case = parse_case(
            {"hipext_case": 1, "patient": row.patient_json, "history": row.history_json, "visits": [visit]}
        )
    except CaseInputError as exc:
        return _problems(exc)
    data = case.visits[0].model_dump(mode="json", exclude_none=True)
    v = repo.add_visit(db, row, data, user_id=p.user.id, now=request.app.state.settings.now())
    _audit(db, request, p, "visit.create", row.id, detail=f"api, visit {data['date']}")
    db.commit()
    return {"id": v.id, "date": data["date"], "patient_id": row.id}


@router.get(
    "/patients/{pid}/evaluation",
    response_model=Evaluation,
    responses={409: {"description": "The case cannot be evaluated"}},
    summary="Evaluate the patient's case (same document as `hipext evaluate --format json`)",
)
def get_evaluation(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Any:
    row = _patient(db, p, pid)
    settings = request.app.state.settings
    view = services.evaluate_data(
        repo.case_data(row), today=settings.now().date(), cache=request.app.state.cache, evaluator=settings.evaluator
    )
    _audit(db, request, p, "evaluation.view", row.id, detail="api")
    db.commit()
    if view.data is None:
        return JSONResponse({"detail": view.error, "problems": view.problems}, status_code=409)
    return view.data


@router.get(
    "/patients/{pid}/fhir",
    responses={
        200: {"content": {"application/fhir+json": {}}, "description": "A FHIR R4 Bundle (collection)"},
        409: {"description": "The case cannot be evaluated"},
    },
    summary="The patient's case and evaluation as a FHIR R4 Bundle (same as `hipext export`)",
)
def get_fhir(
    pid: int, request: Request, p: Principal = Depends(current_principal), db: Session = Depends(get_db)
) -> Any:
    from hipext.fhir import bundle_json, to_bundle  # noqa: PLC0415 - optional adapter, loaded when asked for

    row = _patient(db, p, pid)
    settings = request.app.state.settings
    data = repo.case_data(row)
    view = services.evaluate_data(
        data, today=settings.now().date(), cache=request.app.state.cache, evaluator=settings.evaluator
    )
    _audit(db, request, p, "fhir.export", row.id, detail="api")
    db.commit()
    if view.model is None:
        return JSONResponse({"detail": view.error, "problems": view.problems}, status_code=409)
    body = bundle_json(to_bundle(parse_case(data), view.model))
    return Response(
        body,
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="{row.external_id}-fhir.json"'},
    )


@router.post(
    "/evaluate",
    response_model=Evaluation,
    responses=UNPROCESSABLE,
    summary="Validate and evaluate a case file sent in the body, without storing it",
)
def evaluate(
    request: Request,
    case: dict[str, Any] = Body(..., description="A case file as JSON"),
    p: Principal = Depends(csrf_checked),
    db: Session = Depends(get_db),
) -> Any:
    settings = request.app.state.settings
    view = services.evaluate_data(
        case, today=settings.now().date(), cache=request.app.state.cache, evaluator=settings.evaluator
    )
    _audit(db, request, p, "case.evaluate", None, detail="api, not stored")
    db.commit()
    if view.problems:
        return JSONResponse({"detail": "invalid case", "problems": view.problems}, status_code=422)
    if view.model is None:
        return JSONResponse({"detail": view.error, "problems": []}, status_code=409)
    return Response(view.json_bytes, media_type="application/json")
