"""FastAPI dependencies as `Annotated` aliases: the request's database session, the signed-in principal (any role,
writer, admin), the patient named in the path (clinic-scoped), its evaluation and the audit log.

A route states what it needs in its signature (`row: PatientDep, audit: AuditDep`) instead of spelling out
`Depends(...)` and the clinic filter each time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride
from hipext.web import audit_gate, services, stored_evaluations
from hipext.web.security import (
    Principal,
    admin,
    client_ip,
    csrf_checked,
    current_principal,
    end_transaction,
    get_db,
    pending_principal,
    principal_in_step,
    read_step,
    writer,
)

SessionDep = Annotated[Session, Depends(get_db)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
WriterUser = Annotated[Principal, Depends(writer)]
AdminUser = Annotated[Principal, Depends(admin)]
CsrfUser = Annotated[Principal, Depends(csrf_checked)]
PendingUser = Annotated[Principal, Depends(pending_principal)]  # signed in, a second factor may still be due


def principal_and_patient(request: Request, db: Session, pid: int) -> tuple[Principal, Patient]:
    """The signed-in user (unless already known) and the patient of the path's `pid`, only if they belong to the
    user's clinic (404 otherwise), in one step on the calling worker thread: one pooled connection for both. A sync
    route that calls it itself, instead of declaring `PatientDep`, takes no thread hop before its own (each hop is
    a wait in the pool's queue under load: the evaluation reads, issue 12)."""
    p = principal_in_step(request, db)
    read_step(db)  # joins the principal's step: the patient with their visits, filtered by the user's clinic
    row = repo.get_patient(db, p.clinic_id, pid)
    end_transaction(db)  # the route may run on another hop (maybe after reading a form): hold no connection
    if row is None:
        raise HTTPException(status_code=404, detail="not found")
    return p, row


def _patient(pid: int, request: Request, db: SessionDep) -> Patient:
    """`principal_and_patient` as a dependency: declare `PatientDep` before `CurrentUser` and `AuditDep` in a route,
    so that the user is not looked up on a hop of its own first."""
    return principal_and_patient(request, db, pid)[1]


PatientDep = Annotated[Patient, Depends(_patient)]


async def _raw_form(request: Request) -> FormData:
    return await request.form()


async def _form(request: Request) -> dict[str, str]:
    # NUL cannot be stored in any text column (PostgreSQL refuses it): shown as U+FFFD, never a server error.
    return {k: str(v).replace("\x00", "\ufffd") for k, v in (await request.form()).items()}


# A posted form, read on the event loop (it waits on the network) so that the route itself can be a plain `def`
# and do its database and CPU work in the thread pool.
RawFormDep = Annotated[FormData, Depends(_raw_form)]
FormDep = Annotated[dict[str, str], Depends(_form)]


@dataclass
class Auditor:
    """Appends an event to the audit log in the request's transaction (the route commits)."""

    db: Session
    request: Request
    principal: Principal

    def __call__(
        self, action: str, patient_id: int | None = None, detail: str | None = None, outcome: str = "ok"
    ) -> None:
        repo.audit(self.db, **self._fields(action, patient_id, detail, outcome))

    def view(self, action: str, patient_id: int | None = None, detail: str | None = None) -> None:
        """A read of patient data, on a request that writes nothing else: the event goes to the process's audit
        writer (group commit) instead of the request's transaction, and the response waits until it is committed
        (`hipext.web.audit_gate`), so no response is ever seen without its event."""
        state = self.request.app.state
        future = state.audit_writer.submit(repo.audit_row(**self._fields(action, patient_id, detail, "ok")))
        audit_gate.hold(self.request, future)

    def _fields(self, action: str, patient_id: int | None, detail: str | None, outcome: str) -> dict[str, Any]:
        p = self.principal
        return {
            "action": action,
            "actor": p.label + (" (api token)" if p.via_bearer else ""),
            "clinic_id": p.clinic_id,
            "user_id": p.user_id,
            "patient_id": patient_id,
            "detail": detail,
            "ip": client_ip(self.request),
            "outcome": outcome,
            "now": self.request.app.state.settings.now(),
        }


async def _auditor(request: Request, db: SessionDep, p: CurrentUser) -> Auditor:  # no I/O: no thread hop
    return Auditor(db, request, p)


AuditDep = Annotated[Auditor, Depends(_auditor)]


def today(request: Request) -> dt.date:
    """The app clock's date: the default of date fields on forms, never the evaluation date of a case with visits."""
    return request.app.state.settings.now().date()


AsOfDep = Annotated[
    dt.date | None,
    Query(description="Evaluate as of this date (YYYY-MM-DD); default: the latest visit, as `hipext evaluate`."),
]


def evaluation_of(
    request: Request,
    db: Session,
    row: Patient,
    as_of: dt.date | None = None,
    override_rows: Sequence[ProgramOverride] | None = None,
) -> services.EvaluationView:
    """The patient's stored case and the clinician's program edits, evaluated through `hipext.app.evaluate_case`.
    As of the latest visit (the default) it is the evaluation stored with the record while it is current
    (`stored_evaluations`); as of another date it is computed (and kept in memory: it is pure)."""
    state = request.app.state
    settings = state.settings
    if override_rows is None:
        override_rows = repo.program_edits(db, row)
    overrides = services.care_overrides(override_rows)
    if as_of is None:
        return stored_evaluations.default_evaluation(
            db,
            state.evaluations,
            row,
            today=today(request),
            overrides=overrides,
            cache=state.cache,
            evaluator=settings.evaluator,
            now=settings.now(),
        )
    return services.evaluate_data(
        repo.case_data(row),
        as_of=as_of,
        today=today(request),
        cache=state.cache,
        evaluator=settings.evaluator,
        overrides=overrides,
    )


def evaluate_saved(request: Request, db: Session, row: Patient) -> None:
    """After a visit is saved (its transaction committed): compute the record's evaluation now and store it with
    the record, so the pages and API calls that follow read it instead of computing it."""
    evaluation_of(request, db, row)
    end_transaction(db)


def _evaluation(request: Request, row: PatientDep, db: SessionDep, as_of: AsOfDep = None) -> services.EvaluationView:
    read_step(db)  # the program edits, then the stored evaluation: its record key checks they agree with the record
    view = evaluation_of(request, db, row, as_of)
    end_transaction(db)
    return view


EvaluationDep = Annotated[services.EvaluationView, Depends(_evaluation)]
