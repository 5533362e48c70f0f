"""The care plan: program, progression, follow-up, return to activity, aftercare and education for one case.

Called after screening and interpretation. Pure: reads only the shipped data files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from hipext.care import data
from hipext.care.aftercare import aftercare
from hipext.care.context import facts
from hipext.care.education import handout
from hipext.care.models import CarePlan, Dose, PrescribedExercise, Program, Screening
from hipext.care.prescription import choose_phase, prescribe, select
from hipext.care.progression import assess
from hipext.care.readiness import follow_up, gate_criteria, return_to_activity, rta_criteria
from hipext.care.stages import open_levels, reached_stage, stages
from hipext.core.case import Case
from hipext.core.evaluation import Finding, Result


def plan_care(case: Case, results: list[Result], findings: list[Finding], screening: Screening, *,
              today: dt.date, edit: Callable[[Program], Program] | None = None) -> CarePlan:
    """Build the care plan inside the screening limits and the stages the person has reached. `edit` applies the
    clinician's changes to the program before the sections that describe it (the handout's plan) are written."""
    blocked_tests = set(screening.blocked_tests)
    results = [r for r in results if r.test not in blocked_tests]
    f = facts(case, results, findings, screening, today)
    crits, omitted = rta_criteria(f)
    rta = return_to_activity(f, crits, omitted)
    stage_list = stages(f.activity, gate_criteria(f, crits), all_met=rta.ready and not screening.limits.block_all)
    levels = open_levels(stage_list)
    phase, phase_reason = choose_phase(f, stage_list)
    progression = assess(f, phase, stage_list, levels)
    unmet = [c for c in crits if c.status == "not_met"]
    lib = data.exercises()
    blocked = set(screening.blocked_exercises)
    exercises: list[PrescribedExercise] = []
    based_on = False
    if phase is not None:
        families: set[str] = set()
        chosen: dict[str, tuple[list[str], Dose | None]] = {}
        for d in progression.decisions:
            if d.outcome == "stop":
                families.add(lib[d.exercise].family)
                continue
            nxt = d.next_exercise or d.exercise
            if nxt in blocked or nxt in chosen:
                continue
            notes = [f"Continued from the last visit: {d.outcome} ({d.reason})"]
            if d.dose_change:
                notes.append(d.dose_change)
            chosen[nxt] = (notes, d.dose)
            families.add(lib[nxt].family)
        based_on = bool(chosen)
        for ex_id, (notes, dose) in chosen.items():
            exercises.append(prescribe(lib[ex_id], phase, f, notes, unmet=unmet, dose=dose))
        size = data.dosage()["program"]["exercises_protect" if phase == "protect" else "exercises_per_program"]
        for ex, why in select(f, phase, levels=levels, unmet=unmet, exclude_families=families,
                              size=max(0, size - len(chosen))):
            exercises.append(prescribe(ex, phase, f, why, unmet=unmet))
        note = ("Decision support for a licensed clinician: choose, adapt or drop any item. "
                "Every exercise passed the screening limits and the stage gates.")
        if not exercises:
            note = "No library exercise fits the phase inside the current limits; use the alternatives."
    elif not case.visits:
        note = "Nothing is prescribed before an assessment is recorded."
    else:
        note = (f"Nothing is prescribed: screening decision '{screening.decision}'. "
                + ("Only the alternatives listed are explicitly safe." if screening.alternatives else
                   "No exercise is explicitly safe until the medical assessment is done."))
    srcs: list[str] = []
    for e in exercises:
        srcs += [s for s in e.sources if s not in srcs]
    for st in stage_list:
        srcs += [s for s in st.sources if s not in srcs]
    program = Program(phase=phase, phase_reason=phase_reason, exercises=exercises,
                      alternatives=screening.alternatives, note=note, based_on_responses=based_on, sources=srcs,
                      activity=f.activity["name"], stage=reached_stage(stage_list).id if phase else None,
                      stages=stage_list if phase else [], supervised_only=screening.limits.supervised)
    if edit is not None:
        program = edit(program)
    return CarePlan(
        program=program, progression=progression, follow_up=follow_up(f, phase),
        return_to_activity=rta, aftercare=aftercare(f), education=handout(f, program))
