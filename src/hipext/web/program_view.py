"""The program as the pages show it (program page, handout, patient link, follow-up form), read from the typed
`Evaluation`: its `Program` with the clinician's edits applied and its `clinician_edits`. Nothing here parses the
core's prose or guesses at dictionary keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hipext.care import data as care_data
from hipext.care.dose_words import instructions
from hipext.care.models import PrescribedExercise
from hipext.care.overrides import INCLUDE, Override, blocked_reason, editable_fields
from hipext.document import Evaluation


@dataclass(frozen=True)
class ProgramRow:
    """One exercise of the applied program, or one the clinician removed (kept so the page says so)."""

    id: str
    name: str
    exercise: PrescribedExercise | None  # None when removed
    dose: dict[str, Any] = field(default_factory=dict)  # the editable dose fields that have a value
    overridden: dict[str, Override] = field(default_factory=dict)  # dose field (or include) -> the clinician's edit
    removed: bool = False
    added: bool = False

    @property
    def home(self) -> bool:
        """Done at home (not only at sessions with the therapist)."""
        return self.exercise is not None and self.exercise.supervision == "home"

    @property
    def instructions(self) -> str:
        """The dose in the patient's words (follows the clinician's edits, since the program is applied)."""
        return instructions(self.exercise) if self.exercise is not None else ""


def rows(evaluation: Evaluation | None) -> list[ProgramRow]:
    """The program's exercises as rows, then the exercises the clinician removed."""
    if evaluation is None:
        return []
    applied = {(s.override.exercise, s.override.field): s.override
               for s in evaluation.clinician_edits if s.state == "applied"}
    fields = editable_fields()
    out = []
    for ex in evaluation.program.exercises if evaluation.program else []:
        dose = {f: getattr(ex.dose, f) for f in fields if getattr(ex.dose, f, None) not in (None, "")}
        mine = {f: o for (i, f), o in applied.items() if i == ex.exercise and f != INCLUDE}
        out.append(ProgramRow(ex.exercise, ex.name, ex, dose, mine, added=(ex.exercise, INCLUDE) in applied))
    library = care_data.exercises()
    for (i, f), o in applied.items():
        if f == INCLUDE and o.value == "no":
            out.append(ProgramRow(i, library[i].name if i in library else i, None, overridden={INCLUDE: o},
                                  removed=True))
    return out


def current(evaluation: Evaluation | None) -> list[ProgramRow]:
    """The exercises in the program now (removed ones left out)."""
    return [r for r in rows(evaluation) if not r.removed]


def picker(evaluation: Evaluation | None) -> list[dict[str, Any]]:
    """Every library exercise for the add-an-exercise picker, the ones screening blocked disabled with the reason."""
    screening = evaluation.screening if evaluation is not None else None
    out = []
    for ex in sorted(care_data.exercises().values(), key=lambda e: e.name):
        why = blocked_reason(ex, screening) if screening else None
        out.append({"id": ex.id, "name": ex.name, "family": ex.family.replace("_", " "), "blocked": why})
    return out


def planned_per_week(evaluation: Evaluation | None) -> float | None:
    """Sessions a week the program asks for, from the typed dose (None when no exercise states it)."""
    for ex in evaluation.program.exercises if evaluation is not None and evaluation.program else []:
        n = getattr(ex.dose, "sessions_per_week", None)
        if isinstance(n, (int, float)):
            return float(n)
    return None
