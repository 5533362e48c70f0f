"""Prescription: phase from screening, findings and goals; exercises by one generic filter and a ranking;
dose by quality from the evidence files."""

from __future__ import annotations

from typing import Any

from hipext import evidence
from hipext.care import data
from hipext.care.context import CaseFacts
from hipext.care.dosing import start_dose
from hipext.care.models import Criterion, Dose, Exercise, Phase, PrescribedExercise, Screening, Stage, Supervision
from hipext.care.stages import exercise_level, matches, reached_stage
from hipext.care.words import describe as _describe

VERY_HIGH_EMG_BAND = "very_high"
# Lateral-hip (abductor) exercises join a hip extensor program only when a screening rule or finding asks for them.
ADJUNCT_TARGETS = {"gluteus_medius"}


def choose_phase(f: CaseFacts, stage_list: list[Stage]) -> tuple[Phase | None, str]:
    s = f.screening
    lim = s.limits
    if lim.block_all:
        return None, f"No phase: screening decision is '{s.decision}', so nothing is prescribed until that is resolved."
    if not f.case.visits:
        return None, "No phase: no visit is recorded yet. Record an assessment first; a program follows from it."
    pain = data.pain_model()["model"]
    if f.rules & {"acute_hamstring_strain", "acute_gluteal_strain", "severe_pain"} or lim.resisted is False \
            or lim.hamstring_effort == "none":
        why = sorted(f.rules & {"acute_hamstring_strain", "acute_gluteal_strain", "severe_pain"}) or [
            "post-operative limits allow no resisted hip extensor work yet"]
        return "protect", "Protect: " + ", ".join(why) + "."
    capped = [x for x in s.findings if x.decision != "proceed" and x.max_phase]
    if s.max_phase == "protect":
        return "protect", "Protect: " + ", ".join(x.rule for x in capped if x.max_phase == "protect") + "."
    active_postop = bool(f.rules & data.postop_rules())
    if "proximal_hamstring_repair" in f.rules and lim.eccentric is False:
        return "restore", "Restore: early loading phase after proximal hamstring repair (no eccentric work yet)."
    if f.latest_nprs is not None and f.latest_nprs > pain["safe_max"]:
        return "restore", (f"Restore: pain {f.latest_nprs:g}/10 is above the safe zone "
                           f"(0-{pain['safe_max']}/10) of the pain-monitoring model.")
    if "neurological_unsafe_control" in f.rules:
        return "restore", "Restore: supervised work in stable positions while movement control is unsafe."
    if active_postop and lim.impact in ("none", None) and "posterior_tha" in f.rules:
        return "restore", "Restore: within post-operative hip precautions."
    if s.max_phase == "restore":
        return "restore", "Restore: " + "; ".join(f"{x.rule} allows no heavier phase yet" for x in capped) + "."
    older = f.case.patient.age >= data.rta()["function_norms"]["min_age"]
    if f.function_deficit and (older or f.case.patient.activity_level == "sedentary"):
        return "restore", ("Restore: functional tests are below age norms; build tolerance with task practice "
                           "before heavier loading.")
    reached = reached_stage(stage_list)
    nxt = next((st for st in stage_list if not st.reached and stage_list.index(st) > stage_list.index(reached)), None)
    if reached.phase == "return_to_activity" and (f.sporty or f.case.patient.goals):
        crits = reached.criteria
        met = (", ".join(c.name for c in crits) + " met") if crits and all(c.status == "met" for c in crits) \
            else "every return-to-activity criterion is met"
        return "return_to_activity", f"Return to activity: stage '{reached.name}' is open ({met})."
    reasons = []
    if f.gluteal_deficit or f.hamstring_deficit:
        reasons.append("strength or symmetry deficits")
    if f.function_deficit:
        reasons.append("functional tests below age norms")
    gate = nxt or next((st for st in stage_list if st.phase == "return_to_activity" and not st.reached), None)
    if gate is not None:
        waiting = [f"{c.name} ({'not yet measured' if c.status == 'not_yet_measured' else c.value})"
                   for c in gate.criteria if c.status != "met"]
        if waiting:
            reasons.append(f"next stage '{gate.name}' opens when these are met: " + "; ".join(waiting))
    return "strengthen", "Strengthen: " + (", ".join(reasons) if reasons else "graded strengthening") + "."


def _preferences(f: CaseFacts, phase: Phase) -> dict[str, Any]:
    pref: dict[str, Any] = {"targets": set(), "knee": None, "tasks": set(), "quality": None, "primary": None,
                            "eccentric_hamstring": False, "secondary_tasks": set(), "irritable": False}
    if f.hamstring_irritable:
        pref["targets"] |= {"gluteus_maximus"}
        pref["primary"] = "gluteus_maximus"
        pref["knee"] = "flexed"
        pref["irritable"] = True
    elif f.hamstring_deficit or (f.hamstring_case and phase in ("strengthen", "return_to_activity")):
        pref["targets"] |= {"hamstrings", "both"}
        pref["primary"] = "hamstrings"
        pref["eccentric_hamstring"] = phase in ("strengthen", "return_to_activity")
    if f.gluteal_deficit and not f.gluteal_irritable:
        pref["targets"] |= {"gluteus_maximus", "both"}
        pref["primary"] = pref["primary"] or "gluteus_maximus"
    rules = {r["id"]: r for r in data.rules()}
    for rid in sorted(f.rules):  # a rule may ask for a muscle group (gluteal tendinopathy: the abductors)
        for target in rules.get(rid, {}).get("targets", []):
            pref["targets"].add(target)
            pref["primary"] = target
    if f.function_deficit or f.sit_to_stand_goal:
        pref["tasks"].add("sit_to_stand")
    if f.function_deficit:
        pref["secondary_tasks"] = {"stairs", "gait"}
    if f.stairs_goal:
        pref["tasks"].add("stairs")
    if f.walking_goal:
        pref["tasks"].add("gait")
    if f.sporty and phase == "return_to_activity":
        pref["tasks"] |= {"running", "jumping"}
    pref["quality"] = {"protect": "endurance", "restore": "endurance", "strengthen": "strength",
                       "return_to_activity": "power"}[phase]
    return pref


def _score(ex: Exercise, phase: Phase, pref: dict[str, Any], f: CaseFacts) -> tuple[float, list[str]]:
    score, why = 0.0, []
    if ex.phases[0] == phase:
        score += 1
    if ex.tags.target in pref["targets"]:
        score += 3 if ex.tags.target == pref["primary"] else 1.5
        label = {"both": "gluteus maximus and hamstrings"}.get(ex.tags.target, ex.tags.target.replace("_", " "))
        if pref["irritable"]:
            why.append(f"Works {label} while sparing the irritable hamstrings.")
        else:
            why.append(f"Targets {label}, where the deficit or need is.")
    if pref["eccentric_hamstring"] and ex.tags.target == "hamstrings" and ex.demands.eccentric:
        score += 1
        why.append("Eccentric hamstring loading (eccentric demands matter in hamstring problems and sprinting).")
    if pref["knee"] and ex.tags.knee == pref["knee"]:
        score += 2
        why.append("Knee bent to bias gluteus maximus and spare the irritable hamstrings.")
    if ex.task in pref["tasks"]:
        score += 3
        if ex.task == "sit_to_stand" and f.function_deficit:
            why.append("Closed-chain sit-to-stand practice: functional tests are below age norms.")
        else:
            why.append(f"Practises the person's goal task ({ex.task.replace('_', ' ')}).")
    elif ex.task in pref["secondary_tasks"]:
        score += 2
        why.append(f"Task practice ({ex.task}) for functional tests below age norms.")
    if ex.tags.quality == pref["quality"]:
        score += 1
    if ex.tags.contraction == "isometric" and phase != "protect":
        score -= 1  # holds are the starting point; past the protect phase, movement comes first
    if any(e.band == VERY_HIGH_EMG_BAND or (e.percent_mvic is not None and e.band is None and
                                             _very_high(e.percent_mvic)) for e in ex.emg):
        score += 1
        why.append("Published EMG shows very high gluteus maximus activation.")
    if f.case.patient.age >= data.rta()["function_norms"]["min_age"] and ex.tags.chain == "closed":
        score += 1  # older adults: closed-chain tasks resemble the daily activities at stake
    if f.lumbar_substitution and "lumbar extension substitution" in ex.compensations and ex.tags.chain == "open":
        score -= 1
    return score, why


def _very_high(percent: float) -> bool:
    return percent > data.dosage()["emg"]["very_high_percent"]


def addresses(ex: Exercise, unmet: list[Criterion]) -> list[Criterion]:
    """The unmet criteria (failing tests) this exercise works on, from `addressed_by` in the data."""
    table = data.rta()["addressed_by"]
    out = []
    for c in unmet:
        sel = table.get(c.id)
        if isinstance(sel, dict) and c.test is not None and c.test in sel:
            sel = sel[c.test]  # criteria read from several tests: one selector per test
        if isinstance(sel, dict) and sel and all(isinstance(v, list) for v in sel.values()) and matches(ex, sel):
            out.append(c)
    return out


def select(f: CaseFacts, phase: Phase, *, levels: set[str], unmet: list[Criterion],
           exclude_families: set[str] | None = None, size: int | None = None) -> list[tuple[Exercise, list[str]]]:
    """Allowed exercises for the phase and the open stages, best first, one per family."""
    lib = data.exercises()
    blocked = set(f.screening.blocked_exercises)
    cfg = data.dosage()["program"]
    n = size if size is not None else (cfg["exercises_protect"] if phase == "protect" else cfg["exercises_per_program"])
    pref = _preferences(f, phase)
    ranked = []
    for i, ex in enumerate(lib.values()):
        if ex.id in blocked or phase not in ex.phases or exercise_level(ex) not in levels:
            continue  # a task level whose stage is not open (sprints, jumps, maximal eccentrics) waits
        if ex.tags.target in ADJUNCT_TARGETS and ex.tags.target not in pref["targets"]:
            continue
        sc, why = _score(ex, phase, pref, f)
        hits = addresses(ex, unmet)
        if hits:
            sc += 2
            why.append("Works on an unmet criterion: " + "; ".join(f"{c.name} ({c.value})" for c in hits) + ".")
        ranked.append((-sc, i, ex, why))
    ranked.sort(key=lambda t: (t[0], t[1]))
    families = set(exclude_families or ())
    out: list[tuple[Exercise, list[str]]] = []
    per_target: dict[str, int] = {}
    for cap in (2, n):  # first at most two per target for a balanced program, then fill
        for _, _, ex, why in ranked:
            if len(out) >= n:
                break
            if ex.family in families or per_target.get(ex.tags.target, 0) >= cap:
                continue
            families.add(ex.family)
            per_target[ex.tags.target] = per_target.get(ex.tags.target, 0) + 1
            out.append((ex, why))
    return out


def precautions_for(ex: Exercise, f: CaseFacts, phase: Phase) -> list[str]:
    out = []
    pain = data.pain_model()["model"]
    lim = f.screening.limits
    active = {k: getattr(lim, k) for k in lim.why if k not in ("block_all", "supervised")}
    if active:
        out.append("Stay inside the screening limits: " + _describe(active) + ".")
    if phase == "protect":
        out.append(f"Keep pain in the safe zone (0-{pain['safe_max']}/10) during and after.")
    else:
        out.append(f"Pain during up to {pain['acceptable_max']}/10 is acceptable if it settles by the next morning.")
    if lim.supervised:
        out.append("Supervised only, in a stable supported position.")
    if f.lumbar_substitution and "lumbar extension substitution" in ex.compensations:
        out.append("Lumbar extension substitution was seen at this visit: cue a still low back, move from the hip, "
                   "and use a smaller range until it is controlled.")
    if f.rules & BREATH_RULES:
        out.append("No breath-holding; stop for chest pain, unusual breathlessness or dizziness.")
    if ex.note and "placeholder" not in ex.note:
        out.append(ex.note)
    return out


# Rules whose limits are about exertion (no breath-holding, stop for cardiopulmonary symptoms).
BREATH_RULES = frozenset({"cardiopulmonary_limits", "cardiopulmonary_monitored", "resting_blood_pressure_elevated",
                          "pregnancy"})


def _cite(source: str, level: str) -> str:
    """'source, level' for a complete bibliography record; the level alone when the record is incomplete."""
    ref = evidence.load().references.get(source)
    return f"{source}, {level}" if ref is not None and ref.complete else level.replace("_", " ")


def supervision_for(ex: Exercise, f: CaseFacts) -> Supervision:
    """'with_therapist' when screening requires supervision and this exercise is not in a stable, supported position."""
    if not f.screening.limits.supervised:
        return "home"
    cfg = data.supervision()
    if ex.id in cfg["with_therapist_ids"] or any(matches(ex, sel) for sel in cfg["with_therapist_when"]):
        return "with_therapist"
    return "home"


def prescribe(ex: Exercise, phase: Phase, f: CaseFacts, rationale: list[str], *, unmet: list[Criterion] | None = None,
              dose: Dose | None = None) -> PrescribedExercise:
    blocked = set(f.screening.blocked_exercises)
    reg = ex.regression if ex.regression and ex.regression not in blocked else None
    prog = ex.progression if ex.progression and ex.progression not in blocked else None
    dose = dose or start_dose(ex, phase, f)
    sources = list(dose.sources) + [e.source for e in ex.emg]
    why = list(rationale) or [f"Fits the {phase.replace('_', ' ')} phase within the screening limits."]
    for e in ex.emg:
        if e.percent_mvic is not None:
            muscle = e.muscle.replace("_", " ")
            why.append(f"EMG: {muscle} about {e.percent_mvic:g}% MVIC ({_cite(e.source, e.level)}).")
    for b in dose.basis:
        rng = f" (range {b.low:g}-{b.high:g})" if b.low is not None and b.high is not None and b.low != b.high else ""
        why.append(f"Dose: {b.field.replace('_', ' ')} {b.value:g}{rng}: {b.rule} [{_cite(b.source, b.level)}].")
    supervision = supervision_for(ex, f)
    if supervision == "with_therapist":
        why.append("Screening requires supervision and this exercise is not in a stable, supported position: done "
                   "with the therapist, not in the home program.")
        sources.append(data.supervision()["source"])
    return PrescribedExercise(
        exercise=ex.id, name=ex.name, target=ex.tags.target, dose=dose, rationale=why,
        precautions=precautions_for(ex, f, phase), cues=ex.cues, watch_for=ex.compensations,
        regression=reg, progression=prog, emg=ex.emg, sources=sorted(set(sources), key=sources.index),
        stage=exercise_level(ex), supervision=supervision, how=ex.plain,
        addresses=[c.id for c in addresses(ex, unmet or [])])


def screening_summary(s: Screening) -> str:
    return s.summary
