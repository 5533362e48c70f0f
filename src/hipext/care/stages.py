"""Graded exposure toward the person's goal activity: which stage each exercise belongs to, which stages lie ahead,
and which criteria open each stage. Stages and their criteria are data (`return_to_activity.yaml`)."""

from __future__ import annotations

from typing import Any

from hipext.care import data
from hipext.care.models import Criterion, Demands, Exercise, Stage, StageCriterion, Tags
from hipext.care.screening import norm
from hipext.core.case import Case

FOUNDATION = "foundation"
DAILY = "daily"  # the activity profile for goals that are not a sport


def goal_activity(case: Case) -> dict[str, Any]:
    """The activity profile the person's goals (else their activity level) point to; daily activities by default."""
    goals = " ".join(norm(g) for g in case.patient.goals)
    profiles = data.rta()["activities"]
    for p in profiles:
        if any(w in goals for w in p["words"]):
            return dict(p)
    for p in profiles:
        if case.patient.activity_level in p["activity_levels"]:
            return dict(p)
    return dict(next(p for p in profiles if p["id"] == DAILY))


def _field(ex: Exercise, name: str) -> Any:
    where = _HOLDER.get(name)
    if where is None:
        raise KeyError(f"unknown exercise field {name!r} in a selector")
    return getattr(ex if where == "" else getattr(ex, where), name)


# Where a selector's field lives: the exercise's demands, its tags, or the exercise itself (first match wins),
# worked out once rather than by looking up each model's fields on every selector test.
_HOLDER: dict[str, str] = {}
for _where, _model in (("", Exercise), ("tags", Tags), ("demands", Demands)):  # reversed: demands win
    _HOLDER.update(dict.fromkeys(_model.model_fields, _where))


def matches(ex: Exercise, selector: dict[str, list[Any]]) -> bool:
    """True when every field named in the selector has one of the listed values."""
    return all(_field(ex, k) in v for k, v in selector.items())


def exercise_level(ex: Exercise) -> str:
    """The task level (stage) of an exercise, derived from its demands and tags; `foundation` when nothing matches."""
    rules = data.rta()["exercise_levels"]
    known = _LEVELS.get(ex.id)
    if known is not None and known[0] is ex and known[1] is rules:  # the same library exercise and rules
        return known[2]
    level = next((str(rule["stage"]) for rule in rules if matches(ex, rule["when"])), FOUNDATION)
    _LEVELS[ex.id] = (ex, rules, level)
    return level


# Levels of the library's exercises (loaded once, never changed): worked out once per exercise, not per selection.
# An entry counts only for the very same exercise and rules objects, so an edited exercise is never served stale.
_LEVELS: dict[str, tuple[Exercise, Any, str]] = {}


def _stage_defs() -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in data.rta()["stages"]}


def stages(activity: dict[str, Any], criteria: dict[str, list[Criterion]], *, all_met: bool) -> list[Stage]:
    """The activity's stages in order, each with its entry criteria and whether it is reached.

    A stage is reached when every entry criterion that applies to the person is met (criteria absent from
    `criteria` do not apply: the hamstring-specific ones, for example). When every return-to-activity criterion is
    met (`all_met`) every stage is open.
    """
    defs = _stage_defs()
    out = []
    for sid in activity["stages"]:
        d = defs[sid]
        crits = [c for cid in d["entry"] for c in criteria.get(cid, [])]
        reached = all_met or all(c.status == "met" for c in crits)
        out.append(Stage(
            id=sid, name=d["name"], phase=d["phase"], reached=reached,
            criteria=[StageCriterion(id=c.id, name=c.name, status=c.status, value=c.value) for c in crits],
            note=" ".join(str(d.get("note", "")).split()) or None, sources=list(d["sources"]), level=d["level"]))
    return out


def reached_stage(stage_list: list[Stage]) -> Stage:
    """The highest reached stage (the foundation is always reached)."""
    return next((s for s in reversed(stage_list) if s.reached), stage_list[0])


def open_levels(stage_list: list[Stage]) -> set[str]:
    """Task levels open now: every stage up to the highest reached one (meeting a later stage's stricter criteria
    opens the earlier stages too)."""
    top = stage_list.index(reached_stage(stage_list))
    return {s.id for s in stage_list[: top + 1]} | {FOUNDATION}


def stage_index(stage_list: list[Stage], level: str) -> int:
    ids = [s.id for s in stage_list]
    return ids.index(level) if level in ids else len(ids)  # a level outside the activity is never open
