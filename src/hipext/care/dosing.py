"""One concrete dose per exercise, chosen by rule from the published ranges, and one-step changes to it.

The ranges and their sources are data (`dosage.yaml`); so is the rule that picks one value from each range
(`selection`). Every chosen value keeps its range, rule and source in `Dose.basis`. A step changes exactly one thing
(`progression` in `dosage.yaml`): the next (or previous) exercise in the chain at its starting dose, the load by the
smallest published increment, one set, or one session a week; never several, never past the published range.
"""

from __future__ import annotations

from typing import Any

from hipext.care import data
from hipext.care.context import CaseFacts
from hipext.care.models import Dose, DoseBasis, Exercise, Lever, Phase
from hipext.core.case import ExerciseResponse

PERCENT = 100.0  # unit conversion


def _pick(rng: list[float], position: str) -> float:
    lo, hi = float(rng[0]), float(rng[1])
    return {"low": lo, "high": hi, "mid": float((lo + hi) // 2), "lightest": hi}[position]


def _quality(ex: Exercise, phase: Phase) -> str:
    if ex.tags.contraction == "isometric":
        return "isometric"
    if phase in ("protect", "restore") and ex.tags.quality == "strength":
        return "endurance"  # strength-quality exercises are dosed for endurance until the strengthen phase
    return ex.tags.quality


def careful_start(phase: Phase, f: CaseFacts) -> str | None:
    """Why the dose starts at the low end, or None."""
    lim = f.screening.limits
    safe_max = data.pain_model()["model"]["safe_max"]
    if phase in ("protect", "restore"):
        return f"{phase} phase"
    if f.latest_nprs is not None and f.latest_nprs > safe_max:
        return "pain above the safe zone"
    if lim.supervised:
        return "screening requires supervision"
    if lim.effort == "submaximal":
        return "screening caps effort"
    return None


class _Builder:
    """Collects one value per dose field with its basis."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.basis: list[DoseBasis] = []
        self.sources: list[str] = []
        self.levels: list[str] = []

    def take(self, field: str, value: float, rng: list[float] | None, rule: str, row: dict[str, Any]) -> float:
        self.values[field] = int(value) if float(value).is_integer() else value
        self.basis.append(DoseBasis(field=field, value=value, low=rng[0] if rng else None,
                                    high=rng[1] if rng else None, rule=rule, source=row["source"],
                                    level=row["level"]))
        if row["source"] not in self.sources:
            self.sources.append(row["source"])
        self.levels.append(row["level"])
        return value


def _row_with(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((r for r in rows if key in r), None)


def start_dose(ex: Exercise, phase: Phase, f: CaseFacts) -> Dose:
    """The starting dose of an exercise for this person: one value per field, chosen by the selection rule."""
    cfg = data.dosage()
    sel = cfg["selection"]
    status = f.case.patient.training_status
    lim = f.screening.limits
    careful = careful_start(phase, f)
    b = _Builder()
    caps = cfg["effort_caps"]
    capped = None
    if phase == "protect" or ex.tags.contraction == "isometric":
        capped = caps["protect_rpe_max"]
    elif lim.effort == "submaximal":
        capped = caps["submaximal_rpe_max"]
    if ex.task == "gait":  # walking practice: dosed by time
        w = cfg["walking"]
        b.take("sets", _pick(w["sets"], "low"), w["sets"], "one bout per session", w)
        b.take("minutes", _pick(w["minutes"], sel["walking_minutes"]), w["minutes"],
               "the shortest recommended bout to start", w)
        b.take("sessions_per_week", _pick(w["frequency_per_week"], "low"), w["frequency_per_week"],
               "recommended days a week", w)
        if capped is not None:
            b.take("effort_max", capped, None, "effort ceiling (clinical default)", caps)
        return _dose(b, "bodyweight", "Add walking time one step at a time, up to the recommended bout, while pain "
                     "stays in the safe or acceptable zone and settles by the next morning.", cfg)
    quality = _quality(ex, phase)
    rows = [r for r in cfg["rows"] if r["quality"] == quality and r["status"] in (status, "any")]
    sets_pos = "low" if careful else sel["sets_by_status"][status]
    why_pos = f"{careful}: low end" if careful else f"{status}: {sets_pos} end of the range"
    vol = _row_with(rows, "sets")
    if vol is not None:
        b.take("sets", _pick(vol["sets"], sets_pos), vol["sets"], why_pos, vol)
    prog = cfg["progression"]
    rir = None
    if quality not in ("isometric", "power") and capped is None:
        rir = b.take("reps_in_reserve", _pick(prog["reps_beyond_target"], sel["reps_in_reserve"]),
                     prog["reps_beyond_target"], "the load goes up once it is lifted this many beyond the target; "
                     "start with the upper end in reserve", prog)
    external = ex.demands.load == "external"
    rm_row = _row_with(rows, "load_rm")
    if quality == "strength" and external and rm_row is not None and rir is not None:
        rm_range = rm_row.get("emphasis_rm", rm_row["load_rm"])
        rm = _pick(rm_range, sel["load_rm"])
        b.take("load_rm", rm, rm_range, "the lightest load of the range for this training status", rm_row)
        b.take("reps", rm - rir, None, "repetitions that leave the prescribed reserve at that load", rm_row)
    elif vol is not None and "reps" in vol:
        reps = b.take("reps", _pick(vol["reps"], "low" if careful else sel["reps"]), vol["reps"],
                      f"{careful}: low end" if careful else "middle of the range", vol)
        if external and rir is not None:
            b.take("load_rm", reps + rir, None, "a weight lifted this many times leaves the prescribed reserve",
                   prog)
    if vol is not None and "hold_s" in vol:
        b.take("hold_s", _pick(vol["hold_s"], "low"), vol["hold_s"], "hold time", vol)
    if capped is not None:
        b.take("effort_max", capped, None, "effort ceiling (clinical default)", caps)
    tempo = cfg["tempo"]
    if ex.demands.eccentric and quality in ("strength", "endurance") and ex.tags.contraction != "isometric":
        b.take("tempo_lowering_s", _pick(tempo["lowering_s"], sel["tempo_lowering"]), tempo["lowering_s"],
               "slower end of the moderate tempo, for an exercise that emphasises lowering", tempo)
    rest_row = _row_with(rows, "rest_s")
    if quality == "strength" and not external:
        rest_row = cfg["rest_light"]  # the long rests of the heavy-load rows are for heavy external loads
    if rest_row is not None:
        b.take("rest_s", _pick(rest_row["rest_s"], sel["rest"]), rest_row["rest_s"], "middle of the range", rest_row)
    freq_row = _row_with(rows, "frequency_per_week") or cfg["frequency_default"]
    b.take("sessions_per_week", _pick(freq_row["frequency_per_week"], sel["frequency"]),
           freq_row["frequency_per_week"], "low end: frequency is the last progression lever", freq_row)
    b.values["fast"] = quality == "power"
    note = None
    if quality == "isometric":
        note = "Clinical default - varies by clinician and case: no isometric dose was found in the evidence files."
    elif any(x.level != "verified" for x in b.basis):
        note = "Values marked secondary or clinical default in the basis are not verified in a primary source."
    return _dose(b, ex.demands.load, prog["rule"], cfg, note)


def _dose(b: _Builder, load_kind: str, rule: str, cfg: dict[str, Any], note: str | None = None) -> Dose:
    sel = cfg["selection"]
    b.sources.append(sel["source"])
    b.levels.append(sel["level"])
    return Dose(**b.values, load_kind=load_kind, progression_rule=" ".join(rule.split()), basis=b.basis,
                level=data.weakest(b.levels), sources=list(dict.fromkeys(b.sources)), note=note)


def dose_done(start: Dose, resp: ExerciseResponse) -> Dose:
    """The dose the person was on: the starting dose with whatever the response recorded about it."""
    done = {k: getattr(resp, k) for k in ("sets", "reps", "load_kg", "sessions_per_week")
            if getattr(resp, k) is not None}
    return start.model_copy(update=done)


def carry_over(before: Dose, entry: Dose) -> Dose:
    """The next exercise's starting dose with the sets and sessions a week the person was doing: moving to the next
    exercise changes the exercise, not the volume or frequency too. They are never raised by the move (even when the
    new exercise's range starts higher; later steps raise them one at a time) and only lowered to the range's top."""
    update: dict[str, Any] = {}
    basis = entry.basis
    for field in ("sets", "sessions_per_week"):
        rng = _range(entry, field)
        was = getattr(before, field)
        keep = was if rng is None else int(min(was, rng[1]))
        if keep != getattr(entry, field):
            update[field] = keep
            rule = "kept from the previous exercise" + (
                "; below the published range, it rises one step at a time" if rng and keep < rng[0] else "")
            basis = [x.model_copy(update={"value": keep, "rule": rule}) if x.field == field else x for x in basis]
    return entry.model_copy(update={**update, "basis": basis}) if update else entry


def _range(d: Dose, field: str) -> tuple[float, float] | None:
    b = next((x for x in d.basis if x.field == field), None)
    return None if b is None or b.low is None or b.high is None else (b.low, b.high)


def _basis_with(d: Dose, field: str, value: float, rule: str) -> list[DoseBasis]:
    return [x.model_copy(update={"value": value, "rule": rule}) if x.field == field else x for x in d.basis]


def step(d: Dose, lever: Lever, direction: int) -> tuple[Dose, float | str | None, float | str | None] | None:
    """The dose one step up (+1) or down (-1) on one lever, or None when that lever has no room left.

    Returns (new dose, value before, value after). Exercise changes are made by the caller (they need the library).
    """
    prog = data.dosage()["progression"]
    if lever == "load":
        if d.load_kind != "external" or d.fast:
            return None
        pct = _pick(prog["load_increase_percent"], prog["load_step"]) * direction
        rule = f"{'+' if direction > 0 else ''}{pct:g}% (smallest published load step)"
        if d.load_kg is not None:
            new = round(d.load_kg * (1 + pct / PERCENT), 1)
            if new == d.load_kg:
                return None
            return (d.model_copy(update={"load_kg": new, "basis": _basis_with(d, "load_kg", new, rule)}),
                    d.load_kg, new)
        return (d.model_copy(update={"load_change_percent": pct}), "current weight", f"{pct:+g}%")
    levers = {"volume": ("sets", prog["sets_step"]), "frequency": ("sessions_per_week", prog["sessions_step"])}
    if lever not in levers:
        return None
    field, size = levers[lever]
    rng = _range(d, field)
    now = getattr(d, field)
    new = now + size * direction
    # Up to the range's top; down to its bottom, or to one when a carried-over value already sits below the range.
    if rng is None or new > rng[1] or new < (rng[0] if now >= rng[0] else 1):
        return None
    rule = f"one step {'up' if direction > 0 else 'down'} inside the published range"
    return d.model_copy(update={field: new, "basis": _basis_with(d, field, new, rule)}), now, new
