"""The follow-up table of the visit form: how the person responded to each prescribed exercise since the last visit
(case `exercise_responses`). Each row concerns its own exercise only: what the person was actually doing (sets,
repetitions, load, sessions a week), its pain during and next morning, effort and completion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hipext.web.forms import clean, split_list


@dataclass(frozen=True)
class Column:
    field: str  # ExerciseResponse field
    label: str  # as the clinician reads it, unit included
    step: str = "1"


# In the order a clinician asks: what was done, how it felt, how hard, how often.
COLUMNS = [
    Column("sets", "Sets done"),
    Column("reps", "Reps per set"),
    Column("load_kg", "Load (kg)", "any"),
    Column("sessions_per_week", "Sessions / week"),
    Column("pain_during", "Pain during (0-10)", "any"),
    Column("pain_next_morning", "Pain next morning (0-10)", "any"),
    Column("pain_baseline", "Usual pain (0-10)", "any"),
    Column("rpe", "Effort (RPE 0-10)", "any"),
    Column("reps_in_reserve", "Could do more (reps)"),
    Column("sessions_done", "Sessions done"),
    Column("sessions_planned", "Sessions planned"),
]
LABELS = {c.field: c.label for c in COLUMNS} | {"completed": "Done", "compensation": "Compensation"}


def responses_from_form(form: Any, exercise_ids: list[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The filled rows as `exercise_responses`, and which form field each problem path within the visit came from.
    A row with nothing but the "done" box is not a response."""
    responses: list[dict[str, Any]] = []
    field_of: dict[str, str] = {}
    for row_no, ex_id in enumerate(exercise_ids):
        pre = f"er.{row_no}."
        vals = {f: clean(form.get(pre + f)) for f in LABELS}
        if not any(v for f, v in vals.items() if f != "completed"):
            continue
        idx = len(responses)
        r: dict[str, Any] = {"exercise": ex_id, "completed": vals["completed"] in ("on", "yes", "true", "1")}
        for f, v in vals.items():
            field_of[f"exercise_responses[{idx}].{f}"] = pre + f
            if f != "completed" and v:
                r[f] = split_list(v) if f == "compensation" else v
        responses.append(r)
    return responses, field_of


def response_values(responses: list[dict[str, Any]]) -> dict[str, str]:
    """Stored responses as the table's values (to amend a visit)."""
    v: dict[str, str] = {}
    for k, r in enumerate(responses):
        for f, x in r.items():
            if f == "completed":
                v[f"er.{k}.completed"] = "on" if x else ""
            elif f == "compensation":
                v[f"er.{k}.compensation"] = ", ".join(x or [])
            elif f != "exercise" and x is not None:
                v[f"er.{k}.{f}"] = f"{x:g}" if isinstance(x, float) else str(x)
    return v


def field_label(name: str) -> str | None:
    """'er.2.load_kg' -> 'Exercise responses, row 3: Load (kg)'."""
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "er" or not parts[1].isdigit() or parts[2] not in LABELS:
        return None
    return f"Exercise responses, row {int(parts[1]) + 1}: {LABELS[parts[2]]}"


def from_home_logs(per_exercise: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, str]:
    """Prefill each row from what the patient logged for that exercise through their link (never from another
    exercise's entry, and never from a whole-session rating)."""
    values: dict[str, str] = {}
    for k, row in enumerate(rows):
        logged = per_exercise.get(row["id"]) or {}
        for f in ("pain_during", "pain_next_morning", "sessions_done"):
            if logged.get(f) is not None:
                values[f"er.{k}.{f}"] = f"{logged[f]:g}"
    return values
