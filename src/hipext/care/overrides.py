"""The clinician's edits to a prescribed program, applied by one pure function that every output uses.

`apply(program, overrides) -> Program` gives the program the page, the handout, the home program, the API and FHIR
show. An override is data: which exercise, which dose field (or `include`), the value as entered, the engine's value
when it was made, and why. When the engine later changes that value (it progressed the exercise, or dropped it), the
override is *stale*: it is not applied, and `review` lists it so the clinician sees both values and chooses.
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hipext.care.limits import violations
from hipext.care.models import Dose, Exercise, PrescribedExercise, Program, Screening

INCLUDE = "include"
# Dose fields that are counts or durations: whole numbers whatever the dose model's own type (it may be text).
WHOLE_NUMBER_FIELDS = frozenset(
    {
        "sets",
        "reps",
        "hold_s",
        "rest_s",
        "minutes",
        "sessions_per_week",
        "reps_in_reserve",
        "tempo_lowering_s",
        "load_rm",
    }
)
NOT_EDITABLE = frozenset({"level", "sources", "basis", "note", "progression_rule"})


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exercise: str
    field: str = Field(description="A dose field, or `include` (yes adds the exercise, no removes it).")
    value: str = Field(description="The value as the clinician entered it (validated by `parse_value`).")
    engine_value: str | None = Field(default=None, description="The engine's value when the override was made.")
    reason: str
    by: str | None = None
    at: dt.datetime | None = None
    id: int | None = None


class OverrideStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override: Override
    state: Literal["applied", "stale", "refused"]
    engine_value_now: str | None = None
    why: str = ""


def blocked_reason(ex: Exercise, screening: Screening) -> str | None:
    """Why screening keeps an exercise out (the limits it would break and the rules that set them), or None."""
    broken = violations(ex.demands, screening.limits)
    if not broken and ex.id not in screening.blocked_exercises:
        return None
    if not broken or broken == ["block_all"]:
        return "blocked by screening: " + screening.decision.replace("_", " ")
    parts = []
    for name in broken:
        rules = screening.limits.why.get(name) or []
        parts.append(name.replace("_", " ") + (f" ({', '.join(r.replace('_', ' ') for r in rules)})" if rules else ""))
    return "beyond the screening limits: " + "; ".join(parts)


def editable_fields() -> list[str]:
    """Dose fields a clinician may set, in the dose model's order."""
    return [f for f in Dose.model_fields if f not in NOT_EDITABLE]


def _text(v: Any) -> str | None:
    return None if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def parse_value(field: str, raw: str) -> tuple[Any, str | None]:
    """The typed value of a dose field as entered, or None and what was expected."""
    raw = raw.strip()
    if field not in editable_fields():
        return None, f"one of the dose fields: {', '.join(editable_fields())}"
    info = Dose.model_fields[field]
    if field in WHOLE_NUMBER_FIELDS:
        if not raw.isdigit() or int(raw) < (0 if field == "reps_in_reserve" else 1):
            return None, f"a whole number{' of 0 or more' if field == 'reps_in_reserve' else ' of 1 or more'}"
        value: Any = int(raw)
    else:
        value = raw
    ann = info.annotation
    if ann is str or str in typing.get_args(ann):
        value = str(value)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(typing.Annotated[ann, info])  # type: ignore[arg-type]
        return adapter.validate_python(value), None  # the model's own limits
    except ValidationError as exc:
        return None, exc.errors()[0]["msg"].lower()


def _latest(overrides: Sequence[Override]) -> dict[tuple[str, str], Override]:
    latest: dict[tuple[str, str], Override] = {}
    for o in overrides:
        latest[(o.exercise, o.field)] = o
    return latest


def review(
    program: Program, overrides: Sequence[Override], *, library: Mapping[str, Exercise], blocked: Collection[str]
) -> list[OverrideStatus]:
    """The state of each clinician edit in force (the latest per exercise and field) against the engine's program."""
    engine = {e.exercise: e for e in program.exercises}
    out = []
    for (ex_id, field), o in _latest(overrides).items():
        if field == INCLUDE:
            if o.value == "yes" and ex_id in blocked:
                out.append(OverrideStatus(override=o, state="refused", why="blocked by screening"))
            elif o.value == "yes" and ex_id not in library:
                out.append(OverrideStatus(override=o, state="refused", why="not in the exercise library"))
            elif o.value == "yes" and not program.exercises:
                out.append(OverrideStatus(override=o, state="refused", why="there is no program to add it to"))
            else:
                out.append(OverrideStatus(override=o, state="applied"))
            continue
        ex = engine.get(ex_id)
        now = _text(getattr(ex.dose, field, None)) if ex else None
        if ex is None and not _added(ex_id, overrides):
            why = "the engine no longer prescribes this exercise"
            out.append(OverrideStatus(override=o, state="stale", engine_value_now=None, why=why))
        elif ex is not None and o.engine_value is not None and now != o.engine_value:
            why = f"the engine changed {field} from {o.engine_value} to {now} since"
            out.append(OverrideStatus(override=o, state="stale", engine_value_now=now, why=why))
        else:
            out.append(OverrideStatus(override=o, state="applied", engine_value_now=now))
    return out


def _added(ex_id: str, overrides: Sequence[Override]) -> bool:
    o = _latest(overrides).get((ex_id, INCLUDE))
    return o is not None and o.value == "yes"


def _with(dose: Dose, changes: dict[str, Any]) -> Dose:
    return Dose.model_validate({**dose.model_dump(), **changes})


def apply(
    program: Program, overrides: Sequence[Override], *, library: Mapping[str, Exercise], blocked: Collection[str]
) -> Program:
    """The program with the clinician's edits in force: removed exercises out, added ones in (never one screening
    blocked), dose values replaced. Stale and refused edits are left out (see `review`)."""
    states = review(program, overrides, library=library, blocked=blocked)
    applied = [s.override for s in states if s.state == "applied"]
    removed = {o.exercise for o in applied if o.field == INCLUDE and o.value == "no"}
    exercises = [e for e in program.exercises if e.exercise not in removed]
    known = {e.exercise for e in program.exercises}
    for o in applied:
        if o.field == INCLUDE and o.value == "yes" and o.exercise not in known:
            ex = library[o.exercise]
            template = program.exercises[0]
            exercises.append(
                PrescribedExercise(
                    exercise=ex.id,
                    name=ex.name,
                    target=ex.tags.target,
                    dose=template.dose.model_copy(),
                    rationale=[f"Added by the clinician: {o.reason}"],
                    precautions=[],
                    cues=list(ex.cues),
                    watch_for=list(ex.compensations),
                    regression=ex.regression,
                    progression=ex.progression,
                    emg=list(ex.emg),
                    sources=[ex.source, *template.dose.sources],
                    # a supervised-only program sends nothing home unsupervised, the clinician's additions included
                    supervision="with_therapist" if program.supervised_only else "home",
                    how=ex.plain,
                )
            )
    changes: dict[str, dict[str, Any]] = {}
    for o in applied:
        if o.field != INCLUDE:
            value, _problem = parse_value(o.field, o.value)
            if _problem is None:
                changes.setdefault(o.exercise, {})[o.field] = value
    out = [
        e.model_copy(update={"dose": _with(e.dose, changes[e.exercise])}) if e.exercise in changes else e
        for e in exercises
    ]
    note = program.note
    if applied:
        note += (
            f" The clinician changed {len(applied)} item(s) of the prescription; each change is kept with its reason."
        )
    return program.model_copy(update={"exercises": out, "note": note})
