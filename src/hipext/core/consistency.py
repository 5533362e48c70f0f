"""A case that cannot contradict itself: the checks that run after the schema, on every part that parsed.

Errors are impossible combinations (a pain score of 12, an onset after the visit it brought about, the same test
entered twice in one visit, a diastolic pressure at or above the systolic): the case is refused, every problem listed
at once with its field path as the user wrote it. Warnings are possible but unusual values a clinician would confirm
(thresholds in `evidence/plausibility.yaml`); they are carried in the evaluation document and change nothing else.

The checks read `Parts`: the pieces of a case that validated. `parse_case` builds them from raw data when the schema
fails elsewhere, so schema and consistency problems are reported together; `review` builds them from a parsed case.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from hipext import evidence
from hipext.core.case import Case, ExerciseResponse, Measurement, Onset, Pregnancy, Restriction, Surgery, Vitals
from hipext.core.errors import Problem
from hipext.core.evaluation import Result
from hipext.evidence.models import Cited


@dataclass(frozen=True)
class Review:
    """What a case says against itself: `errors` refuse it, `warnings` ask the clinician to confirm an entry."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class VisitPart:
    path: str  # "visits[2]": where the visit sits in the user's file
    date: dt.date | None
    vitals: Vitals | None = None
    measurements: list[tuple[str, Measurement]] = field(default_factory=list)
    responses: list[tuple[str, ExerciseResponse]] = field(default_factory=list)


@dataclass(frozen=True)
class Parts:
    """The parts of a case the checks read, each present only if it validated."""

    sex: str | None = None
    born: dt.date | None = None
    onset: Onset | None = None
    surgery_date: dt.date | None = None
    restrictions: list[tuple[str, Restriction]] = field(default_factory=list)
    pregnancy: Pregnancy | None = None
    visits: list[VisitPart] = field(default_factory=list)

    @classmethod
    def of(cls, case: Case) -> Parts:
        h, s = case.history, case.history.surgery
        return cls(
            sex=case.patient.sex, born=case.patient.date_of_birth, onset=h.onset, surgery_date=s.date if s else None,
            restrictions=[(f"history.surgery.restrictions[{i}]", r) for i, r in enumerate(s.restrictions if s else [])],
            pregnancy=h.pregnancy,
            visits=[VisitPart(
                path=(vp := case.visit_path(k)), date=v.date, vitals=v.vitals,
                measurements=[(f"{vp}.measurements[{j}]", m) for j, m in enumerate(v.measurements)],
                responses=[(f"{vp}.exercise_responses[{j}]", r) for j, r in enumerate(v.exercise_responses)])
                for k, v in enumerate(case.visits)])

    @classmethod
    def from_raw(cls, data: dict[str, Any]) -> Parts:
        """The parts of raw case data that validate on their own (the schema failed somewhere else)."""
        patient, history = _mapping(data.get("patient")), _mapping(data.get("history"))
        surgery = _mapping(history.get("surgery"))
        parsed_surgery = _valid(Surgery, surgery)
        restrictions = surgery.get("restrictions")
        return cls(
            sex=patient.get("sex") if patient.get("sex") in ("female", "male") else None,
            born=_valid(dt.date, patient.get("date_of_birth")),
            onset=_valid(Onset, history.get("onset")),
            surgery_date=parsed_surgery.date if parsed_surgery else _valid(dt.date, surgery.get("date")),
            restrictions=[(f"history.surgery.restrictions[{i}]", r) for i, raw in enumerate(_list(restrictions))
                          if (r := _valid(Restriction, raw)) is not None],
            pregnancy=_valid(Pregnancy, history.get("pregnancy")),
            visits=[_raw_visit(f"visits[{i}]", _mapping(v)) for i, v in enumerate(_list(data.get("visits")))])


T = TypeVar("T")


def _valid(kind: type[T], raw: Any) -> T | None:
    if raw is None:
        return None
    try:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind.model_validate(raw)
        return TypeAdapter(kind).validate_python(raw)
    except (ValidationError, ValueError, TypeError):
        return None


def _mapping(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _raw_visit(path: str, raw: dict[str, Any]) -> VisitPart:
    def parsed(name: str, kind: type[T]) -> list[tuple[str, T]]:
        items = [(f"{path}.{name}[{j}]", _valid(kind, x)) for j, x in enumerate(_list(raw.get(name)))]
        return [(p, x) for p, x in items if x is not None]

    return VisitPart(path=path, date=_valid(dt.date, raw.get("date")), vitals=_valid(Vitals, raw.get("vitals")),
                     measurements=parsed("measurements", Measurement),
                     responses=parsed("exercise_responses", ExerciseResponse))


# ---------------------------------------------------------------------------------------------------------------
# Errors: combinations that cannot be true


def errors(parts: Parts) -> list[Problem]:
    """Every impossible combination in the parts that parsed, with the field path of each."""
    out = _dates(parts) + _restrictions(parts) + _pregnancy(parts)
    for v in parts.visits:
        out += _vitals(v) + _duplicates(v)
        for where, m in v.measurements:
            out += check_measurement(m, where)
    return out


def _dates(parts: Parts) -> list[Problem]:
    days = [v.date for v in parts.visits if v.date is not None]
    if not days:
        return []
    latest, out = max(days), []
    if parts.born and parts.born > min(days):
        out.append(Problem("patient.date_of_birth", parts.born.isoformat(),
                           f"a date before the first visit ({min(days).isoformat()})"))
    # A date may follow an early visit (a baseline before an injury, assessment before surgery), never the last one:
    # the evaluation is read at the last visit, and an onset or surgery still to come would turn timelines off.
    if parts.onset and parts.onset.date and parts.onset.date > latest:
        out.append(Problem("history.onset.date", parts.onset.date.isoformat(),
                           f"a date on or before the latest visit ({latest.isoformat()}); the complaint began before "
                           "it was assessed"))
    if parts.surgery_date and parts.surgery_date > latest:
        out.append(Problem("history.surgery.date", parts.surgery_date.isoformat(),
                           f"a date on or before the latest visit ({latest.isoformat()}); record a planned operation "
                           "in history.conditions until it has happened"))
    return out


def _restrictions(parts: Parts) -> list[Problem]:
    if parts.surgery_date is None:
        return []
    return [Problem(f"{where}.until", r.until.isoformat(),
                    f"a last day on or after the surgery date ({parts.surgery_date.isoformat()}); a restriction "
                    "cannot end before the operation it follows")
            for where, r in parts.restrictions if r.until is not None and r.until < parts.surgery_date]


def _pregnancy(parts: Parts) -> list[Problem]:
    p = parts.pregnancy
    if p is None or parts.sex != "male":
        return []
    name = "weeks_pregnant" if p.weeks_pregnant is not None else "weeks_postpartum"
    return [Problem(f"history.pregnancy.{name}", getattr(p, name),
                    "no pregnancy or postpartum weeks for patient.sex male (correct patient.sex or remove "
                    "history.pregnancy)")]


def _vitals(v: VisitPart) -> list[Problem]:
    s = v.vitals
    if s is None or s.systolic_mmhg is None or s.diastolic_mmhg is None or s.diastolic_mmhg < s.systolic_mmhg:
        return []
    return [Problem(f"{v.path}.vitals.diastolic_mmhg", s.diastolic_mmhg,
                    f"a diastolic pressure below the systolic ({s.systolic_mmhg} mmHg); the two may be swapped")]


def measurement_key(m: Measurement) -> tuple[object, ...]:
    """What makes two entries of a visit the same result: test, side, context and, for isokinetic tests, speed and
    contraction mode (the interpretation pairs sides and compares visits by this key, so a second entry would
    silently replace the first)."""
    return (m.test, m.side, m.context, m.velocity_deg_s, m.mode)


def _duplicates(v: VisitPart) -> list[Problem]:
    out = []
    seen: dict[tuple[object, ...], str] = {}
    for where, m in v.measurements:
        key = measurement_key(m)
        if key in seen:
            what = ", ".join(f"{n} {x}" for n, x in zip(("side", "context", "velocity_deg_s", "mode"), key[1:],
                                                         strict=True) if x is not None)
            out.append(Problem(f"{where}.test", m.test,
                               f"one entry per test{' (' + what + ')' if what else ''} in a visit: {seen[key]} "
                               "already has it; put every trial in one entry, or give each a different context"))
        else:
            seen[key] = where
    done: dict[str, str] = {}
    for where, r in v.responses:
        if r.exercise in done:
            out.append(Problem(f"{where}.exercise", r.exercise,
                               f"one response per exercise in a visit: {done[r.exercise]} already has it"))
        else:
            done[r.exercise] = where
    return out


def check_measurement(m: Measurement, where: str) -> list[Problem]:
    """What a test needs is data (protocols.yaml); this is the one generic check of it."""
    protocols = evidence.load().protocols
    proto = protocols.get(m.test)
    if proto is None:
        near = sorted(p for p in protocols if p.split("_")[0] == m.test.split("_")[0])
        hint = f" (similar: {', '.join(near)})" if near else ""
        return [Problem(f"{where}.test", m.test, f"a known test id{hint}; `hipext evidence list` shows them")]
    problems = []
    for need in proto.requires:
        options = need.split("|")
        if all(getattr(m, f) is None for f in options):
            problems.append(Problem(f"{where}.{options[0]}", None, f"{' or '.join(options)} for test {m.test}"))
    if proto.bilateral and m.side is None:
        problems.append(Problem(f"{where}.side", None, f"left or right for test {m.test}"))
    if not proto.bilateral and m.side is not None:
        problems.append(Problem(f"{where}.side", m.side, f"no side: {m.test} is not a one-side test"))
    if proto.kind == "pain" and m.value is not None and not 0 <= m.value <= 10:
        problems.append(Problem(f"{where}.value", m.value, "a pain rating from 0 to 10"))
    if proto.kind == "prom" and proto.instrument and m.items is not None:
        problems += _check_items(m, proto.instrument, where)
    return problems


def _check_items(m: Measurement, instrument: str, where: str) -> list[Problem]:
    rule = evidence.load().proms[instrument]
    problems = []
    for k, v in (m.items or {}).items():
        if not isinstance(k, int) or not 1 <= k <= rule.items:
            problems.append(Problem(f"{where}.items", k, f"item numbers 1-{rule.items} for {rule.name}"))
            continue
        if v is None:
            continue
        allowed = rule.item_allowed_values.get(k)
        branches = rule.item_branches.get(k)
        top = rule.item_max_overrides.get(k, rule.item_max)
        if allowed is not None and v not in allowed:
            problems.append(Problem(f"{where}.items.{k}", v, f"one of {allowed}"))
        elif branches is not None and not any(v in answers for answers in branches.values()):
            listed = "; ".join(f"{name}: {', '.join(f'{a:g}' for a in answers)}" for name, answers in branches.items())
            problems.append(Problem(f"{where}.items.{k}", v, f"an answer one of the item's branches allows ({listed})"))
        elif not rule.item_min <= v <= top:
            problems.append(Problem(f"{where}.items.{k}", v, f"a response from {rule.item_min:g} to {top:g}"))
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Warnings: possible, but worth confirming


class Plausibility(Cited):
    """A plausibility threshold (`evidence/plausibility.yaml`); a hipext choice, never a clinical norm."""

    id: str
    value: float
    unit: str


@lru_cache(maxsize=1)
def plausibility() -> dict[str, Plausibility]:
    return {r["id"]: Plausibility(**r) for r in evidence.read_yaml("evidence/plausibility.yaml")}


def warnings(case: Case, results: Sequence[Result] | None = None) -> list[Problem]:
    """Entries a clinician would confirm before believing them. `results` are the interpretation's (read for the
    LSIs; interpreted here when not given)."""
    if results is None:
        from hipext.core.interpret import interpret  # noqa: PLC0415 - interpretation builds on the case, not on this

        results = interpret(case, evidence.load())[0]
    parts = Parts.of(case)
    out = _visits_before_onset(parts)
    for v in parts.visits:
        for where, m in v.measurements:
            out += _trial_outliers(m, where)
    out += _low_lsi(case, results)
    out += _surgery_side(case)
    return out


def _visits_before_onset(parts: Parts) -> list[Problem]:
    onset = parts.onset.date if parts.onset else None
    return [Problem(f"{v.path}.date", v.date.isoformat(),
                    f"a visit on or after the onset ({onset.isoformat()}); confirm this visit was a baseline before "
                    "the complaint began, or correct the dates")
            for v in parts.visits if onset and v.date and v.date < onset]


_TRIAL_FIELDS: dict[str, Callable[[Measurement], Sequence[float] | None]] = {
    "trials_n": lambda m: m.trials_n, "trials_lbf": lambda m: m.trials_lbf, "trials_kgf": lambda m: m.trials_kgf,
    "trials_nm": lambda m: m.trials_nm}


def _trial_outliers(m: Measurement, where: str) -> list[Problem]:
    limit = plausibility()["trial_ratio"].value
    out = []
    for name, get in _TRIAL_FIELDS.items():
        trials = list(get(m) or [])
        if len(trials) == 2 and max(trials) > min(trials) * limit:  # two trials: which one is off cannot be told
            out.append(Problem(f"{where}.{name}", trials, f"trials within {limit:g} times each other; confirm the "
                               "entry (a slipped decimal, another unit or another test?)"))
            continue
        typical = statistics.median(trials) if len(trials) > 2 else 0.0
        for i, x in enumerate(trials if typical else []):
            if x > typical * limit or x * limit < typical:
                out.append(Problem(f"{where}.{name}[{i}]", x,
                                   f"a trial within {limit:g} times the median of the trials ({typical:g}); confirm "
                                   "the entry (a slipped decimal, another unit or another test?)"))
    return out


def _low_lsi(case: Case, results: Sequence[Result]) -> list[Problem]:
    limit = plausibility()["lsi_min"].value
    involved = case.history.involved_side
    out, seen = [], set()
    for r in results:
        if r.lsi_percent is None or r.lsi_percent >= limit or r.side != involved:
            continue
        key = (r.date, r.test, r.context)
        if key in seen:
            continue
        seen.add(key)
        out.append(Problem(_result_path(case, r), r.lsi_percent,
                           f"a limb symmetry index of at least {limit:g} % for {r.name}; confirm the sides were not "
                           "swapped and both entries are in the same unit"))
    return out


def _result_path(case: Case, r: Result) -> str:
    """The measurement a result was read from, as the user wrote it (the first entry of that test and side)."""
    for k, v in enumerate(case.visits):
        if v.date != r.date:
            continue
        for j, m in enumerate(v.measurements):
            if m.test == r.test and m.side == r.side:
                return f"{case.visit_path(k)}.measurements[{j}]"
    return "visits"


def _surgery_side(case: Case) -> list[Problem]:
    h = case.history
    if h.surgery is None or h.surgery.side is None or h.involved_side in ("both", h.surgery.side):
        return []
    return [Problem("history.involved_side", h.involved_side,
                    f"the operated side ({h.surgery.side}) unless the complaint is on the other side; the LSI and "
                    "precautions are read from the involved side")]


def review(case: Case, results: Sequence[Result] | None = None) -> Review:
    """Errors and warnings of a parsed case (the checks `parse_case` runs, plus the warnings to confirm)."""
    return Review(errors=errors(Parts.of(case)), warnings=warnings(case, results))
