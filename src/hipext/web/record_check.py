"""A write is checked against the whole record as it would stand after it.

Checking the written part alone let a clinician save what the record then refuses at evaluation (an onset dated
after the stored visits, a second entry of a test already stored for that day), locking the record. A problem the
record already had before the write is not the writer's doing and does not block it: otherwise one old mistake
would stop every correction, including the one that fixes it.
"""

from __future__ import annotations

import re
from typing import Any

from hipext.caseio import parse_case
from hipext.core.case import Case
from hipext.core.case import Visit as CaseVisit
from hipext.core.errors import CaseInputError, Problem
from hipext.store import repo
from hipext.store.models import Patient, Visit

_VISIT = re.compile(r"^visits\[(\d+)\]")


def _keyed(problems: list[Problem], visit_ids: list[Any]) -> list[tuple[str, str]]:
    """What each problem says about which part: a visit by its stored id, since its place changes with the write."""
    def where(p: Problem) -> str:
        return _VISIT.sub(lambda m: f"visit {visit_ids[int(m.group(1))]}", p.path)
    return [(where(p), p.expected) for p in problems]


def _problems(data: dict[str, Any]) -> tuple[Case | None, list[Problem]]:
    try:
        return parse_case(data), []
    except CaseInputError as exc:
        return None, exc.problems


def whole_after(
    row: Patient,
    *,
    patient: dict[str, Any] | None = None,
    history: dict[str, Any] | None = None,
    visit: dict[str, Any] | None = None,
    replacing: Visit | None = None,
) -> tuple[Case | None, CaseVisit | None, list[Problem]]:
    """The whole case after the write (None if it has problems), the written visit in it, and the problems the
    write brings in. The written visit goes first, so its problems name `visits[0]` as the visit form does; it takes
    the place of `replacing` when a visit is amended."""
    stored = repo.case_data(row)
    kept = [v for v in row.active_visits if v is not replacing]
    after = dict(
        stored,
        patient=stored["patient"] if patient is None else patient,
        history=stored["history"] if history is None else history,
        visits=([visit] if visit is not None else []) + [dict(v.data_json) for v in kept],
    )
    case, problems = _problems(after)
    if case is not None:
        # Visits are read oldest first; the sort is stable, so the written one is the first of its date.
        written = next((v for v in case.visits if v.date.isoformat() == str(visit["date"])), None) if visit else None
        return case, written, []
    before = set(_keyed(_problems(stored)[1], [v.id for v in row.active_visits]))
    ids = (["written"] if visit is not None else []) + [v.id for v in kept]
    return None, None, [p for p, k in zip(problems, _keyed(problems, ids), strict=True) if k not in before]
