"""The generic demand-versus-limit filter and the output guard."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipext.care import data
from hipext.care.guard import BlockedItemError, assert_nothing_blocked, find_blocked
from hipext.care.limits import allowed, merge, violations
from hipext.care.models import ORDINALS, Limits
from hipext.care.screening import screen
from hipext.core.case import Case

THA = Limits(hip_flexion_max_deg=90, hip_adduction_max_deg=0, hip_internal_rotation_max_deg=0)
ACUTE_HS = Limits(hamstring_effort="submaximal", hamstring_length="neutral", eccentric=False)


def test_posterior_tha_limits_block_deep_flexion_adduction_and_rotation() -> None:
    lib = data.exercises()
    assert violations(lib["goblet_squat"].demands, THA) == ["hip_flexion_max_deg"]
    assert violations(lib["crossover_step_up"].demands, THA) == ["hip_adduction_max_deg"]
    assert allowed(lib["sit_to_stand_raised_seat"].demands, THA)
    assert allowed(lib["quadruped_hip_extension_knee_flexed"].demands, THA)  # exactly 90° is within the limit
    fadir = data.test_demands()["fadir_test"]
    assert set(violations(fadir, THA)) == {"hip_adduction_max_deg", "hip_internal_rotation_max_deg"}


def test_acute_hamstring_limits_block_eccentric_lengthened_and_maximal_work() -> None:
    lib = data.exercises()
    assert "eccentric" in violations(lib["romanian_deadlift"].demands, ACUTE_HS)
    assert "hamstring_length" in violations(lib["romanian_deadlift"].demands, ACUTE_HS)
    assert "hamstring_effort" in violations(lib["nordic_hamstring_exercise"].demands, ACUTE_HS)
    assert allowed(lib["isometric_heel_dig_knee_flexed"].demands, ACUTE_HS)
    assert "hamstring_effort" in violations(data.test_demands()["hhd_hip_extension_prone_knee_extended"], ACUTE_HS)
    assert allowed(data.test_demands()["hhd_hip_extension_prone_knee_flexed"], ACUTE_HS)


def test_block_all_blocks_everything() -> None:
    assert all(violations(e.demands, Limits(block_all=True)) for e in data.exercises().values())


def test_merge_keeps_the_strictest_value_and_who_set_it() -> None:
    m = merge([("a", {"hip_flexion_max_deg": 90, "impact": "low", "eccentric": True}),
               ("b", {"hip_flexion_max_deg": 70, "impact": "none", "eccentric": False})])
    assert (m.hip_flexion_max_deg, m.impact, m.eccentric) == (70, "none", False)
    assert m.why["hip_flexion_max_deg"] == ["a", "b"]
    with pytest.raises(ValueError):
        merge([("x", {"hip_fexion_max_deg": 90})])


limit_values = st.fixed_dictionaries({}, optional={
    "hip_flexion_max_deg": st.sampled_from([0, 45, 60, 70, 90, 100, 120]),
    "hip_adduction_max_deg": st.sampled_from([0, 10]),
    "hip_internal_rotation_max_deg": st.sampled_from([0, 10]),
    **{k: st.sampled_from(v) for k, v in ORDINALS.items()},
    "eccentric": st.booleans(),
    "resisted": st.booleans(),
})


@settings(max_examples=200, deadline=None)
@given(limit_values)
def test_filter_never_lets_a_demand_exceed_a_limit(values: dict) -> None:
    limits = Limits(**values)
    for ex in data.exercises().values():
        if not violations(ex.demands, limits):
            d = ex.demands
            if limits.hip_flexion_max_deg is not None:
                assert d.hip_flexion_max_deg <= limits.hip_flexion_max_deg
            for k, scale in ORDINALS.items():
                if getattr(limits, k) is not None:
                    assert scale.index(getattr(d, k)) <= scale.index(getattr(limits, k))
            if limits.eccentric is False:
                assert not d.eccentric


def test_guard_finds_ids_in_nested_values_and_keys_but_not_in_blocked_lists() -> None:
    s = {"blocked_tests": ["step_up"], "blocked_exercises": ["nordic_hamstring_exercise"]}
    doc = {"screening": {"blocked_tests": ["step_up"], "blocked_exercises": ["nordic_hamstring_exercise"]},
           "program": {"exercises": [{"exercise": "forward_step_up", "note": "not step-up"}]}}
    assert find_blocked(doc, s) == []  # forward_step_up is a different token; prose "step-up" is not an id
    doc["follow_up"] = {"tests": [{"test": "step_up"}]}
    doc["education"] = {"nordic_hamstring_exercise": "x"}
    with pytest.raises(BlockedItemError) as err:
        assert_nothing_blocked(doc, s)
    assert {h[0] for h in err.value.hits} == {"step_up", "nordic_hamstring_exercise"}


def test_shared_test_and_exercise_id_is_blocked_in_both_lists() -> None:
    case = Case.model_validate({
        "hipext_case": 1, "patient": {"id": "x", "age": 25, "sex": "male", "body_mass_kg": 75},
        "history": {"conditions": ["acute_hamstring_strain"], "involved_side": "left"}})
    s = screen(case, today=dt.date(2026, 11, 20))
    assert "single_leg_bridge" in s.blocked_tests and "single_leg_bridge" in s.blocked_exercises


def test_monitoring_opens_maximal_tests_for_a_known_stable_condition_only() -> None:
    base = {"hipext_case": 1, "patient": {"id": "x", "age": 70, "sex": "male", "body_mass_kg": 80},
            "history": {"comorbidities": ["coronary_artery_disease"]}}
    s = screen(Case.model_validate(base), today=dt.date(2026, 11, 20))
    assert s.decision == "modify" and "hhd_hip_extension_prone_knee_flexed" in s.blocked_tests
    base["history"]["red_flags"] = {"exertion_monitoring_available": True}
    s = screen(Case.model_validate(base), today=dt.date(2026, 11, 20))
    assert s.decision == "modify" and s.blocked_tests == [] and s.limits.supervised
    assert [f.rule for f in s.findings] == ["cardiopulmonary_monitored"]
    # New, unevaluated exertional chest pain: monitoring on site does not make it safe.
    base["history"]["red_flags"] = {"exertion_monitoring_available": True, "exertional_chest_pain": True}
    s = screen(Case.model_validate(base), today=dt.date(2026, 11, 20))
    assert s.decision == "refer" and s.limits.block_all
    base["history"]["red_flags"] = {"exertional_chest_pain": True, "cardiac_condition_stable_managed": True}
    s = screen(Case.model_validate(base), today=dt.date(2026, 11, 20))
    assert s.decision == "modify"
    base["history"]["red_flags"] = {"exertional_chest_pain": True, "cardiac_condition_stable_managed": True,
                                    "exertional_symptoms_new_or_unevaluated": True}
    assert screen(Case.model_validate(base), today=dt.date(2026, 11, 20)).decision == "refer"


def test_surgeon_can_lift_a_default_and_planned_surgery_is_not_post_operative() -> None:
    def case(restrictions: list[dict], date: str = "2026-11-01") -> Case:
        return Case.model_validate({
            "hipext_case": 1, "patient": {"id": "x", "age": 40, "sex": "female", "body_mass_kg": 60},
            "history": {"surgery": {"procedure": "proximal_hamstring_repair", "date": date,
                                    "restrictions": restrictions}}})
    today = dt.date(2026, 12, 20)  # week 7: phase II default forbids eccentric work
    assert screen(case([]), today=today).limits.eccentric is False
    lifted = screen(case([{"kind": "no_eccentric", "value": False}]), today=today)
    assert lifted.limits.eccentric is None
    planned = screen(case([], date="2027-01-10"), today=today)
    assert planned.decision == "proceed"


def _history_case(**history: object) -> Case:
    return Case.model_validate({"hipext_case": 1, "patient": {"id": "x", "age": 50, "sex": "male",
                                                              "body_mass_kg": 80}, "history": history})


def test_negated_or_past_conditions_do_not_trigger_rules() -> None:
    today = dt.date(2026, 11, 20)
    assert screen(_history_case(conditions=["cauda_equina_ruled_out"]), today=today).decision == "proceed"
    assert screen(_history_case(conditions=["healed_stress_fracture"]), today=today).decision == "proceed"
    assert screen(_history_case(conditions=["stress_fracture"]), today=today).decision == "refer"


def test_procedure_words_match_whole_words() -> None:
    today = dt.date(2026, 11, 20)
    s = screen(_history_case(surgery={"procedure": "posterior pathological fracture fixation",
                                      "date": "2026-11-01"}), today=today)
    assert [f.rule for f in s.findings] == ["other_surgery"]
    s = screen(_history_case(surgery={"procedure": "posterior THA", "date": "2026-11-01"}), today=today)
    assert [f.rule for f in s.findings] == ["posterior_tha"]


def test_old_surgery_without_restrictions_does_not_hold_the_person_back() -> None:
    today = dt.date(2026, 11, 20)
    recent = screen(_history_case(surgery={"procedure": "knee arthroscopy", "date": "2026-11-01"}), today=today)
    assert recent.decision == "modify" and "Obtain the surgeon's restrictions" in recent.findings[0].action
    old = screen(_history_case(surgery={"procedure": "knee arthroscopy", "date": "2016-11-01"}), today=today)
    assert old.decision == "proceed"


def test_plan_is_deterministic_for_the_same_case() -> None:
    from pathlib import Path

    from hipext.caseio import read_case_file

    from .conftest import run

    path = Path(__file__).resolve().parents[1] / "cases" / "care" / "progression_mixed.yaml"
    _, _, first = run(read_case_file(path))
    _, _, second = run(read_case_file(path))
    assert first == second


def _septic_after_injection() -> Case:
    return Case.model_validate({
        "hipext_case": 1, "patient": {"id": "x", "age": 67, "sex": "female", "body_mass_kg": 70},
        "history": {"conditions": ["hip_osteoarthritis"], "medications": ["paracetamol"],
                    "red_flags": {"fever": True, "recent_joint_injection": True}},
        "visits": [{"date": "2026-11-20", "measurements": [{"test": "nprs", "context": "worst_24h", "value": 8}]}]})


def test_guard_catches_sections_that_contradict_screening() -> None:
    from hipext.care.guard import find_contradictions

    from .conftest import run

    s, _, doc = run(_septic_after_injection())
    assert s.decision == "refer_urgent" and "injection_joint_or_tendon" in s.stopped_considerations
    assert find_contradictions(doc, s) == []
    bad = dict(doc, aftercare=dict(doc["aftercare"], considerations=[
        {"id": "injection_joint_or_tendon", "kind": "injection", "consider": "Consider discussing an injection"}]))
    assert [p for _, p in find_contradictions(bad, s)] == ["aftercare.considerations[0]"]
    bad = dict(doc, program=dict(doc["program"], phase="strengthen"), return_to_activity=dict(
        doc["return_to_activity"], ready=True))
    assert {p for _, p in find_contradictions(bad, s)} == {"program.phase", "return_to_activity.ready"}
    with pytest.raises(BlockedItemError):
        assert_nothing_blocked(bad, s)


def test_guard_catches_a_blocked_exercise_named_in_words_and_not_an_allowed_one() -> None:
    from .conftest import run

    case = Case.model_validate({
        "hipext_case": 1, "patient": {"id": "x", "age": 55, "sex": "female", "body_mass_kg": 70},
        "history": {"conditions": ["gluteal_tendinopathy"]}, "visits": [{"date": "2026-11-20"}]})
    s, _, doc = run(case)
    assert "side_plank" in s.blocked_exercises and "clamshell" in s.blocked_exercises
    lib = data.exercises()
    named = dict(doc, education=dict(doc["education"], text=f"Try the {lib['clamshell'].name.lower()} at home."))
    assert {h[1] for h in find_blocked(named, s)} == {"education.text"}
    longer = dict(doc, education=dict(doc["education"], text=f"{lib['hip_hitch'].name} twice a day."))
    assert find_blocked(longer, s) == []


def test_phase_above_the_screening_ceiling_is_a_contradiction() -> None:
    from hipext.care.guard import find_contradictions

    from .conftest import run

    case = Case.model_validate({
        "hipext_case": 1, "patient": {"id": "x", "age": 41, "sex": "male", "body_mass_kg": 78},
        "history": {"conditions": ["high_hamstring_tendinopathy"]},
        "visits": [{"date": "2026-11-20", "measurements": [{"test": "nprs", "context": "worst_24h", "value": 6}]}]})
    s, plan, doc = run(case)
    assert s.max_phase == "protect" and plan.program.phase == "protect"
    assert find_contradictions(dict(doc, program=dict(doc["program"], phase="restore")), s)


def test_rules_fire_on_what_the_words_mean_not_on_substrings() -> None:
    """No over-referral: an incomplete tear is not a complete one; a knee arthroscopy is not a hip arthroscopy; an
    adult with closed growth plates and a pop is a strain, not an apophyseal avulsion."""
    today = dt.date(2026, 11, 20)
    assert screen(_history_case(conditions=["incomplete_tear"]), today=today).decision == "proceed"
    assert screen(_history_case(conditions=["complete_tear"]), today=today).decision == "refer"
    knee = screen(_history_case(surgery={"procedure": "knee arthroscopy", "date": "2026-11-01"}), today=today)
    assert [f.rule for f in knee.findings] == ["other_surgery"]
    pop = {"onset": {"date": "2026-11-18", "mechanism": "sprint, felt a pop"}, "presentation": ["ischial_pain"]}
    assert screen(_history_case(**pop, growth_plates="closed"), today=today).decision == "proceed"
    assert screen(_history_case(**pop, growth_plates="open"), today=today).decision == "refer"
