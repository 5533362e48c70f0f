"""The one service layer pages and the API share. No clinical logic here: evaluation is `hipext.app.evaluate_case`;
this module validates and stores patients and visits, caches evaluations (pure function of the case) and shapes
data for pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hipext import app as hipext_app
from hipext.caseio import parse_case
from hipext.core.case import Case
from hipext.core.errors import CaseInputError
from hipext.document import document_json
from hipext.store import repo
from hipext.store.models import Patient, ProgramOverride, SessionLog, Visit

log = logging.getLogger("hipext.web")

# Dose wording computed from the typed values: shown, never edited (edit the typed value it is computed from).
DOSE_WORDS = {"load", "effort", "rest", "frequency", "summary", "plain"}
NOT_DOSE_KEYS = {
    *DOSE_WORDS,
    "basis",
    "load_kind",
    "id",
    "name",
    "rationale",
    "precautions",
    "sources",
    "notes",
    "targets",
    "taxonomy",
    "level",
    "demands",
    "cues",
    "description",
    "modified",
    "alternative_to",
    "phase",
    "reason",
    "why",
    "video",
    "note",
    "exercise",
    "target",
    "watch_for",
    "emg",
    "regression",
    "progression",
}


class EvaluationView:
    """An evaluation, or why there is none. The JSON data (for pages) and the JSON bytes (for the API) are made
    from the pydantic model on first use and kept, since cached views are served many times."""

    def __init__(
        self,
        model: Any | None = None,
        error: str | None = None,
        problems: list[dict[str, Any]] | None = None,
    ) -> None:
        self.model = model
        self.error = error
        self.problems = problems or []
        self._data: dict[str, Any] | None = None
        self._json: bytes | None = None

    @property
    def data(self) -> dict[str, Any] | None:
        if self._data is None and self.model is not None:
            self._data = self.model.model_dump(mode="json")
        return self._data

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
        return evaluate_case_obj(case, as_of=as_of or hipext_app.default_as_of(case) or today, evaluator=evaluator)

    if cache is None:
        return compute()
    return cache.get_or_compute(content_key(data, as_of, today if undated else None), compute)


def evaluate_case_obj(case: Case, *, as_of: dt.date, evaluator: Any | None = None) -> EvaluationView:
    fn = evaluator or hipext_app.evaluate_case
    try:
        ev = fn(case, as_of=as_of)
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


def _duplicate_id(external_id: Any) -> list[dict[str, Any]]:
    return [{"path": "patient.id", "value": external_id, "expected": "an id not used by another patient"}]


def create_patient(
    db: Session, clinic_id: int, patient: dict[str, Any], history: dict[str, Any], *, user_id: int, now: dt.datetime
) -> Patient:
    """Validate a patient and history block like `hipext evaluate` does and store them (raises InputProblems)."""
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
    try:
        case = parse_case(
            {
                "hipext_case": 1,
                "patient": row.patient_json,
                "history": row.history_json if history is None else history,
                "visits": [visit],
            }
        )
    except CaseInputError as exc:
        raise InputProblems([p.as_dict() for p in exc.problems]) from None
    changed = False
    if history is not None:
        changed = repo.update_patient(
            db, row, row.patient_json, case.history.model_dump(mode="json", exclude_none=True), now=now, user_id=user_id
        )
    stored = repo.add_visit(
        db, row, case.visits[0].model_dump(mode="json", exclude_none=True), user_id=user_id, now=now
    )
    return stored, changed


# --- program and overrides -----------------------------------------------------------------------------------------


def blocked_exercise_ids(evaluation: dict[str, Any] | None) -> dict[str, str]:
    """Exercise ids screening blocked, with the reason when given."""
    out: dict[str, str] = {}
    screening = (evaluation or {}).get("screening") or {}
    for b in screening.get("blocked_exercises") or []:
        if isinstance(b, str):
            out[b] = "blocked by screening"
        elif isinstance(b, dict):
            key = b.get("id") or b.get("exercise") or b.get("exercise_id")
            if key:
                out[str(key)] = str(b.get("reason") or b.get("why") or "blocked by screening")
    return out


def dose_fields(exercise: dict[str, Any]) -> dict[str, Any]:
    """Scalar dose values of a prescribed exercise (sets, reps, load...): its `dose` block when it has one."""
    dose = exercise.get("dose")
    source = dose if isinstance(dose, dict) else exercise
    return {
        k: v
        for k, v in source.items()
        if k not in NOT_DOSE_KEYS and (isinstance(v, (str, int, float, bool)) or v is None) and v not in (None, "")
    }


def patient_instructions(ex: dict[str, Any], changed: dict[str, Any]) -> str:
    """The patient's wording for one exercise, with the clinician's typed dose edits applied."""
    from pydantic import ValidationError

    from hipext.care.dose_words import instructions
    from hipext.care.models import PrescribedExercise

    edits = {k: o.new_value for k, o in changed.items()}
    try:
        typed = PrescribedExercise.model_validate({**ex, "dose": {**ex["dose"], **edits}})
    except (ValidationError, KeyError, TypeError):
        return str(ex.get("patient_text") or "")
    return instructions(typed)


def effective_program(
    evaluation: dict[str, Any] | None, overrides: list[ProgramOverride]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The prescribed program with the clinician's overrides applied (latest per exercise and field)."""
    program = (evaluation or {}).get("program")
    if not program:
        return None, []
    blocked = blocked_exercise_ids(evaluation)
    exercises = []
    latest: dict[tuple[str, str], ProgramOverride] = {}
    for o in overrides:
        latest[(o.exercise_id, o.field)] = o
    for ex in program.get("exercises") or []:
        if not isinstance(ex, dict):
            continue
        ex_id = str(ex.get("id") or ex.get("exercise") or ex.get("name"))
        dose = dose_fields(ex)
        changed = {}
        for (oid, f), o in latest.items():
            if oid == ex_id and f != "include":
                dose[f] = o.new_value
                changed[f] = o
        removed = (ex_id, "include") in latest and latest[(ex_id, "include")].new_value == "no"
        exercises.append(
            {
                "id": ex_id,
                "exercise": ex,
                "dose": dose,
                "overridden": changed,
                "removed": removed,
                "added": False,
                "instructions": patient_instructions(ex, changed),
                "home": ex.get("supervision", "home") == "home",
            }
        )
    known = {e["id"] for e in exercises}
    for (oid, f), o in latest.items():
        if f == "include" and o.new_value == "yes" and oid not in known and oid not in blocked:
            exercises.append(
                {
                    "id": oid,
                    "exercise": {"id": oid, "name": oid.replace("_", " ")},
                    "dose": {},
                    "overridden": {"include": o},
                    "removed": False,
                    "added": True,
                    "instructions": "",
                    "home": not (program.get("supervised_only")),
                }
            )
    return program, exercises


# --- adherence -----------------------------------------------------------------------------------------------


def adherence(logs: list[SessionLog], today: dt.date, planned_per_week: float | None) -> dict[str, Any]:
    last14 = [lg for lg in logs if (today - lg.date).days < 14 and lg.completed]
    done = len(last14)
    percent = round(100 * done / (2 * planned_per_week)) if planned_per_week else None
    weeks: dict[str, int] = {}
    for lg in logs:
        if lg.completed:
            wk = (lg.date - dt.timedelta(days=lg.date.weekday())).isoformat()
            weeks[wk] = weeks.get(wk, 0) + 1
    return {
        "done_14d": done,
        "planned_per_week": planned_per_week,
        "percent": percent,
        "weeks": weeks,
        "total": len(logs),
    }


_PER_WEEK = re.compile(
    r"(\d+(?:\.\d+)?)(?:\s*(?:-|to)\s*\d+(?:\.\d+)?)?\s*(?:x|times|sessions?|days?)?\s*(?:per|/|a)\s*w(?:ee)?k"
)


def planned_per_week(exercises: list[dict[str, Any]]) -> float | None:
    """Sessions a week the program asks for, read from its frequency text (e.g. '3 sessions per week')."""
    for e in exercises:
        for k, v in e["dose"].items():
            if isinstance(v, (int, float)) and ("per_week" in k or k == "sessions_per_week"):
                return float(v)
            if isinstance(v, str) and ("freq" in k or "per_week" in k):
                m = _PER_WEEK.search(v.lower())
                if m:
                    return float(m.group(1))
                if "daily" in v.lower() or "every day" in v.lower():
                    return 7.0
    return None


def responses_from_logs(logs: list[SessionLog], since: dt.date | None) -> dict[str, Any]:
    """Summary of the patient's home sessions since the last visit, to prefill the follow-up form."""
    recent = [lg for lg in logs if since is None or lg.date > since]
    if not recent:
        return {}
    during = [lg.pain_during for lg in recent if lg.pain_during is not None]
    morning = [lg.pain_next_morning for lg in recent if lg.pain_next_morning is not None]
    return {
        "pain_during": max(during) if during else None,
        "pain_next_morning": max(morning) if morning else None,
        "sessions_done": sum(1 for lg in recent if lg.completed),
        "count": len(recent),
    }
