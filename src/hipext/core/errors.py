"""Input problems, reported all at once with the field path, the value given and what was expected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "visits[0].measurements[2].lever_arm_m"
    value: Any
    expected: str

    def __str__(self) -> str:
        shown = repr(self.value) if self.value is not None else "nothing"
        return f"{self.path or '(file)'}: got {shown}; expected {self.expected}"

    def as_dict(self) -> dict[str, Any]:
        value = self.value if isinstance(self.value, (str, int, float, bool, type(None))) else repr(self.value)
        return {"path": self.path, "value": value, "expected": self.expected}


class CaseInputError(ValueError):
    """Raised with every problem found in a case, never just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
