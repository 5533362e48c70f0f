"""PDF documents for download: the one-page clinician summary, the full report and the patient's home program.

Each is rendered from the same evaluation as the pages (with the clinician's changes to the program applied), in the
thread pool (rendering is CPU work), audited, clinic-scoped by the patient dependency, and sent as an attachment
that is not cached. The home program can carry the patient's link as text and QR code only right after the link is
created: hipext stores only the link's hash, so the printout is made from the link the clinician has in hand.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hipext.reports.pdf import Letterhead, render_pdf
from hipext.store import repo
from hipext.store.models import Clinic, Patient
from hipext.web.deps import AsOfDep, AuditDep, CurrentUser, FormDep, PatientDep, SessionDep, WriterUser, evaluation_of
from hipext.web.http import content_disposition

router = APIRouter(include_in_schema=False)
DOCUMENTS = {"summary": "summary", "full": "full", "home-program": "home_program"}


def letterhead(request: Request, clinic: Clinic | None) -> Letterhead | None:
    """The clinic's name, and the contact line the deployment sets (HIPEXT_CLINIC_CONTACT)."""
    if clinic is None:
        return None
    return Letterhead(clinic.name, request.app.state.settings.clinic_contact)


def _pdf(request: Request, db: Session, row: Patient, document: str, as_of: dt.date | None,
         link: str | None = None) -> tuple[bytes, str]:
    view = evaluation_of(request, db, row, as_of)  # the clinician's edits are applied inside the evaluation
    if view.model is None:
        raise HTTPException(status_code=422, detail=view.error or "The case cannot be evaluated.")
    evaluation = view.model
    pdf = render_pdf(evaluation, DOCUMENTS[document],  # type: ignore[arg-type]
                     letterhead=letterhead(request, db.get(Clinic, row.clinic_id)), patient_link=link)
    safe_id = re.sub(r"[^A-Za-z0-9._-]+", "_", row.external_id)[:60]
    return pdf, f"hipext-{safe_id}-{document}-{evaluation.as_of}.pdf"


def _attachment(pdf: bytes, filename: str) -> Response:
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": content_disposition(filename), "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/patients/{pid}/documents/{document}.pdf")
def document_pdf(document: str, request: Request, row: PatientDep, p: CurrentUser, db: SessionDep,
                 audit: AuditDep, as_of: AsOfDep = None) -> Response:
    if document not in DOCUMENTS:
        raise HTTPException(status_code=404, detail="not found")
    pdf, filename = _pdf(request, db, row, document, as_of)
    audit("document.pdf", row.id, detail=f"{document} as of {as_of or 'latest visit'}")
    db.commit()
    return _attachment(pdf, filename)


@router.post("/patients/{pid}/documents/home-program-with-link.pdf")
def home_program_with_link(request: Request, p: WriterUser, row: PatientDep, db: SessionDep, audit: AuditDep,
                           form: FormDep) -> Response:
    """The home program printed with the link just created for this patient (its token comes from the form)."""
    url = (form.get("link_url") or "").strip()
    base = request.app.state.settings.base_url
    # Only a link under the clinic's own public address goes on paper (a QR code of anything else is useless or
    # worse); the token must then be an active link of this patient.
    token = url.rsplit("/p/", 1)[-1] if base and url.startswith(base.rstrip("/") + "/p/") else ""
    link = repo.active_link(db, token, request.app.state.settings.now()) if token else None
    if link is None or link.patient_id != row.id or link.clinic_id != row.clinic_id:
        raise HTTPException(status_code=404, detail="This link is not valid for this patient.")
    pdf, filename = _pdf(request, db, row, "home-program", None, link=url)
    audit("document.pdf", row.id, detail=f"home-program with link {link.id}")
    db.commit()
    return _attachment(pdf, filename)
