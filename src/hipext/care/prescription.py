"""Prescription: phase from screening, findings and goals; exercises by one generic filter and a ranking;
dose by quality from the evidence files."""

from __future__ import annotations

from typing import Any

from hipext.care import data
from hipext.care.context import CaseFacts
from hipext.care.models import Dose, Exercise, Phase, PrescribedExercise, Screening
from hipext.care.screening import _describe

VERY_HIGH_EMG_BAND = "very_high"
# Lateral-hip (abductor) exercises join a hip extensor program only when a screening rule or finding asks for them.
ADJUNCT_TARGETS = {"gluteus_medius"}


def _rng(pair: list[float] | tuple[float, float], unit: str = "") -> str:
    lo, hi = pair
    return f"{lo:g}{unit}" if lo == hi else f"{lo:g}-{hi:g}{unit}"


def choose_phase(f: CaseFacts) -> tuple[Phase | None, str]:
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
    active_postop = bool(f.rules & {"posterior_tha", "proximal_hamstring_repair", "other_surgery"})
    if "proximal_hamstring_repair" in f.rules and lim.eccentric is False:
        return "restore", "Restore: early loading phase after proximal hamstring repair (no eccentric work yet)."
    if f.latest_nprs is not None and f.latest_nprs > pain["safe_max"]:
        return "restore", (f"Restore: pain {f.latest_nprs:g}/10 is above the safe zone "
                           f"(0-{pain['safe_max']}/10) of the pain-monitoring model.")
    if "neurological_unsafe_control" in f.rules:
        return "restore", "Restore: supervised work in stable positions while movement control is unsafe."
    if active_postop and lim.impact in ("none", None) and "posterior_tha" in f.rules:
        return "restore", "Restore: within post-operative hip precautions."
    older = f.case.patient.age >= data.rta()["function_norms"]["min_age"]
    if f.function_deficit and (older or f.case.patient.activity_level == "sedentary"):
        return "restore", ("Restore: functional tests are below age norms; build tolerance with task practice "
                           "before heavier loading.")
    lsi_min = data.rta()["lsi"]["min_percent"]
    lsis = [v for _, v in f.strength_lsis]
    can_rta = lim.impact in (None, "high") and lim.effort in (None, "maximal")
    if lsis and min(lsis) >= lsi_min and can_rta and (f.sporty or (f.case.patient.goals and not f.function_deficit)):
        aim = "train power and sport tasks" if f.sporty else "practise the person's own activities"
        return "return_to_activity", (f"Return to activity: strength symmetry is at least {lsi_min:g}% on every "
                                      f"strength test; {aim}.")
    reasons = []
    if f.gluteal_deficit or f.hamstring_deficit:
        reasons.append("strength or symmetry deficits")
    if f.function_deficit:
        reasons.append("functional tests below age norms")
    if f.sporty and not lsis:
        reasons.append("strength not yet measured, so not yet return-to-sport training")
    if f.sporty and lsis and not can_rta:
        reasons.append("screening limits still exclude impact or maximal effort")
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


def select(f: CaseFacts, phase: Phase, *, exclude_families: set[str] | None = None,
           size: int | None = None) -> list[tuple[Exercise, list[str]]]:
    """Allowed exercises for the phase, best first, one per family."""
    lib = data.exercises()
    blocked = set(f.screening.blocked_exercises)
    cfg = data.dosage()["program"]
    n = size if size is not None else (cfg["exercises_protect"] if phase == "protect" else cfg["exercises_per_program"])
    pref = _preferences(f, phase)
    ranked = []
    for i, ex in enumerate(lib.values()):
        if ex.id in blocked or phase not in ex.phases:
            continue
        if ex.tags.target in ADJUNCT_TARGETS and ex.tags.target not in pref["targets"]:
            continue
        if not f.sporty and ex.task in ("running", "jumping"):
            continue  # sprint drills and plyometrics only for running, jumping or sport goals
        sc, why = _score(ex, phase, pref, f)
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


def dose_for(ex: Exercise, phase: Phase, f: CaseFacts) -> Dose:
    cfg = data.dosage()
    rows = cfg["rows"]
    status = f.case.patient.training_status
    quality = "isometric" if ex.tags.contraction == "isometric" else ex.tags.quality
    if phase in ("protect", "restore") and quality == "strength":
        quality = "endurance"
    used = [r for r in rows if r["quality"] == quality and r["status"] in (status, "any")]
    vol = next((r for r in used if "sets" in r), None)
    main = next((r for r in used if "load_rm" in r), None)
    freq_row = next((r for r in used if "frequency_per_week" in r), cfg["frequency_default"])
    rest_row = next((r for r in used if "rest_s" in r), None)
    sources, levels = [], []
    for r in (vol, main, freq_row, rest_row):
        if r is not None:
            sources.append(r["source"])
            levels.append(r["level"])
    sets = _rng(vol["sets"]) if vol else "1-3"
    reps = _rng(vol["reps"]) if vol and "reps" in vol else None
    hold = _rng(vol["hold_s"], " s") if vol and "hold_s" in vol else None
    if quality == "isometric":
        load = "Submaximal, pain-free hold; no added load."
    elif ex.demands.load == "bodyweight":
        load = "Bodyweight; choose the easiest version that lets you finish every repetition with good form."
        if reps and quality != "power":
            load = f"Bodyweight; pick a version where {reps} repetitions is close to your limit."
    elif quality == "endurance" and vol and "load_percent_1rm_below" in vol:
        load = f"Below {vol['load_percent_1rm_below']:g}% of 1RM."
    elif vol and "load_percent_1rm" in vol:
        load = f"{_rng(vol['load_percent_1rm'], '% 1RM')}"
        if main:
            load += f" ({_rng(main['load_rm'])} RM"
            load += f", emphasis on {_rng(main['emphasis_rm'])} RM)" if "emphasis_rm" in main else ")"
    else:
        load = f"{_rng(main['load_rm'])} RM" if main else "Light load"
    caps = cfg["effort_caps"]
    lim = f.screening.limits
    if phase == "protect" or ex.tags.contraction == "isometric":
        effort = f"Submaximal and pain-free: RPE no more than {caps['protect_rpe_max']}/10 (clinical default)."
        sources.append(caps["source"])
        levels.append(caps["level"])
    elif lim.effort == "submaximal":
        effort = (f"Submaximal only: RPE no more than {caps['submaximal_rpe_max']}/10 (clinical default); "
                  "no breath-holding.")
        sources.append(caps["source"])
        levels.append(caps["level"])
    elif quality == "power":
        effort = "Fast, high-quality repetitions; stop when speed or form drops."
    else:
        effort = "Finish each set with 1-2 good repetitions left in reserve."
    rest = _rng([x for x in rest_row["rest_s"]], " s") if rest_row else "as needed"
    prog = cfg["progression"]
    progression_rule = prog["rule"]
    if ex.task == "gait":  # walking practice is dosed by time and tolerance, not sets, repetitions or load
        sets, reps, hold = "1", None, None
        load = "Walking practice at a pace you can keep up with good form."
        if not (phase == "protect" or lim.effort == "submaximal"):  # keep any effort cap screening set
            effort = "Comfortable to brisk; you can still talk."
        rest = "as needed"
        progression_rule = ("Add walking time gradually while pain stays in the safe or acceptable zone and settles "
                            "by the next morning.")
        sources.append("care_clinical_default")
        levels.append("clinical_default")
    else:
        sources.append(prog["source"])
    freq = _rng(freq_row["frequency_per_week"], " sessions a week")
    note = None
    if any(r["level"] != "verified" for r in (vol, main) if r):
        note = "Rows marked secondary or clinical default are not verified in the primary source."
    if ex.task == "gait":
        note = "Clinical default - varies by clinician and case: no walking dose was found in the evidence files."
    if quality == "isometric":
        note = "Clinical default - varies by clinician and case: no isometric dose was found in the evidence files."
    return Dose(sets=sets, reps=reps, hold_s=hold, load=load, effort=effort, rest=rest, frequency=freq,
                progression_rule=progression_rule, level=data.weakest(levels),
                sources=sorted(set(sources), key=sources.index), note=note)


def precautions_for(ex: Exercise, f: CaseFacts, phase: Phase) -> list[str]:
    out = []
    pain = data.pain_model()["model"]
    lim = f.screening.limits
    active = {k: getattr(lim, k) for k in lim.why if k not in ("block_all",)}
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
    if "cardiopulmonary_limits" in f.rules:
        out.append("No breath-holding; stop for chest pain, unusual breathlessness or dizziness.")
    if ex.note and "placeholder" not in ex.note:
        out.append(ex.note)
    return out


def prescribe(ex: Exercise, phase: Phase, f: CaseFacts, rationale: list[str]) -> PrescribedExercise:
    blocked = set(f.screening.blocked_exercises)
    reg = ex.regression if ex.regression and ex.regression not in blocked else None
    prog = ex.progression if ex.progression and ex.progression not in blocked else None
    dose = dose_for(ex, phase, f)
    sources = list(dose.sources) + [e.source for e in ex.emg]
    why = list(rationale) or [f"Fits the {phase.replace('_', ' ')} phase within the screening limits."]
    for e in ex.emg:
        if e.percent_mvic is not None:
            why.append(f"EMG: {e.muscle.replace('_', ' ')} about {e.percent_mvic:g}% MVIC ({e.source}, {e.level}).")
    return PrescribedExercise(
        exercise=ex.id, name=ex.name, target=ex.tags.target, dose=dose, rationale=why,
        precautions=precautions_for(ex, f, phase), cues=ex.cues, watch_for=ex.compensations,
        regression=reg, progression=prog, emg=ex.emg, sources=sorted(set(sources), key=sources.index))


def screening_summary(s: Screening) -> str:
    return s.summary
