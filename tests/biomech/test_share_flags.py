"""A share of capacity above 100 % is an implausible combination, never a reserve of -99 %; a test set-up that
under-represents the extensors gives a corrected estimate with its range. Same judgement for ``hipext model task``
and the evaluation document."""

from __future__ import annotations

import math

import pytest
import yaml
from typer.testing import CliRunner

from hipext.app import evaluate_case
from hipext.biomech import anderson
from hipext.biomech.capacity import CapacityBasis, capacity_report, check_share, knee_effect_at_test
from hipext.caseio import read_case_file
from hipext.cli import _register_commands, app
from hipext.core.case import Case
from hipext.reports import render

from ..conftest import CASES
from ..test_cases import as_of, expected_for
from .conftest import SHARED

RUN = SHARED / "data" / "running_hamner"
_register_commands()
runner = CliRunner()
CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if not p.name.endswith(".expected.yaml"))


def test_share_above_100_is_implausible_with_no_reserve_and_named_causes():
    c = check_share(share_percent=1618.0, basis=CapacityBasis(scaled_to_measurement=True))
    assert c.status == "implausible" and c.reserve_percent is None
    # Nothing specific found: every likely cause is named.
    assert set(c.likely_causes) == {"test_setup", "scaling", "units", "different_subjects"}
    assert "implausible" in c.describe().lower() and "-1518" not in c.describe()


def test_plausible_share_keeps_its_reserve():
    c = check_share(share_percent=30.0, basis=CapacityBasis(scaled_to_measurement=True))
    assert c.status == "plausible" and c.reserve_percent == pytest.approx(70.0) and c.range_percent is None


def test_knee_flexed_test_gives_a_corrected_estimate_with_range():
    ratio = knee_effect_at_test(hip_flexion_deg=0.0, knee_flexion_deg=90.0)["ratio_to_knee_extended"]
    assert ratio < 0.95  # the model says the hamstrings are slack with the knee flexed
    c = check_share(share_percent=91.0, basis=CapacityBasis(scaled_to_measurement=True, setup_ratio=ratio,
                                                           setup_reason="knee flexed"))
    assert c.status == "estimate" and c.likely_causes == ("test_setup",)
    assert c.share_percent == pytest.approx(91.0 * ratio)
    assert c.range_percent == pytest.approx((91.0 * ratio, 91.0))
    assert c.reserve_percent is None


def test_running_trial_against_a_weak_knee_flexed_measurement_is_flagged_in_model_task():
    """The tester's case: a running trial against a low knee-flexed measurement printed '1618 % (reserve -1518 %)'."""
    r = runner.invoke(app, ["model", "task", "--sex", "male", "--age", "24", "--mass-kg", "65.9", "--height-m", "1.8",
                            "--measured-torque-nm", "40", "--test-hip-flexion-deg", "0", "--test-knee-flexion-deg",
                            "90", "--kinematics", str(RUN / "rra_run_1_Kinematics_q.sto"), "--moments",
                            str(RUN / "rra_run_1_Actuation_force.sto"), "--side", "l", "--no-muscles"])
    assert r.exit_code == 0, r.output
    assert "IMPLAUSIBLE" in r.output and "reserve -" not in r.output
    assert "test set-up" in r.output and "knee flexed 90 deg" in r.output


def _footballer(torque_nm: float, knee_deg: float | None = 90.0) -> dict:
    return capacity_report(sex="male", age=24, body_mass_kg=80.0, height_m=1.83, measured_torque_nm=torque_nm,
                           test_hip_flexion_deg=0.0, test_knee_flexion_deg=knee_deg)


def test_walking_is_not_near_maximal_for_a_healthy_adult_tested_knee_flexed():
    """A healthy footballer tested prone with the knee flexed gets the knee-flexed share of his group's torque;
    walking must then read about as it does for the group, not as near-maximal."""
    params, _ = anderson.select_group(sex="male", age=24)
    group_at_0 = 80.0 * 9.81 * 1.83 * float(params.torque_per_mgh(0.0))
    ratio = knee_effect_at_test(hip_flexion_deg=0.0, knee_flexion_deg=90.0)["ratio_to_knee_extended"]
    rep = _footballer(group_at_0 * ratio)
    walk = next(t for t in rep["tasks"] if t["task"] == "walking")
    assert walk["share_status"] == "estimate"
    assert walk["share_of_capacity_percent"] == pytest.approx(walk["group_mean_share_percent"], rel=0.02)
    assert walk["share_range_percent"][1] == pytest.approx(walk["share_of_capacity_percent"] / ratio, rel=0.01)
    assert walk["reserve_percent"] is None
    # Tested knee extended, the same torque needs no correction.
    straight = next(t for t in _footballer(group_at_0, knee_deg=0.0)["tasks"] if t["task"] == "walking")
    assert straight["share_status"] == "plausible"
    assert straight["share_of_capacity_percent"] == pytest.approx(walk["group_mean_share_percent"], rel=0.02)


def test_very_low_measurement_flags_the_set_up_before_the_share_is_believed():
    rep = _footballer(35.0, knee_deg=0.0)
    run = next(t for t in rep["tasks"] if t["task"] == "running")
    assert run["share_status"] == "implausible"
    assert run["share_check"]["likely_causes"][0] == "test_setup"
    assert any("SD below" in r for r in run["share_check"]["reasons"])
    assert run["reserve_percent"] is None
    assert "different_subjects" in run["share_check"]["likely_causes"]  # the published demand is another person's


@pytest.mark.parametrize("case_file", CASE_FILES, ids=lambda p: p.stem)
def test_no_evaluation_prints_a_negative_reserve_or_an_unflagged_share_above_100(case_file):
    doc = evaluate_case(read_case_file(case_file), as_of=as_of(expected_for(case_file))).model_dump(mode="json")
    cap = doc.get("capacity") or {}
    for t in cap.get("tasks") or []:
        if t["share_of_capacity_percent"] is None:
            continue
        assert t["reserve_percent"] is None or t["reserve_percent"] >= 0, t
        if t["share_of_capacity_percent"] > 100:
            assert t["share_status"] == "implausible", t
        if t["share_status"] != "plausible":
            assert t["reserve_percent"] is None and t["share_check"]["reasons"], t


def test_evaluation_and_reports_show_the_flag():
    raw = yaml.safe_load((CASES / "athlete_hamstring_right.yaml").read_text())
    for v in raw["visits"]:  # a weak knee-flexed measurement on the involved side
        for m in v["measurements"]:
            if m["test"] == "hhd_hip_extension_prone_knee_flexed" and m.get("side") == "right":
                m["trials_n"] = [60, 62, 61]
    ev = evaluate_case(Case.model_validate(raw))
    run = next(t for t in ev.capacity["tasks"] if t["task"] == "running")
    assert run["share_status"] == "implausible"
    md = render(ev, "markdown")
    html = render(ev, "html")
    for text in (md, html):
        assert "implausible: likely test set-up" in text
        assert "Flagged:" in text
    assert "-" + str(math.floor(run["share_of_capacity_percent"] - 100)) + "%" not in md


def test_strength_entered_per_kg_names_units_first():
    rep = capacity_report(sex="male", age=24, body_mass_kg=80.0, height_m=1.83, measured_torque_nm=2.4,
                          test_hip_flexion_deg=0.0, test_knee_flexion_deg=0.0)
    walk = next(t for t in rep["tasks"] if t["task"] == "walking")
    assert walk["share_status"] == "implausible" and walk["share_check"]["likely_causes"][0] == "units"
    assert any("N m/kg" in r for r in walk["share_check"]["reasons"])
