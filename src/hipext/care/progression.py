"""Immediate checks and progression: each exercise response decides progress, hold, regress or stop.

Rules, in order: pain during above the acceptable zone -> stop; pain not settled by the next morning, an unfinished
session or a compensation -> regress; pain in the acceptable (not safe) zone, missing next-morning data, or an
objective worsening beyond the MDC -> hold; then progress only with effort headroom (or a real improvement beyond
the MDC when effort was not recorded).

A progress or regress decision then changes one thing by one step (`dosing.step`): the next or previous exercise in
the chain at its starting dose, the load, one set or one session a week, in the order `dosage.yaml` gives. The next
exercise must belong to the current phase and to a stage that is open, at most one stage above the current one.
"""

from __future__ import annotations

from hipext import evidence
from hipext.care import data
from hipext.care.context import CaseFacts, involved
from hipext.care.dosing import carry_over, dose_done, start_dose, step
from hipext.care.models import Dose, Exercise, Lever, Phase, Progression, ProgressionDecision, Stage
from hipext.care.stages import exercise_level, stage_index
from hipext.core.case import ExerciseResponse


def pain_zone(pain: float) -> str:
    m = data.pain_model()["model"]
    if pain <= m["safe_max"]:
        return "safe"
    if pain <= m["acceptable_max"]:
        return "acceptable"
    return "high_risk"


def _related_change(ex_target: str, f: CaseFacts) -> str | None:
    """'better' or 'worse' when a related test changed beyond its MDC at the latest visit, else None."""
    protocols = evidence.load().protocols
    want = {"gluteus_maximus": {"gluteus_maximus", "hip_extensors"}, "hamstrings": {"hamstrings", "hip_extensors"},
            "both": {"gluteus_maximus", "hamstrings", "hip_extensors", "whole_limb"},
            "gluteus_medius": {"whole_limb"}, "secondary": {"whole_limb"}}[ex_target]
    seen = set()
    for r in f.latest:
        p = protocols.get(r.test)
        if p is None or p.bias not in want or r.change is None or not involved(r, f.side):
            continue
        if r.change.verdict == "real_change" and r.change.direction in ("better", "worse"):
            seen.add(r.change.direction)
    if "worse" in seen:
        return "worse"
    return "better" if "better" in seen else None


def _neighbour(ex: Exercise, direction: int, f: CaseFacts, phase: Phase, stage_list: list[Stage],
               levels: set[str]) -> Exercise | None:
    """The next (+1) or previous (-1) exercise in the chain when it may be prescribed now, else None.

    Forward moves stay in the current phase, in an open stage and at most one stage above the current exercise.
    """
    lib = data.exercises()
    target = ex.progression if direction > 0 else ex.regression
    if target is None or target not in lib or target in f.screening.blocked_exercises:
        return None
    other = lib[target]
    if direction > 0:
        lvl, here = exercise_level(other), exercise_level(ex)
        if phase not in other.phases or lvl not in levels or \
                stage_index(stage_list, lvl) - stage_index(stage_list, here) > 1:
            return None
    return other


def one_step(ex: Exercise, before: Dose, direction: int, f: CaseFacts, phase: Phase, stage_list: list[Stage],
             levels: set[str]) -> tuple[Lever, Exercise, Dose, float | str | None, float | str | None]:
    """Change one thing by one step, trying the levers in the data's order; ("none", ...) when none has room."""
    prog = data.dosage()["progression"]
    kind = "external" if before.load_kind == "external" else "bodyweight"
    order: list[Lever] = prog[f"{'order' if direction > 0 else 'regress_order'}_{kind}"]
    for lever in order:
        if lever in ("next_exercise", "previous_exercise"):
            other = _neighbour(ex, direction, f, phase, stage_list, levels)
            if other is not None:
                return lever, other, carry_over(before, start_dose(other, phase, f)), ex.id, other.id
            continue
        moved = step(before, lever, direction)
        if moved is not None:
            return lever, ex, *moved
    return "none", ex, before, None, None


def decide(resp: ExerciseResponse, f: CaseFacts, phase: Phase | None = None, stage_list: list[Stage] | None = None,
           levels: set[str] | None = None) -> ProgressionDecision:
    lib = data.exercises()
    ex = lib[resp.exercise]
    model = data.pain_model()
    m = model["model"]
    pm_src = m["source"]
    prog = data.dosage()["progression"]
    zone = pain_zone(resp.pain_during) if resp.pain_during is not None else None
    now_phase: Phase = phase or "strengthen"
    before = dose_done(start_dose(ex, now_phase, f), resp)

    def out(outcome: str, reason: str, nxt: str | None = None, change: str | None = None,
            sources: list[str] | None = None) -> ProgressionDecision:
        if outcome in ("progress", "regress"):
            lever, other, dose, was, now = one_step(ex, before, 1 if outcome == "progress" else -1, f, now_phase,
                                                    stage_list or [], levels or set())
            if lever == "none" and outcome == "progress":
                return ProgressionDecision(
                    exercise=ex.id, outcome="hold", pain_zone=zone, sources=sources or [pm_src], dose=before,
                    reason=reason + " Every lever is at the top of its range in this phase and stage, so the dose "
                    "is kept until the next stage or phase opens.")
            change = _change_words(lever, other, was, now) if lever != "none" else (
                "Already at the lowest step: review this exercise with the clinician.")
            return ProgressionDecision(
                exercise=ex.id, outcome=outcome, reason=reason, pain_zone=zone, sources=sources or [pm_src],
                next_exercise=other.id if other.id != ex.id else None, dose_change=change, lever=lever,
                change_from=was, change_to=now, dose=dose)
        return ProgressionDecision(exercise=ex.id, outcome=outcome, reason=reason, next_exercise=nxt,
                                   dose_change=change, pain_zone=zone, sources=sources or [pm_src],
                                   dose=None if outcome == "stop" else before)

    if resp.pain_during is not None and zone == "high_risk":
        return out("stop", f"Pain during the exercise was {resp.pain_during:g}/10, above the acceptable "
                   f"{m['acceptable_max']}/10 of the pain-monitoring model (high-risk zone).",
                   change="Stop this exercise and review it with the clinician before restarting.")
    settled: bool | None = None
    if resp.pain_next_morning is not None:
        base = resp.pain_baseline if resp.pain_baseline is not None else (0 if resp.pain_next_morning == 0 else None)
        settled = None if base is None else resp.pain_next_morning <= base
        if settled is False:
            return out("regress", f"Pain had not settled by the next morning ({resp.pain_next_morning:g}/10 against "
                       f"a usual {base:g}/10); the next-day response says reduce the load.")
    if not resp.completed:
        return out("regress", "The prescribed dose was not completed.", sources=["hipext_seed"])
    if resp.compensation:
        comp = ", ".join(c.replace("_", " ") for c in resp.compensation)
        return out("regress", f"Compensation seen ({comp}): the task exceeds current control, so the load shifts "
                   "away from the hip extensors. Regress and re-cue.", sources=["hipext_seed", "arab2017"])
    if zone == "acceptable":
        return out("hold", f"Pain during was {resp.pain_during:g}/10, acceptable but above the safe zone "
                   f"(0-{m['safe_max']}/10); it settled, so keep the same load.")
    if settled is None:
        return out("hold", "Next-morning pain against the usual level was not recorded, so settling cannot be "
                   "confirmed; keep the same load.")
    if resp.sessions_done is not None and resp.sessions_planned and resp.sessions_done < resp.sessions_planned:
        return out("hold", f"{resp.sessions_done} of {resp.sessions_planned} planned sessions were done; keep the "
                   "load until the planned sessions are done before progressing.", sources=[pm_src, "hipext_seed"])
    change = _related_change(ex.tags.target, f)
    if change == "worse":
        return out("hold", "A related strength or function test got worse beyond its MDC (measurement error); keep "
                   "the load and review.", sources=[pm_src, "hipext_seed"])
    head = model["progress_when"]
    beyond = "-".join(f"{x:g}" for x in prog["reps_beyond_target"])
    headroom: bool | None = None
    if resp.reps_in_reserve is not None:
        headroom = resp.reps_in_reserve >= head["reps_in_reserve_min"]
    elif resp.rpe is not None:
        headroom = resp.rpe <= head["rpe_max"]
    srcs = [pm_src, prog["source"], head["source"]]
    if headroom is False:
        return out("hold", f"Tolerated well, but effort is still high (RPE {resp.rpe if resp.rpe is not None else '-'}"
                   f", reps in reserve {resp.reps_in_reserve if resp.reps_in_reserve is not None else '-'}); keep "
                   f"the load until it can be lifted for {beyond} reps beyond the target.", sources=srcs)
    if headroom is None and change != "better":
        return out("hold", "Tolerated well, but effort (RPE or reps in reserve) was not recorded and no related test "
                   "improved beyond its MDC; keep the load.", sources=srcs)
    basis = ("effort leaves room" if headroom else "a related test improved beyond its MDC")
    reason = (f"Pain {resp.pain_during if resp.pain_during is not None else 0:g}/10 during (safe zone), settled "
              f"by the next morning, completed without compensation, and {basis}.")
    return out("progress", reason, sources=srcs)


def _change_words(lever: Lever, other: Exercise, was: float | str | None, now: float | str | None) -> str:
    if lever in ("next_exercise", "previous_exercise"):
        where = "next" if lever == "next_exercise" else "previous"
        return f"Move to the {where} exercise in the chain, {other.name}, at its starting dose; nothing else changes."
    what = {"load": "Load", "volume": "Sets", "frequency": "Sessions a week"}[lever]
    return f"{what}: {was} -> {now}; nothing else changes."


def assess(f: CaseFacts, phase: Phase | None = None, stage_list: list[Stage] | None = None,
           levels: set[str] | None = None) -> Progression:
    visit = f.case.latest_visit
    lib = data.exercises()
    blocked = set(f.screening.blocked_exercises)
    decisions, notes = [], []
    n_blocked = 0
    for resp in (visit.exercise_responses if visit else []):
        if resp.exercise in blocked:
            n_blocked += 1
            continue
        if resp.exercise not in lib:
            name = "one" if resp.exercise in f.screening.blocked_tests else f"'{resp.exercise}'"
            notes.append(f"Response {name} is not in the exercise library, so it was not assessed.")
            continue
        if f.screening.limits.block_all:
            continue
        decisions.append(decide(resp, f, phase, stage_list, levels))
    if n_blocked:
        notes.append(f"{n_blocked} response(s) concern exercises now blocked by screening; they are stopped and "
                     "listed only in screening.blocked_exercises.")
    if f.screening.limits.block_all and visit and visit.exercise_responses:
        notes.append("Screening stops all hip extensor exercise, so no response was used for progression.")
    m = data.pain_model()["model"]
    rules = [
        f"Stop: pain during above {m['acceptable_max']}/10 ({m['zones_text']}).",
        "Regress: " + m["next_morning_rule"] + " Also regress when the dose is not completed or compensation is seen.",
        f"Hold: pain during {m['safe_max']}-{m['acceptable_max']}/10, missing next-morning data, fewer sessions than "
        "planned, effort still high, or a related test worse beyond its MDC.",
        "Progress: safe-zone pain, settled next morning, completed, no compensation, and effort headroom "
        f"({data.pain_model()['progress_when']['note']}) or a related test better beyond its MDC.",
        "One step: " + " ".join(data.dosage()["progression"]["step_note"].split()),
    ]
    srcs = [m["source"], data.dosage()["progression"]["source"], data.pain_model()["progress_when"]["source"]]
    return Progression(visit=visit.date if visit else None, decisions=decisions, not_assessed=notes, rules=rules,
                       sources=srcs)
