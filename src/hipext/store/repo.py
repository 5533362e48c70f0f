"""Repositories: every query that touches patient data takes the caller's clinic id and filters on it."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import String, bindparam, cast, delete, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload, with_expression
from sqlalchemy.orm.attributes import set_committed_value

from hipext.store import audit_chain
from hipext.store.models import (
    AuditEvent,
    Clinic,
    HistoryVersion,
    Patient,
    PatientLink,
    PatientVersion,
    ProgramOverride,
    QuestionnaireResponse,
    SessionLog,
    StoredEvaluation,
    User,
    Visit,
    VisitVersion,
)
from hipext.store.passwords import hash_password


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- clinics and users ---------------------------------------------------------------------------------------


def get_or_create_clinic(s: Session, name: str, *, now: dt.datetime | None = None) -> Clinic:
    clinic = s.scalar(select(Clinic).where(Clinic.name == name))
    if clinic is None:
        clinic = Clinic(name=name, created_at=now or utcnow())
        s.add(clinic)
        s.flush()
    return clinic


def create_user(
    s: Session,
    clinic: Clinic,
    username: str,
    password: str,
    *,
    role: str = "clinician",
    display_name: str | None = None,
    now: dt.datetime | None = None,
) -> User:
    user = User(
        clinic_id=clinic.id,
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        created_at=now or utcnow(),
    )
    s.add(user)
    s.flush()
    return user


def user_by_username(s: Session, username: str) -> User | None:
    return s.scalar(select(User).where(User.username == username))


def user_by_api_token(s: Session, token: str) -> User | None:
    return s.scalar(select(User).where(User.api_token_hash == sha256(token), User.active.is_(True)))


def clinic_users(s: Session, clinic_id: int) -> list[User]:
    return list(s.scalars(select(User).where(User.clinic_id == clinic_id).order_by(User.username)))


# --- patients and visits ------------------------------------------------------------------------------------------


def list_patients(s: Session, clinic_id: int, q: str | None = None, limit: int = 200) -> list[Patient]:
    stmt = select(Patient).where(Patient.clinic_id == clinic_id)
    if q:
        like = f"%{q.strip().lower()}%"
        under = f"%{q.strip().lower().replace(' ', '_')}%"  # conditions are stored as hamstring_strain
        stmt = stmt.where(
            or_(
                func.lower(Patient.external_id).like(like),
                func.lower(cast(Patient.history_json, String)).like(under),
                func.lower(cast(Patient.patient_json, String)).like(like),
            )
        )
    return list(s.scalars(stmt.order_by(Patient.updated_at.desc(), Patient.id.desc()).limit(limit)))


# Statements of the request path, built once and run with parameters: building and cache-keying a select costs
# about as much CPU as running it on SQLite (issue 12).
# Loads `Patient.has_program_edits` in the same statement: a patient without edits needs no query for them.
WITH_EDITS_MARK = with_expression(Patient.has_program_edits, exists().where(ProgramOverride.patient_id == Patient.id))
_PATIENT = (
    select(Patient)
    .options(joinedload(Patient.visits), WITH_EDITS_MARK)
    .where(Patient.id == bindparam("patient_id"), Patient.clinic_id == bindparam("clinic_id"))
)


def get_patient(s: Session, clinic_id: int, patient_id: int) -> Patient | None:
    """The patient with their visits and whether they have program edits (one query), only if they belong to the
    clinic."""
    return s.execute(_PATIENT, {"patient_id": patient_id, "clinic_id": clinic_id}).unique().scalar_one_or_none()


def patient_by_external_id(s: Session, clinic_id: int, external_id: str) -> Patient | None:
    return s.scalar(select(Patient).where(Patient.clinic_id == clinic_id, Patient.external_id == external_id))


def create_patient(
    s: Session,
    clinic_id: int,
    patient: dict[str, Any],
    history: dict[str, Any],
    *,
    now: dt.datetime | None = None,
    user_id: int | None = None,
) -> Patient:
    now = now or utcnow()
    row = Patient(
        clinic_id=clinic_id,
        external_id=patient["id"],
        age=patient["age"],
        sex=patient["sex"],
        body_mass_kg=patient["body_mass_kg"],
        patient_json=patient,
        history_json=history,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.flush()
    s.add(
        HistoryVersion(clinic_id=clinic_id, patient_id=row.id, history_json=history, created_by=user_id, created_at=now)
    )
    s.add(
        PatientVersion(clinic_id=clinic_id, patient_id=row.id, patient_json=patient, created_by=user_id, created_at=now)
    )
    return row


def amend_patient(
    s: Session, row: Patient, patient: dict[str, Any], *, reason: str, user_id: int, now: dt.datetime
) -> bool:
    """Correct the patient block; the new version is kept beside every earlier one. Returns whether it changed."""
    if patient == row.patient_json:
        return False
    row.external_id = patient["id"]
    row.age = patient["age"]
    row.sex = patient["sex"]
    row.body_mass_kg = patient["body_mass_kg"]
    row.patient_json = patient
    row.updated_at = now
    forget_evaluation(s, row)
    s.add(
        PatientVersion(
            clinic_id=row.clinic_id,
            patient_id=row.id,
            patient_json=patient,
            reason=reason,
            created_by=user_id,
            created_at=now,
        )
    )
    return True


def patient_versions(s: Session, clinic_id: int, patient_id: int) -> list[PatientVersion]:
    return list(
        s.scalars(
            select(PatientVersion)
            .where(PatientVersion.clinic_id == clinic_id, PatientVersion.patient_id == patient_id)
            .order_by(PatientVersion.created_at, PatientVersion.id)
        )
    )


def update_patient(
    s: Session,
    row: Patient,
    patient: dict[str, Any],
    history: dict[str, Any],
    *,
    now: dt.datetime | None = None,
    user_id: int | None = None,
) -> bool:
    """Change a patient's record; a changed history is added as a new version. Returns whether it changed."""
    now = now or utcnow()
    changed = history != row.history_json
    row.external_id = patient["id"]
    row.age = patient["age"]
    row.sex = patient["sex"]
    row.body_mass_kg = patient["body_mass_kg"]
    row.patient_json = patient
    row.history_json = history
    row.updated_at = now
    forget_evaluation(s, row)
    if changed:
        s.add(
            HistoryVersion(
                clinic_id=row.clinic_id, patient_id=row.id, history_json=history, created_by=user_id, created_at=now
            )
        )
    return changed


def history_versions(s: Session, clinic_id: int, patient_id: int) -> list[HistoryVersion]:
    return list(
        s.scalars(
            select(HistoryVersion)
            .where(HistoryVersion.clinic_id == clinic_id, HistoryVersion.patient_id == patient_id)
            .order_by(HistoryVersion.created_at, HistoryVersion.id)
        )
    )


def add_visit(
    s: Session, row: Patient, visit: dict[str, Any], *, user_id: int | None, now: dt.datetime | None = None
) -> Visit:
    now = now or utcnow()
    v = Visit(
        clinic_id=row.clinic_id,
        patient_id=row.id,
        date=dt.date.fromisoformat(visit["date"]),
        data_json=visit,
        created_by=user_id,
        created_at=now,
    )
    s.add(v)
    row.updated_at = now
    forget_evaluation(s, row)
    s.flush()
    s.add(_visit_version(v, None, user_id, now))
    s.refresh(row, ["visits"])
    return v


def _visit_version(v: Visit, reason: str | None, user_id: int | None, now: dt.datetime) -> VisitVersion:
    return VisitVersion(
        clinic_id=v.clinic_id,
        patient_id=v.patient_id,
        visit_id=v.id,
        date=v.date,
        data_json=v.data_json,
        reason=reason,
        created_by=user_id,
        created_at=now,
    )


def amend_visit(
    s: Session, row: Patient, v: Visit, visit: dict[str, Any], *, reason: str, user_id: int, now: dt.datetime
) -> bool:
    """Correct a visit; the new version is kept beside every earlier one. Returns whether anything changed."""
    if visit == v.data_json:
        return False
    v.date = dt.date.fromisoformat(visit["date"])
    v.data_json = visit
    row.updated_at = now
    forget_evaluation(s, row)
    s.add(_visit_version(v, reason, user_id, now))
    s.flush()
    s.refresh(row, ["visits"])
    return True


def void_visit(s: Session, row: Patient, v: Visit, *, reason: str, user_id: int, now: dt.datetime) -> None:
    """Mark a visit entered in error: it is kept (and shown as voided) but no longer part of the case."""
    v.voided_at = now
    v.void_reason = reason
    v.voided_by = user_id
    row.updated_at = now
    forget_evaluation(s, row)


def visit_versions(s: Session, clinic_id: int, patient_id: int) -> list[VisitVersion]:
    return list(
        s.scalars(
            select(VisitVersion)
            .where(VisitVersion.clinic_id == clinic_id, VisitVersion.patient_id == patient_id)
            .order_by(VisitVersion.created_at, VisitVersion.id)
        )
    )


def case_data(row: Patient) -> dict[str, Any]:
    """The patient's case file as plain data (validate with `hipext.caseio.parse_case`)."""
    return {
        "hipext_case": 1,
        "patient": dict(row.patient_json),
        "history": dict(row.history_json),
        "visits": [dict(v.data_json) for v in row.active_visits],
    }


# --- stored evaluations ------------------------------------------------------------------------------------------


def forget_evaluation(s: Session, row: Patient) -> None:
    """The record is changing: its stored evaluation goes, in the same transaction as the change (the key check on
    reading would refuse it anyway; this keeps no evaluation of a record that no longer exists)."""
    s.execute(delete(StoredEvaluation).where(StoredEvaluation.patient_id == row.id))


_STORED = select(StoredEvaluation).where(
    StoredEvaluation.patient_id == bindparam("patient_id"), StoredEvaluation.clinic_id == bindparam("clinic_id")
)


def stored_evaluation(s: Session, clinic_id: int, patient_id: int) -> StoredEvaluation | None:
    """The patient's stored evaluation, only if the patient belongs to the clinic."""
    return s.scalar(_STORED, {"patient_id": patient_id, "clinic_id": clinic_id})


def save_evaluation(
    s: Session,
    patient_id: int,
    clinic_id: int,
    *,
    version: str,
    record_key: str,
    as_of: dt.date,
    document: str,
    now: dt.datetime,
) -> None:
    """Keep the record's evaluation (replacing the one stored before, whatever its keys)."""
    values = {
        "patient_id": patient_id,
        "clinic_id": clinic_id,
        "version": version,
        "record_key": record_key,
        "as_of": as_of,
        "document": document,
        "computed_at": now,
    }
    make = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = make(StoredEvaluation).values(**values)
    changed = {k: stmt.excluded[k] for k in values if k != "patient_id"}
    s.execute(stmt.on_conflict_do_update(index_elements=["patient_id"], set_=changed))


# --- program overrides ------------------------------------------------------------------------------------------


_OVERRIDES = (
    select(ProgramOverride)
    .where(ProgramOverride.clinic_id == bindparam("clinic_id"), ProgramOverride.patient_id == bindparam("patient_id"))
    .order_by(ProgramOverride.created_at, ProgramOverride.id)
)


def overrides(s: Session, clinic_id: int, patient_id: int) -> list[ProgramOverride]:
    return list(s.scalars(_OVERRIDES, {"clinic_id": clinic_id, "patient_id": patient_id}))


def program_edits(s: Session, row: Patient) -> list[ProgramOverride]:
    """The patient's program edits; no query when the statement that loaded the row found none (most patients). The
    row and its edits are then read at the same instant, where two statements could see different ones."""
    if row.has_program_edits is False:
        return []
    return overrides(s, row.clinic_id, row.id)


def add_override(
    s: Session,
    row: Patient,
    *,
    exercise_id: str,
    field: str,
    old_value: str | None,
    new_value: str,
    reason: str,
    user_id: int,
    now: dt.datetime | None = None,
) -> ProgramOverride:
    o = ProgramOverride(
        clinic_id=row.clinic_id,
        patient_id=row.id,
        exercise_id=exercise_id,
        field=field,
        old_value=old_value,
        new_value=new_value,
        reason=reason,
        user_id=user_id,
        created_at=now or utcnow(),
    )
    s.add(o)
    forget_evaluation(s, row)
    s.flush()
    set_committed_value(row, "has_program_edits", True)  # this session's later reads of the row see the edit
    return o


# --- patient links and home sessions ------------------------------------------------------------------------------


def create_link(
    s: Session, row: Patient, token: str, *, user_id: int, now: dt.datetime, lifetime: dt.timedelta
) -> PatientLink:
    link = PatientLink(
        clinic_id=row.clinic_id,
        patient_id=row.id,
        token_hash=sha256(token),
        created_by=user_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    s.add(link)
    s.flush()
    return link


def links(s: Session, clinic_id: int, patient_id: int) -> list[PatientLink]:
    return list(
        s.scalars(
            select(PatientLink)
            .where(PatientLink.clinic_id == clinic_id, PatientLink.patient_id == patient_id)
            .order_by(PatientLink.created_at.desc())
        )
    )


def link_by_token(s: Session, token: str) -> PatientLink | None:
    """The link a token belongs to, whether or not it is still valid."""
    return s.scalar(select(PatientLink).where(PatientLink.token_hash == sha256(token)))


def active_link(s: Session, token: str, now: dt.datetime) -> PatientLink | None:
    link = link_by_token(s, token)
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        return None
    return link


def questionnaire_responses(
    s: Session, clinic_id: int, patient_id: int, since: dt.datetime | None = None
) -> list[QuestionnaireResponse]:
    """The patient's own questionnaires, oldest first (only those submitted after `since` when given)."""
    stmt = select(QuestionnaireResponse).where(
        QuestionnaireResponse.clinic_id == clinic_id, QuestionnaireResponse.patient_id == patient_id
    )
    if since is not None:
        stmt = stmt.where(QuestionnaireResponse.submitted_at > since)
    return list(s.scalars(stmt.order_by(QuestionnaireResponse.submitted_at, QuestionnaireResponse.id)))


def sessions_logged_since(s: Session, link_id: int, since: dt.datetime) -> int:
    return s.scalar(
        select(func.count()).select_from(SessionLog).where(SessionLog.link_id == link_id, SessionLog.created_at > since)
    ) or 0


def session_logs(s: Session, clinic_id: int, patient_id: int) -> list[SessionLog]:
    return list(
        s.scalars(
            select(SessionLog)
            .where(SessionLog.clinic_id == clinic_id, SessionLog.patient_id == patient_id)
            .order_by(SessionLog.date, SessionLog.id)
        )
    )


# --- audit --------------------------------------------------------------------------------------------------------


def _text(value: str | None, limit: int) -> str | None:
    """One printable line of valid UTF-8: control characters (CR, LF, NUL) and unpaired surrogates become spaces or
    '?', so an event is one line wherever the log is shipped (log injection) and every database can store it."""
    if not value:
        return None
    flat = "".join(ch if ch.isprintable() else " " for ch in value)
    return flat.encode("utf-8", "replace").decode("utf-8")[:limit]


def audit(
    s: Session,
    *,
    action: str,
    actor: str,
    clinic_id: int | None,
    user_id: int | None = None,
    patient_id: int | None = None,
    detail: str | None = None,
    ip: str | None = None,
    outcome: str = "ok",
    now: dt.datetime | None = None,
) -> None:
    """Append one event to its clinic's hash chain in the caller's transaction (the log has no update or delete
    path; see `audit_chain`)."""
    audit_chain.append(
        s,
        audit_row(
            action=action,
            actor=actor,
            clinic_id=clinic_id,
            user_id=user_id,
            patient_id=patient_id,
            detail=detail,
            ip=ip,
            outcome=outcome,
            now=now,
        ),
    )


def audit_row(
    *,
    action: str,
    actor: str,
    clinic_id: int | None,
    user_id: int | None = None,
    patient_id: int | None = None,
    detail: str | None = None,
    ip: str | None = None,
    outcome: str = "ok",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """An audit event's fields as stored (text made one printable line, lengths bounded), not yet chained."""
    return {
        "at": now or utcnow(),
        "clinic_id": clinic_id,
        "user_id": user_id,
        "actor": _text(actor, 200) or "-",
        "action": action[:60],
        "patient_id": patient_id,
        "detail": _text(detail, 2000),
        "ip": _text(ip, 64),
        "outcome": outcome[:20],
    }


def login_failures_since(s: Session, username: str, since: dt.datetime) -> int:
    """Failed logins for a username after `since` and after that user's last successful login."""
    last_ok = s.scalar(
        select(func.max(AuditEvent.at)).where(AuditEvent.action == "auth.login", AuditEvent.actor == f"user:{username}")
    )
    start = max(since, last_ok) if last_ok is not None else since
    return (
        s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.actor == f"login:{username[:100]}",
                AuditEvent.action == "auth.login_failed",
                AuditEvent.at > start,
            )
        )
        or 0
    )


def audit_events(s: Session, clinic_id: int, *, patient_id: int | None = None, limit: int = 500) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.clinic_id == clinic_id)
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    return list(s.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def audit_search(
    s: Session,
    clinic_id: int,
    *,
    who: str | None = None,
    patient_id: int | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> tuple[list[AuditEvent], int | None]:
    """One page of a clinic's audit log, newest first, filtered. Pages follow the clinic's chain (`seq`), so a page
    stays stable while new events arrive; returns the rows and the `before` of the next page (None at the end)."""
    stmt = select(AuditEvent).where(AuditEvent.chain == clinic_id)
    if who:
        stmt = stmt.where(func.lower(AuditEvent.actor).contains(who.lower(), autoescape=True))
    if patient_id is not None:
        stmt = stmt.where(AuditEvent.patient_id == patient_id)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if before is not None:
        stmt = stmt.where(AuditEvent.seq < before)
    rows = list(s.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more and rows else None)


def audit_actions(s: Session, clinic_id: int) -> list[str]:
    return sorted(s.scalars(select(AuditEvent.action).where(AuditEvent.chain == clinic_id).distinct()))
