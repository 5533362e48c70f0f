"""Numbers a clinician can trust: a norm only for the population it describes (age, setting, device), bands with
both ends or below/above, and an MDC given in percent stated once as the N m figure that applies, with its basis."""

from __future__ import annotations

import re

import pytest

from hipext import evidence
from hipext.core.case import Case
from hipext.core.interpret import interpret


def _hhd_case(*, residence: str = "community", device: str | None = None, age: int = 72) -> Case:
    m = {"test": "hhd_hip_extension_supine", "trials_n": [50], "lever_arm_m": 0.35, "fixation": "belt"}
    if device:
        m["device"] = device
    return Case.model_validate({
        "hipext_case": 1,
        "patient": {"id": "n", "age": age, "sex": "female", "body_mass_kg": 65, "residence": residence},
        "history": {"involved_side": "left"},
        "visits": [{"date": "2026-11-10", "measurements": [{**m, "side": "left"}, {**m, "side": "right"}]}]})


def _norm(case: Case):
    results, _ = interpret(case, evidence.load())
    return results[0].norm


def test_a_care_home_norm_is_not_applied_to_a_community_dwelling_woman() -> None:
    n = _norm(_hhd_case())
    assert not n.available and n.status is None
    assert n.statement.startswith("No norm for this person; norms that exist: Nursing-home residents")
    assert "care-home residents only" in n.statement


@pytest.mark.parametrize("device,applies", [("MicroFET2", True), ("microFET 2", True), (None, True),
                                            ("Lafayette 01165", False)])
def test_the_care_home_norm_applies_to_a_care_home_resident_measured_with_its_device(device, applies) -> None:
    n = _norm(_hhd_case(residence="care_home", device=device))
    assert n.available is applies
    if applies:
        assert n.status == "below" and n.band == "cut-off: below 0.79 N/kg is low"
        assert ("device was not recorded" in (n.caveat or "")) is (device is None)
    else:
        assert "measured with MicroFET2; this test used Lafayette 01165" in n.statement


def test_the_care_home_norm_is_not_applied_below_its_age_window() -> None:
    n = _norm(_hhd_case(residence="care_home", device="MicroFET2", age=50))
    assert not n.available and "applied from age 65" in n.statement


def _bridge(reps: int, age: int = 25) -> Case:
    return Case.model_validate({
        "hipext_case": 1, "patient": {"id": "b", "age": age, "sex": "male", "body_mass_kg": 75},
        "history": {"involved_side": "right"},
        "visits": [{"date": "2026-11-10", "measurements": [
            {"test": "single_leg_bridge", "side": "right", "reps": reps},
            {"test": "single_leg_bridge", "side": "left", "reps": 28}]}]})


@pytest.mark.parametrize("reps,band", [(18, "poor: below 20 repetitions"),
                                       (24, "average (about 25): 20-30 repetitions"),
                                       (33, "good: 31 repetitions or more")])
def test_bands_print_both_ends_or_below_and_above_never_a_negative(reps: int, band: str) -> None:
    results, _ = interpret(_bridge(reps), evidence.load())
    n = results[0].norm
    assert n.band == band and band.split(": ")[-1] in n.statement
    assert not re.search(r"\(\s*[-–]\s*\d", n.statement + n.band)


def test_footballer_bridge_bands_are_not_applied_outside_the_sample_ages() -> None:
    results, _ = interpret(_bridge(18, age=70), evidence.load())
    assert not results[0].norm.available and "applied up to age 34" in results[0].norm.statement


def test_an_mdc_in_percent_is_stated_once_as_the_n_m_figure_that_applies() -> None:
    visits = []
    for date, right in (("2026-10-01", [182, 190, 186]), ("2026-10-22", [228, 236, 231])):
        visits.append({"date": date, "measurements": [
            {"test": "hhd_hip_extension_prone_knee_flexed", "side": s, "trials_n": t, "lever_arm_m": 0.38,
             "fixation": "belt"} for s, t in (("right", right), ("left", [210, 214, 205]))]})
    case = Case.model_validate({"hipext_case": 1, "visits": visits, "history": {"involved_side": "right"},
                                "patient": {"id": "m", "age": 34, "sex": "male", "body_mass_kg": 78}})
    results, _ = interpret(case, evidence.load())
    change = next(r.change for r in results if r.side == "right" and r.change)
    assert change.mdc == pytest.approx(190 * 0.38 * 0.29, abs=0.01)
    figure = f"{change.mdc:.3g} N m"
    assert change.reason.count("MDC") == 1 and change.reason.count(figure) == 1
    assert change.mdc_basis.startswith("29% of the previous 72.2 N m, the upper end of the published 14-29%")
    assert change.verdict == "possibly_real"
