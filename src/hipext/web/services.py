"""The one service layer pages and the API share. No clinical logic here: evaluation is `hipext.app.evaluate_case`;
this module validates and stores patients and visits, caches evaluations (pure function of the case) and shapes
data for pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hipext import app as hipext_app
from hipext.care.overrides import Override
from hipext.caseio import parse_case
from hipext.core.case import Case, age_on
from hipext.core.case import Visit as CaseVisit
from hipext.core.errors import CaseInputError
from hipext.document import Evaluation, document_json
from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride, Visit
from hipext.web.record_check import whole_after

log = logging.getLogger("hipext.web")


class EvaluationView:
    """An evaluation, or why there is none. The JSON data (for pages) and the JSON bytes (for the API) are made
    from the pydantic model on first use and kept, since cached views are served many times."""

    def __init__(
        self,
        model: Any | None = None,
        error: str | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> None:
        self._model = model
        self.error = error
        self.problems = problems or []
        self._data: dict[str, Any] | None = None
        self._json: bytes | None = None

    @classmethod
    def stored(cls, document: bytes) -> EvaluationView:
        """A view of a stored evaluation document: the API answers with its bytes as they are; the typed model is
        parsed from them only when a page needs it."""
        view = cls()
        view._json = document
        return view

    @property
    def model(self) -> Any | None:
        if self._model is None and self._json is not None and self.error is None:
            self._model = Evaluation.model_validate_json(self._json)
        return self._model

    @property
    def data(self) -> dict[str, Any] | None:
        if self._data is None and self._model is None and self._json is not None and self.error is None:
            self._data = json.loads(self._json)  # the same values as the model's JSON dump, without the model
        elif self._data is None and self.model is not None:
            self._data = self.model.model_dump(mode="json")
        return self._data

    @property
    def ok(self) -> bool:
        """There is a document (without parsing a stored one)."""
        return self._model is not None or (self._json is not None and self.error is None)

    @property
    def json_bytes(self) -> bytes:
        if self._json is None:
            self._json = document_json(self.model).encode() if self.model is not None else b"null"
        return self._json


def approx_bytes(value: Any) -> int:
    """Memory an entry holds, estimated from its serialised size: an evaluation keeps its model, its dict and its
    JSON (measured about 4.3 times the JSON's length for the example case), a fragment its text."""
    if isinstance(value, EvaluationView):
        return 5 * len(value.json_bytes) + 1024
    if isinstance(value, bytes):  # a stored evaluation document, kept as bytes
        return len(value) + 256
    return 2 * len(str(value)) + 256


class EvaluationCache:
    """evaluate_case is pure, so its output for the same stored case and day can be reused. Bounded in bytes, not
    entries: a few huge cases cannot hold gigabytes, and an entry larger than a quarter of the budget is not kept.
    Only stored records are cached (unsaved cases posted to the API are evaluated and forgotten)."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self._data: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def get_or_compute(self, key: str, compute: Any) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit[0]
        value = compute()
        size = approx_bytes(value)
        if size > self.max_bytes // 4:
            return value
        with self._lock:
            old = self._data.pop(key, None)
            self.bytes += size - (old[1] if old else 0)
            self._data[key] = (value, size)
            while self.bytes > self.max_bytes:
                _k, (_v, n) = self._data.popitem(last=False)
                self.bytes -= n
        return value


def content_key(*parts: Any) -> str:
    """A cache key for content that is a pure function of `parts` (case data, day, override ids...)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def evaluate_data(
    data: dict[str, Any],
    *,
    as_of: dt.date | None = None,
    today: dt.date,
    cache: EvaluationCache | None,
    evaluator: Any | None = None,
    overrides: Sequence[Override] = (),
) -> EvaluationView:
    """Validate and evaluate a case given as plain data, through the same functions as `hipext evaluate`.

    `as_of` defaults, as in the CLI, to the latest visit; `today` (the app's clock) only dates a case with no visits.
    """
    undated = as_of is None and not data.get("visits")

    def compute() -> EvaluationView:
        try:
            case = parse_case(data)
        except CaseInputError as exc:
            return EvaluationView(None, "The case has input problems.", [p.as_dict() for p in exc.problems])
        day = as_of or hipext_app.default_as_of(case) or today
        return evaluate_case_obj(case, as_of=day, evaluator=evaluator, overrides=overrides)

    if cache is None:
        return compute()
    edits = [o.model_dump(mode="json") for o in overrides]
    return cache.get_or_compute(content_key(data, as_of, today if undated else None, edits), compute)


def care_overrides(rows: Sequence[ProgramOverride]) -> list[Override]:
    """The stored edits as the care function takes them (the stored old value is the engine's value then)."""
    return [
        Override(
            exercise=o.exercise_id,
            field=o.field,
            value=o.new_value,
            engine_value=o.old_value,
            reason=o.reason,
            by=o.user.display_name if o.user else None,
            at=o.created_at,
            id=o.id,
        )
        for o in rows
    ]


def evaluate_case_obj(
    case: Case, *, as_of: dt.date, evaluator: Any | None = None, overrides: Sequence[Override] = ()
) -> EvaluationView:
    fn = evaluator or hipext_app.evaluate_case
    try:
        ev = fn(case, as_of=as_of, overrides=overrides) if overrides else fn(case, as_of=as_of)
    except NotImplementedError:
        return EvaluationView(None, "The evaluation engine is not available in this build.")
    except Exception:  # noqa: BLE001 - an engine bug must not lock clinicians out of the record
        log.exception("evaluate_case failed")
        return EvaluationView(None, "The evaluation could not be computed for this case; the error has been logged.")
    return EvaluationView(ev)


def trend_series(evaluation: dict[str, Any] | None) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    """Each test's numeric results over the visits, from the one evaluation (it interprets every visit)."""
    series: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for r in (evaluation or {}).get("results", []):
        if isinstance(r.get("value"), (int, float)):
            series.setdefault((r["test"], r.get("side")), []).append(r)
    return {k: sorted(v, key=lambda r: r["date"]) for k, v in series.items() if len(v) >= 2}


# --- writing patients and visits -----------------------------------------------------------------------------


class InputProblems(Exception):
    """The input was refused; `problems` lists every problem ({path, value, expected}), nothing was stored."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} input problem(s)")
        self.problems = problems


def with_age(patient: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """A patient given by date of birth gets the age it implies today (evaluations reckon it at their own date).
    A date of birth after today is refused at that field, not reported as an impossible age."""
    if not patient.get("date_of_birth"):
        return patient
    try:
        born = dt.date.fromisoformat(str(patient["date_of_birth"]))
    except ValueError:
        return patient  # validation names the date
    if born > today:
        raise InputProblems(
            [{"path": "patient.date_of_birth", "value": born.isoformat(), "expected": f"a date up to {today}"}]
        )
    return patient if patient.get("age") not in (None, "") else patient | {"age": age_on(born, today)}


def _checked(written: dict[str, Any], row: Patient, **write: Any) -> tuple[Case, CaseVisit | None]:
    """The record as it would stand after the write, validated whole (raises InputProblems with the problems the
    write brings in); when the record has problems of its own, the written part is validated alone."""
    case, visit, problems = whole_after(row, **write)
    if problems:
        raise InputProblems([p.as_dict() for p in problems])
    if case is None:
        try:
            case = parse_case(written)
        except CaseInputError as exc:
            raise InputProblems([p.as_dict() for p in exc.problems]) from None
        visit = case.visits[0] if case.visits else None
    return case, visit


def _duplicate_id(external_id: Any) -> list[dict[str, Any]]:
    return [{"path": "patient.id", "value": external_id, "expected": "an id not used by another patient"}]


def create_patient(
    db: Session, clinic_id: int, patient: dict[str, Any], history: dict[str, Any], *, user_id: int, now: dt.datetime
) -> Patient:
    """Validate a patient and history block like `hipext evaluate` does and store them (raises InputProblems)."""
    patient = with_age(patient, now.date())
    try:
        case = parse_case({"hipext_case": 1, "patient": patient, "history": history, "visits": []})
    except CaseInputError as exc:
        raise InputProblems([p.as_dict() for p in exc.problems]) from None
    if repo.patient_by_external_id(db, clinic_id, case.patient.id):
        raise InputProblems(_duplicate_id(case.patient.id))
    try:
        return repo.create_patient(
            db,
            clinic_id,
            case.patient.model_dump(mode="json", exclude_none=True),
            case.history.model_dump(mode="json", exclude_none=True),
            now=now,
            user_id=user_id,
        )
    except IntegrityError:  # the same id created by a concurrent request
        db.rollback()
        raise InputProblems(_duplicate_id(case.patient.id)) from None


def add_visit(
    db: Session,
    row: Patient,
    visit: dict[str, Any],
    *,
    user_id: int,
    now: dt.datetime,
    history: dict[str, Any] | None = None,
) -> tuple[Visit, bool]:
    """Validate a visit (with the history as it now stands, when given) and store it (raises InputProblems).

    Returns the stored visit and whether the history changed (a changed history is kept as a new version)."""
    written = {"hipext_case": 1, "patient": row.patient_json,
               "history": row.history_json if history is None else history, "visits": [visit]}
    case, checked = _checked(written, row, history=history, visit=visit)
    assert checked is not None
    changed = False
    if history is not None:
        changed = repo.update_patient(
            db, row, row.patient_json, case.history.model_dump(mode="json", exclude_none=True), now=now, user_id=user_id
        )
    stored = repo.add_visit(db, row, checked.model_dump(mode="json", exclude_none=True), user_id=user_id, now=now)
    return stored, changed


def reason_problems(reason: str | None) -> list[dict[str, Any]]:
    """A correction needs its reason (kept with the version it creates)."""
    if len((reason or "").strip()) >= 3:
        return []
    return [
        {"path": "reason", "value": reason or None, "expected": "the reason for the change (at least 3 characters)"}
    ]


def amend_visit(
    db: Session, row: Patient, visit: Visit, data: dict[str, Any], *, reason: str, user_id: int, now: dt.datetime
) -> bool:
    """Validate the corrected visit like a new one and keep it as a new version (raises InputProblems)."""
    written = {"hipext_case": 1, "patient": row.patient_json, "history": row.history_json, "visits": [data]}
    _, checked = _checked(written, row, visit=data, replacing=visit)
    assert checked is not None
    clean = checked.model_dump(mode="json", exclude_none=True)
    return repo.amend_visit(db, row, visit, clean, reason=reason, user_id=user_id, now=now)


def amend_patient(
    db: Session, row: Patient, patient: dict[str, Any], *, reason: str, user_id: int, now: dt.datetime
) -> bool:
    """Validate the corrected patient block with the whole case and keep it as a new version (raises InputProblems)."""
    problems = reason_problems(reason)
    try:
        patient = with_age(patient, now.date())
    except InputProblems as exc:
        raise InputProblems(exc.problems + problems) from None
    try:
        case = parse_case(dict(repo.case_data(row), patient=patient))
    except CaseInputError as exc:
        problems = [p.as_dict() for p in exc.problems] + problems
    if problems:
        raise InputProblems(problems)
    clean = case.patient.model_dump(mode="json", exclude_none=True)
    if clean["id"] != row.external_id and repo.patient_by_external_id(db, row.clinic_id, clean["id"]):
        raise InputProblems(_duplicate_id(clean["id"]))
    return repo.amend_patient(db, row, clean, reason=reason.strip(), user_id=user_id, now=now)
