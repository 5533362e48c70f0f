from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from hipext.app import default_as_of, evaluate_case
from hipext.care.models import CarePlan, Screening
from hipext.core.case import Case

CASES = Path(__file__).resolve().parents[1] / "cases" / "care"
NO_VISIT_DATE = dt.date(2026, 11, 20)


def run(case: Case, today: dt.date | None = None) -> tuple[Screening, CarePlan, dict[str, Any]]:
    """The app's own path (`hipext.app.evaluate_case`, fail-closed guard included): its screening, its care sections
    as a CarePlan, and the whole document."""
    ev = evaluate_case(case, as_of=today or default_as_of(case) or NO_VISIT_DATE)
    assert ev.screening is not None
    plan = CarePlan.model_validate({k: getattr(ev, k) for k in CarePlan.model_fields})
    return ev.screening, plan, ev.model_dump(mode="json")


@pytest.fixture
def runner():  # type: ignore[no-untyped-def]
    return run
