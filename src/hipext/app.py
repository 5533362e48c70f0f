"""Application layer: the one way in for the CLI, the web app and tests. Pure: no I/O beyond the evidence files."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from hipext import __version__, evidence
from hipext.care import data
from hipext.care.guard import assert_nothing_blocked
from hipext.care.models import Program
from hipext.care.overrides import Override, OverrideStatus, review
from hipext.care.overrides import apply as apply_overrides
from hipext.care.plan import plan_care
from hipext.care.screening import screen
from hipext.core.case import Case, age_on
from hipext.core.consistency import warnings as case_warnings
from hipext.core.evaluation import Finding, Result
from hipext.core.interpret import age_group, evaluated_visit_date, interpret
from hipext.core.measures import STANDARD_GRAVITY
from hipext.document import CaseWarning, Evaluation, PatientSummary, SourceRef
from hipext.evidence.models import Evidence


def patient_summary(case: Case) -> PatientSummary:
    p = case.patient
    return PatientSummary(
        id=p.id, age=p.age, sex=p.sex, body_mass_kg=p.body_mass_kg, height_m=p.height_m,
        body_weight_n=round(p.body_mass_kg * STANDARD_GRAVITY, 1),
        bmi_kg_m2=round(p.body_mass_kg / p.height_m**2, 1) if p.height_m else None,
        age_group=age_group(p.age), activity_level=p.activity_level, goals=p.goals,
        involved_side=case.history.involved_side,
    )


def cited_sources(document: Any) -> list[str]:
    """Every source id under any `sources` key, in order of first appearance."""
    return list(_source_lists(document)[0])


def _source_lists(document: Any) -> tuple[dict[str, None], list[tuple[tuple[Any, ...], list[Any]]]]:
    """The source ids cited anywhere in a dumped document (ordered), and where each `sources` list is: the path
    of keys and indexes to the container that holds it, with the list."""
    found: dict[str, None] = {}
    lists: list[tuple[tuple[Any, ...], list[Any]]] = []
    if isinstance(document, (dict, list)):
        _walk_sources(document, [], found, lists)
    return found, lists


def _walk_sources(x: dict[str, Any] | list[Any], path: list[Any], found: dict[str, None],
                  lists: list[tuple[tuple[Any, ...], list[Any]]]) -> None:
    # A module function, not a closure calling itself: such a closure is a reference cycle that would keep the
    # whole document for the garbage collector, whose passes then grow with the case (evaluation not linear).
    for k, v in (x.items() if isinstance(x, dict) else enumerate(x)):  # recurses into containers only
        if k == "sources" and isinstance(v, list):
            found.update((s, None) for s in v if isinstance(s, str))
            lists.append((tuple(path), v))
        elif isinstance(v, (dict, list)):
            path.append(k)
            _walk_sources(v, path, found, lists)
            path.pop()


def capacity_section(case: Case, results: list[Result], ev: Evidence) -> dict[str, Any] | None:
    """Torque capacity over hip angle and speed, and the share of it that tasks use, from measured strength.

    Scaled from the latest isometric (else isokinetic) hip extension torque of the involved side, or of the weaker
    side when no single side is involved.
    """
    from hipext.biomech.capacity import capacity_report  # numpy only; imported here to keep start-up lean

    visit = case.latest_visit
    if visit is None:
        return None
    strength = [r for r in results if r.date == visit.date and r.kind in ("hhd", "isokinetic") and r.torque_nm]
    if not strength:
        return None
    measured = strength
    strength = [r for r in strength if ev.protocols[r.test].hip_angle_deg is not None]
    if not strength:
        return {"available": False, "reason": (
            f"Strength was measured ({', '.join(sorted({r.name for r in measured}))}), but the protocol does not fix "
            "the hip angle, so the torque-angle capacity cannot be scaled to it.")}
    strength.sort(key=lambda r: (r.kind != "hhd", r.torque_nm))  # isometric first, then the weaker side
    involved = case.history.involved_side
    pick = next((r for r in strength if r.side == involved), strength[0])
    m = next(m for m in visit.measurements if m.test == pick.test and m.side == pick.side)
    proto = ev.protocols[pick.test]
    p = case.patient
    report = capacity_report(
        sex=p.sex, age=p.age, body_mass_kg=p.body_mass_kg, height_m=p.height_m, measured_torque_nm=pick.torque_nm,
        test_hip_flexion_deg=proto.hip_angle_deg, test_knee_flexion_deg=proto.knee_angle_deg,
        test_velocity_deg_s=m.velocity_deg_s or 0.0, test_mode=m.mode or "isometric",
    )
    return {"available": True, "side": pick.side, "from_test": pick.test, **report}


def default_as_of(case: Case) -> dt.date | None:
    """The evaluation date when none is given: the latest visit's (None for a case with no visits yet)."""
    return evaluated_visit_date(case)


def evaluate_case(case: Case, *, as_of: dt.date | None = None, overrides: Sequence[Override] = ()) -> Evaluation:
    """Screen, interpret, prescribe and explain one case as of a date.

    Screening runs first and binds everything after it: measurements of blocked tests are not interpreted, blocked
    exercises are never prescribed, and the finished document is checked for any blocked id before it is returned.
    `as_of` (default: the latest visit) is the date precautions, timelines and follow-up are reckoned from; visits
    after it are left out. `overrides` are the clinician's edits to the program (`hipext.care.overrides.apply`): the
    sections that describe the program, and every adapter, then read the edited program. Time is an input: the same
    case, date and edits always give the same document. A case with no visits has no default date, so its caller must
    say which (the CLI and the web use the current date).
    """
    with _gc_paused():
        return _evaluate(case, as_of, overrides)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection during one evaluation: its objects are short-lived and freed by reference
    counting, and full collections over a growing heap made the cost per visit grow with the number of visits."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _evaluate(case: Case, as_of: dt.date | None, overrides: Sequence[Override]) -> Evaluation:
    ev = evidence.load()
    as_of = as_of or default_as_of(case)
    if as_of is None:
        raise ValueError("as_of is required for a case with no visits (there is no visit date to default to)")
    if any(v.date > as_of for v in case.visits):
        case = case.model_copy(update={"visits": [v for v in case.visits if v.date <= as_of]})
    if case.patient.date_of_birth:  # age on the evaluation date, not on the day it was typed
        case = case.model_copy(update={"patient": case.patient.model_copy(
            update={"age": age_on(case.patient.date_of_birth, as_of)})})
    screening = screen(case, today=as_of)
    blocked = set(screening.blocked_tests)
    results, findings = interpret(case, ev, blocked_tests=blocked)
    withheld = sum(m.test in blocked for v in case.visits for m in v.measurements)
    if withheld:
        findings.insert(0, Finding(topic="measurement", concern=True, sources=screening.sources, statement=(
            f"{withheld} recorded measurement(s) of tests that screening advises against now were not interpreted; "
            "see the screening section.")))
    library, blocked_ex = data.exercises(), set(screening.blocked_exercises)
    edits: list[OverrideStatus] = []

    def edit(program: Program) -> Program:  # the clinician's edits, judged against the engine's own program
        edits.extend(review(program, overrides, library=library, blocked=blocked_ex))
        return apply_overrides(program, overrides, library=library, blocked=blocked_ex)

    plan = plan_care(case, results, findings, screening, today=as_of, edit=edit if overrides else None)
    evaluation = Evaluation(
        hipext_version=__version__, as_of=as_of, evaluated_visit=evaluated_visit_date(case),
        patient=patient_summary(case), warnings=[CaseWarning.of(p) for p in case_warnings(case, results)],
        screening=screening, results=results, findings=findings,
        capacity=capacity_section(case, results, ev),
        program=plan.program, progression=plan.progression, follow_up=plan.follow_up,
        return_to_activity=plan.return_to_activity, aftercare=plan.aftercare, education=plan.education,
        clinician_edits=edits,
    )
    doc = evaluation.model_dump(mode="json")
    assert_nothing_blocked(doc, screening)  # fail closed: a blocked id anywhere is a bug, never output
    found, lists = _source_lists(doc)
    cited = list(found)
    unknown = [sid for sid in cited if sid not in ev.references]
    if unknown:  # a data bug; tests walk every shipped case for it
        raise KeyError(f"source ids not in any bibliography: {unknown}")
    # Only complete records justify anything a clinician reads; the others stay in the data, marked incomplete.
    complete = _complete_ids(ev)
    incomplete = {sid for sid in cited if sid not in complete}
    if incomplete:
        at = [p for p, ids in lists if any(isinstance(i, str) and i in incomplete for i in ids)]
        if not _drop_sources_at(evaluation, at, incomplete):
            drop_sources(evaluation, incomplete)
    refs = []
    for sid in cited:
        if sid in incomplete:
            continue
        ref = ev.references[sid]
        refs.append(SourceRef(id=sid, citation=f"{ref.authors} ({ref.year}). {ref.title}. {ref.journal}.",
                              doi=ref.doi, url=ref.url, link=ref.link))
    evaluation.sources = refs
    return evaluation


_COMPLETE: list[tuple[Evidence, frozenset[str]]] = []


def _complete_ids(ev: Evidence) -> frozenset[str]:
    """Ids of the complete bibliography records, worked out once per loaded evidence base."""
    if _COMPLETE and _COMPLETE[0][0] is ev:
        return _COMPLETE[0][1]
    ids = frozenset(sid for sid, ref in ev.references.items() if ref.complete)
    _COMPLETE[:] = [(ev, ids)]
    return ids


def _drop_sources_at(root: BaseModel, paths: list[tuple[Any, ...]], ids: set[str]) -> bool:
    """`drop_sources` on the `sources` lists at these paths of the dumped document only, found in the model by
    the same keys and indexes (the dump mirrors the model: no aliases, serializers or excluded fields carry
    sources). False when a path does not lead through fields, dicts and lists: the caller then walks it all."""
    for path in paths:
        node: Any = root
        try:
            for step in path:
                node = node.__dict__[step] if isinstance(node, BaseModel) else node[step]
        except (KeyError, IndexError, TypeError, AttributeError):
            return False
        if isinstance(node, BaseModel):
            value = node.__dict__.get("sources")
            if not isinstance(value, list):
                return False
            if all(isinstance(v, str) for v in value):
                node.sources = [v for v in value if v not in ids]  # type: ignore[attr-defined]
        elif isinstance(node, dict) and isinstance(node.get("sources"), list):
            node["sources"] = [x for x in node["sources"] if x not in ids]
        else:
            return False
    return True


def drop_sources(node: Any, ids: set[str]) -> None:
    """Remove the given ids from every `sources` list in a document, in place (models, dicts and lists)."""
    if isinstance(node, BaseModel):
        # A model's fields are its __dict__ (pydantic v2); reading it directly skips a property per node, and
        # scalars are skipped without a call: this walk covers the whole document on every evaluation.
        for name, value in list(node.__dict__.items()):
            if name == "sources" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                if any(v in ids for v in value):
                    setattr(node, name, [v for v in value if v not in ids])
            elif isinstance(value, _CONTAINERS):
                drop_sources(value, ids)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k == "sources" and isinstance(v, list):
                node[k] = [x for x in v if x not in ids]
            elif isinstance(v, _CONTAINERS):
                drop_sources(v, ids)
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, _CONTAINERS):
                drop_sources(v, ids)


_CONTAINERS = (BaseModel, dict, list)
