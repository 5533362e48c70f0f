"""Case files under tests/cases/care with the decisions a clinician expects, one per screening rule, phase and
progression outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hipext.care import data
from hipext.care.guard import assert_nothing_blocked
from hipext.caseio import read_case_file

from .conftest import CASES, run

CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if not p.name.endswith(".expected.yaml"))


def _expected(p: Path) -> dict:
    return yaml.safe_load(p.with_name(p.stem + ".expected.yaml").read_text())


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case_file(path: Path) -> None:
    exp = _expected(path)
    case = read_case_file(path)
    s, plan, doc = run(case)
    assert_nothing_blocked(doc, s)
    program_ids = [e.exercise for e in plan.program.exercises]
    assert s.decision == exp["decision"], s.summary
    if "rules" in exp:
        fired = sorted(f.rule for f in s.findings if f.decision != "proceed")
        assert fired == sorted(exp["rules"])
    if "phase" in exp:
        assert plan.program.phase == exp["phase"], plan.program.phase_reason
    if exp.get("program_empty"):
        assert program_ids == []
        assert plan.progression.decisions == []
        assert plan.follow_up.tests == []
    for key, value in (exp.get("limits") or {}).items():
        assert getattr(s.limits, key) == value, key
    for t in exp.get("blocked_tests_include", []):
        assert t in s.blocked_tests, t
    for t in exp.get("not_blocked_tests", []):
        assert t not in s.blocked_tests, t
    for e in exp.get("blocked_exercises_include", []):
        assert e in data.exercises(), e
        assert e in s.blocked_exercises, e
    for e in exp.get("allowed_exercises_include", []):
        assert e in data.exercises(), e
        assert e not in s.blocked_exercises, e
    if "program_includes_any" in exp:
        assert set(program_ids) & set(exp["program_includes_any"]), program_ids
    for e in exp.get("program_excludes", []):
        assert e not in program_ids
    if "program_exact" in exp:
        assert program_ids == exp["program_exact"]
    if "program_all_target_in" in exp:
        lib = data.exercises()
        assert program_ids and all(lib[e].tags.target in exp["program_all_target_in"] for e in program_ids)
    if "program_all_contraction" in exp:
        lib = data.exercises()
        assert all(lib[e].tags.contraction in exp["program_all_contraction"] for e in program_ids)
    if "program_first_task" in exp:
        assert data.exercises()[program_ids[0]].task == exp["program_first_task"], program_ids
    if "ready" in exp:
        assert plan.return_to_activity.ready is exp["ready"], plan.return_to_activity.summary
    for name, status in (exp.get("criteria_status") or {}).items():
        crit = {c.name: c for c in plan.return_to_activity.criteria}
        assert crit[name].status == status
    for cid, status in (exp.get("criteria_status_by_id") or {}).items():
        got = {c.status for c in plan.return_to_activity.criteria if c.id == cid}
        assert got == {status}, (cid, got)
    for text in exp.get("education_contains", []):
        assert text.lower() in plan.education.text.lower(), text
    if "follow_up_retest" in exp:
        assert plan.follow_up.retest_on == exp["follow_up_retest"]
    if exp.get("rescreen"):
        assert plan.follow_up.rescreen_on is not None
    if "alternatives" in exp:
        assert [a.kind for a in s.alternatives] == exp["alternatives"]
    for kind in exp.get("considerations_include", []):
        assert kind in [c.kind for c in plan.aftercare.considerations], kind
    for kind in exp.get("considerations_exclude", []):
        assert kind not in [c.kind for c in plan.aftercare.considerations], kind
    if "dose_effort_contains" in exp:
        assert plan.program.exercises
        assert all(exp["dose_effort_contains"] in e.dose.effort for e in plan.program.exercises)
    if "progression" in exp:
        got = {d.exercise: d.outcome for d in plan.progression.decisions}
        assert got == exp["progression"]
    for ex, nxt in (exp.get("progression_next") or {}).items():
        d = next(d for d in plan.progression.decisions if d.exercise == ex)
        assert d.next_exercise == nxt
    assert plan.education.reading_grade <= 8, plan.education.text


def test_every_rule_phase_and_outcome_has_a_case() -> None:
    rules, phases, outcomes = set(), set(), set()
    for p in CASE_FILES:
        exp = _expected(p)
        rules |= set(exp.get("rules", []))
        if exp.get("phase"):
            phases.add(exp["phase"])
        outcomes |= set((exp.get("progression") or {}).values())
    assert rules == {r["id"] for r in data.rules()}
    assert phases == {"protect", "restore", "strengthen", "return_to_activity"}
    assert outcomes == {"progress", "hold", "regress", "stop"}
