"""An evaluation frees what it made by reference counting: no reference cycles are left for the garbage collector,
whose full passes would otherwise grow with the case and make evaluation slower than linear in visits (issue 12)."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import pytest

from hipext.app import default_as_of, evaluate_case
from hipext.caseio import read_case_file

CASES = [p for p in sorted((Path(__file__).parent / "cases").glob("*.yaml")) if not p.stem.endswith(".expected")]
CASES += sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_evaluation_leaves_no_reference_cycles(path: Path) -> None:
    case = read_case_file(path)
    as_of = default_as_of(case) or dt.date(2026, 12, 1)  # a case with no visits has no default date
    evaluate_case(case, as_of=as_of)  # caches filled on the first call
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        evaluate_case(case, as_of=as_of)
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
