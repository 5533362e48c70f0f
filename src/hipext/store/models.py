"""Relational shape of the clinic store. A patient's clinical record is the case file (validated JSON);
the rows around it hold who may see it, what was changed and by whom."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are stored and returned as timezone-aware UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, dt.datetime: UTCDateTime}


ROLES = ("admin", "clinician", "read_only")


class Clinic(Base):
    __tablename__ = "clinics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[dt.datetime]
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # TOTP second factor (RFC 6238): the base32 secret, when it was confirmed, and the last time step accepted
    # (a code is good once: ASVS 6.5.1).
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clinic: Mapped[Clinic] = relationship(lazy="joined")

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None and bool(self.totp_secret)


class RecoveryCode(Base):
    """One-time second-factor recovery code; only its SHA-256 is stored (the code has 80 random bits)."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class PasswordReset(Base):
    """A one-time password-reset link an administrator made for a user of their clinic (token stored hashed)."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class WebSession(Base):
    """Server-side session. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    # "full" once every factor is in; "totp" while the second factor is awaited; "enrol" while an administrator
    # must first set up a second factor. Only "full" sessions reach any page but the sign-in steps.
    stage: Mapped[str] = mapped_column(String(10), default="full", server_default="full")
    totp_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("clinic_id", "external_id", name="uq_patient_clinic_external"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    age: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(10))
    body_mass_kg: Mapped[float] = mapped_column(Float)
    patient_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    history_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    visits: Mapped[list[Visit]] = relationship(order_by="Visit.date, Visit.id", lazy="selectin")
    # Whether the patient has program edits, when the query that loaded the row asked (`hipext.store.repo`): None
    # otherwise. Edits are never deleted, so once true it stays true.
    has_program_edits: Mapped[bool | None] = query_expression(expire_on_flush=False)

    @property
    def active_visits(self) -> list[Visit]:
        """The visits that make up the case: voided (entered-in-error) visits are kept but left out."""
        return [v for v in self.visits if v.voided_at is None]


class HistoryVersion(Base):
    """Every version of a patient's history, kept: a change never overwrites what was recorded before."""

    __tablename__ = "history_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    history_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime]
    user: Mapped[User | None] = relationship(lazy="joined")


class Visit(Base):
    """A visit as it now stands; every version (the first as recorded, then each amendment) is in visit_versions."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    data_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime]
    voided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    voided_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VisitVersion(Base):
    """One version of a visit, kept forever: the first as recorded (reason None), then each amendment."""

    __tablename__ = "visit_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    data_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime]
    user: Mapped[User | None] = relationship(lazy="joined")


class PatientVersion(Base):
    """One version of the patient block (identity, body measures, goals), kept forever, with the reason."""

    __tablename__ = "patient_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    patient_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime]
    user: Mapped[User | None] = relationship(lazy="joined")


class ProgramOverride(Base):
    """One clinician change to a prescribed exercise. Never updated: the latest row per field wins."""

    __tablename__ = "program_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    exercise_id: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    new_value: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    user: Mapped[User] = relationship(lazy="joined")


class PatientLink(Base):
    __tablename__ = "patient_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # The questionnaires the clinician asked the patient to fill in through this link (test ids, in order).
    questionnaires_json: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class SessionLog(Base):
    """A home session logged by the patient through their link."""

    __tablename__ = "session_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("patient_links.id"), nullable=True)
    date: Mapped[dt.date] = mapped_column(Date)
    exercise_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    completed: Mapped[bool] = mapped_column(Boolean, default=True)
    pain_during: Mapped[float | None] = mapped_column(Float, nullable=True)
    pain_next_morning: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Each exercise's own entry: {exercise id: {completed, pain_during, pain_next_morning}}. The session's
    # pain_during / pain_next_morning are the highest of these (or the patient's rating of the whole session).
    exercises_json: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime]


class QuestionnaireResponse(Base):
    """A questionnaire the patient completed through their link: the case file's measurement, validated."""

    __tablename__ = "questionnaire_responses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("patient_links.id"), nullable=True)
    test: Mapped[str] = mapped_column(String(60))
    measurement_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[dt.datetime]


class StoredEvaluation(Base):
    """A patient's evaluation (the `hipext evaluate` document, as of the latest visit, with the clinician's program
    edits), computed when the record is saved and kept with it. Valid only while both keys match: `version` (the
    packaged clinical data and the engine that made it) and `record_key` (a hash of the case and edits it was made
    from); every write to the record also deletes it. Patient data: read only through the clinic-scoped patient."""

    __tablename__ = "stored_evaluations"
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True, autoincrement=False)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    record_key: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column(Date)
    document: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[dt.datetime]


class AuditEvent(Base):
    """Append-only and tamper-evident. No code path updates or deletes these rows, a trigger rejects it, and on
    PostgreSQL the app's role may only INSERT and SELECT. Each row carries an HMAC chained to the previous row of
    its clinic's chain (`hipext.store.audit_chain`), so an edit, a deletion or a forged row shows on verification."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_clinic_at", "clinic_id", "at"),
        Index("ix_audit_actor_at", "actor", "at"),
        UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime]
    clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    chain: Mapped[int] = mapped_column(Integer)  # the clinic id; 0 for events with no clinic
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... within the chain
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))  # which key signed the row ("none": plain SHA-256)
    # Set by the database, not the app: a row the app backdates still shows when it was written.
    recorded_at: Mapped[dt.datetime | None] = mapped_column(server_default=func.now(), nullable=True)


class AuditHead(Base):
    """The last link of each audit chain: appending locks this row, so concurrent writers never fork a chain."""

    __tablename__ = "audit_heads"
    chain: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Throttle(Base):
    """Failure counters with exponential back-off (logins per account, address and pair; patient-link guesses).
    Kept in the database so the limits hold across worker processes and restarts."""

    __tablename__ = "throttles"
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    failures: Mapped[float] = mapped_column(Float, default=0.0)  # leaks away over the policy's window
    blocked_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime]
