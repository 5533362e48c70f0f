from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from hipext import evidence
from hipext.care.models import CarePlan, Screening
from hipext.care.plan import plan_care
from hipext.care.screening import screen
from hipext.core.case import Case
from hipext.core.interpret import interpret

CASES = Path(__file__).resolve().parents[1] / "cases" / "care"


def run(case: Case, today: dt.date | None = None) -> tuple[Screening, CarePlan, dict[str, Any]]:
    """Screen, interpret without blocked tests, plan; return the combined output document too."""
    today = today or (case.latest_visit.date if case.latest_visit else dt.date(2026, 11, 20))
    s = screen(case, today=today)
    results, findings = interpret(case, evidence.load(), blocked_tests=s.blocked_tests)
    plan = plan_care(case, results, findings, s, today=today)
    doc = {
        "screening": s.model_dump(mode="json"),
        "results": [r.model_dump(mode="json") for r in results],
        "findings": [f.model_dump(mode="json") for f in findings],
        **plan.model_dump(mode="json"),
    }
    return s, plan, doc


@pytest.fixture
def runner():  # type: ignore[no-untyped-def]
    return run
