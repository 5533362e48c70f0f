"""FHIR R4 export: every shipped case exports to a bundle a real validator accepts, and the bundle says what the
evaluation says (NPRS LOINC, torque values, LSI provenance, screening, plan, goals, handout), never a blocked item.

Validator: `fhir.resources` R4B models (fhir.resources 8.x ships R4B and STU3 but no pure R4 4.0.1 package). R4B is
the closest release to R4 and identical for the resources exported here (Patient, Encounter, Observation, Device,
DetectedIssue, ClinicalImpression, Goal, CarePlan, DocumentReference, CodeSystem, Bundle).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from hipext.app import default_as_of, evaluate_case
from hipext.care.guard import assert_nothing_blocked, find_blocked
from hipext.caseio import read_case_file
from hipext.core.case import Case
from hipext.document import Evaluation
from hipext.fhir import bundle_json, to_bundle
from hipext.fhir import codes as C
from hipext.fhir.bundle import is_withheld, without_withheld
from hipext.fhir.cli import register

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"
CASE_FILES = sorted(p for p in [*CASES.glob("*.yaml"), *(CASES / "care").glob("*.yaml")]
                    if not p.name.endswith(".expected.yaml"))
IDS = [str(p.relative_to(CASES)) for p in CASE_FILES]
BAD = CASES / "bad" / "impossible_values.yaml"


def _evaluate(case: Case) -> Evaluation:
    """As `hipext export` does: as of the latest visit (a fixed date for the case with no visits yet)."""
    return evaluate_case(case, as_of=default_as_of(case) or dt.date(2026, 11, 20))


@functools.cache
def _export(path: Path) -> tuple[Evaluation, dict[str, Any]]:
    case = read_case_file(path)
    evaluation = _evaluate(case)
    return evaluation, to_bundle(case, evaluation)


def _resources(bundle: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def _by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def _codes(concept: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c.get("system") == system]


def _laterality(obs: dict[str, Any]) -> str | None:
    site = obs.get("bodySite")
    if site is None:
        return None
    (ext,) = [x for x in site["extension"] if x["url"] == C.EXT_LATERALITY]
    return {"7771000": "left", "24028007": "right"}[ext["valueCodeableConcept"]["coding"][0]["code"]]


def _result_observations(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Observations that carry an evaluation result (records of withheld tests carry none)."""
    return [o for o in _resources(bundle, "Observation") if _codes(o["code"], C.CS_TEST) and not is_withheld(o)]


def _walk(x: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere in x."""
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            if k == key:
                out.append(v)
            out += _walk(v, key)
    elif isinstance(x, list):
        for v in x:
            out += _walk(v, key)
    return out


def test_the_corpus_is_what_the_tests_assume():
    # A glob that silently matched nothing would make every parametrised test vacuous.
    assert len(CASE_FILES) >= 30
    assert not any("bad" in p.parts for p in CASE_FILES)


# ---------------------------------------------------------------------------------------------------------------
# Every case: valid, self-contained, deterministic, nothing blocked


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_bundle_is_valid_fhir(path):
    _, bundle = _export(path)
    parsed = Bundle.model_validate(bundle)  # raises on a missing required element, wrong type or unknown field
    assert parsed.type == "collection"
    assert json.loads(json.dumps(bundle)) == bundle  # plain JSON data, nothing Python-specific


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_full_urls_are_unique_uuids_and_every_reference_resolves(path):
    _, bundle = _export(path)
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for e in bundle["entry"]:
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", e["fullUrl"])
        assert uuid.UUID(e["fullUrl"][9:]).version == 5
        assert e["resource"]["id"] == e["fullUrl"][9:]
        assert e["resource"]["meta"]["source"].endswith(f"/hipext/{_export(path)[0].hipext_version}")
    refs = [r for r in _walk(bundle, "reference")]
    assert refs, "a bundle without references links nothing to the patient"
    assert set(refs) <= set(urls)


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_nothing_blocked_appears_in_the_bundle(path):
    # Records of what was done before screening blocked it are kept, tagged withheld and uninterpreted
    # (test_roundtrip checks them); everything else must not name a blocked id.
    evaluation, bundle = _export(path)
    s = evaluation.screening
    assert_nothing_blocked(without_withheld(bundle, set(s.blocked_tests) | set(s.blocked_exercises)), s)
    for doc in _resources(bundle, "DocumentReference"):  # base64 hides text from the guard: decode and check
        text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode("utf-8")
        assert find_blocked({"text": text}, evaluation.screening) == []


def test_blocked_tests_that_were_measured_are_not_interpreted():
    # The guard test above only means something if some case measured a test that screening then blocked.
    checked = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        case = read_case_file(path)
        blocked = set(evaluation.screening.blocked_tests)
        measured_blocked = {m.test for v in case.visits for m in v.measurements} & blocked
        if not measured_blocked:
            continue
        checked += 1
        interpreted = {c for o in _result_observations(bundle) for c in _codes(o["code"], C.CS_TEST)}
        assert not interpreted & measured_blocked
        blocked |= set(evaluation.screening.blocked_exercises)
        assert find_blocked(without_withheld(bundle, blocked), evaluation.screening) == []
    assert checked >= 3


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_same_case_exports_byte_identically(path):
    def fresh() -> str:
        case = read_case_file(path)
        return bundle_json(to_bundle(case, _evaluate(case)))

    first, second = fresh(), fresh()
    assert first == second
    assert first == bundle_json(_export(path)[1])


def test_different_cases_get_different_identifiers():
    ids = [_export(p)[1]["id"] for p in CASE_FILES]
    assert len(ids) == len(set(ids))
    patients = [_resources(_export(p)[1], "Patient")[0]["id"] for p in CASE_FILES]
    assert len(patients) == len(set(patients))


# ---------------------------------------------------------------------------------------------------------------
# What an integrator would notice


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_one_observation_per_result_with_date_encounter_and_category(path):
    evaluation, bundle = _export(path)
    observations = _result_observations(bundle)
    assert len(observations) == len(evaluation.results)
    encounters = {e["fullUrl"]: e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"}
    for r, obs in zip(evaluation.results, observations, strict=True):
        assert obs["status"] == "final"
        assert obs["effectiveDateTime"] == r.date.isoformat()
        enc = encounters[obs["encounter"]["reference"]]
        assert enc["status"] == "finished" and enc["period"]["start"] == r.date.isoformat()
        expected = "survey" if r.kind in ("prom", "pain") else "exam"
        assert _codes(obs["category"][0], C.OBS_CATEGORY) == [expected]
        assert _laterality(obs) == r.side
        assert r.test in _codes(obs["code"], C.CS_TEST)[0]


def test_nprs_carries_loinc_72514_3_and_no_other_loinc_code_is_used():
    nprs = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        for obs in _result_observations(bundle):
            if _codes(obs["code"], C.CS_TEST) == ["nprs"]:
                nprs += 1
                assert _codes(obs["code"], C.LOINC) == ["72514-3"]
                assert obs["valueQuantity"]["code"] == "{score}"
            else:
                assert _codes(obs["code"], C.LOINC) == []
        loinc = [c["code"] for c in _walk(bundle, "coding") for c in c if c.get("system") == C.LOINC]
        # pain; body weight and height (vital signs); exercise activity (responses to exercises); resting vitals
        # (blood pressure panel and its components, heart rate, SpO2 and SpO2 by pulse oximetry); pregnancy status
        # with its answers and gestational age
        assert set(loinc) <= {"72514-3", "29463-7", "8302-2", "73985-4", "85354-9", "8480-6", "8462-4", "8867-4",
                              "2708-6", "59408-5", "82810-3", "LA15173-0", "LA26683-5", "11884-4"}
    assert nprs >= 10


def test_hhd_observations_carry_the_evaluations_torque_in_newton_metres():
    seen = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        observations = {(o["effectiveDateTime"], _codes(o["code"], C.CS_TEST)[0], _laterality(o)): o
                        for o in _result_observations(bundle)}
        for r in evaluation.results:
            if r.kind not in ("hhd", "isokinetic"):
                continue
            if r.kind == "isokinetic":
                continue  # two velocities share date, test and side; checked by value below
            obs = observations[(r.date.isoformat(), r.test, r.side)]
            seen += 1
            assert obs["valueQuantity"] == {"value": r.torque_nm, "unit": "N m", "system": C.UCUM, "code": "N.m"}
            comps = {_codes(c["code"], C.CS_MEASURE)[0]: c for c in obs["component"] if _codes(c["code"], C.CS_MEASURE)}
            assert comps["torque-per-kg"]["valueQuantity"]["value"] == r.torque_nm_per_kg
            assert comps["torque-per-kg"]["valueQuantity"]["code"] == "N.m/kg"
            assert comps["force-percent-bw"]["valueQuantity"]["value"] == r.force_percent_bw
            assert comps["trial-best"]["valueQuantity"]["value"] == r.trials.best
            assert comps["trial-mean"]["valueQuantity"]["value"] == r.trials.mean
            assert "Fixation" in obs["method"]["text"]
    assert seen >= 20


def test_isokinetic_velocities_stay_apart():
    evaluation, bundle = _export(CASES / "isokinetic_velocities.yaml")
    obs = _result_observations(bundle)
    values = sorted((o["effectiveDateTime"], o["method"]["text"].split("Contraction: ")[1], o["valueQuantity"]["value"])
                    for o in obs)
    assert values == sorted((r.date.isoformat(), f"{r.context.split()[0]} at {r.context.split()[1]} deg/s.",
                             r.torque_nm) for r in evaluation.results)


def test_lsi_observations_derive_from_both_sides():
    pairs_seen = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        urls = _by_url(bundle)
        derived = [o for o in _resources(bundle, "Observation") if "derivedFrom" in o
                   and _codes(o["code"], C.CS_MEASURE)]  # scores derive from questionnaire responses instead
        expected = {(r.date, r.test, r.context) for r in evaluation.results
                    if r.lsi_percent is not None or r.asymmetry_percent is not None}
        assert len(derived) == len(expected)
        for obs in derived:
            sources = [urls[d["reference"]] for d in obs["derivedFrom"]]
            assert sorted(_laterality(s) for s in sources) == ["left", "right"]
            (test,) = {_codes(s["code"], C.CS_TEST)[0] for s in sources}
            assert _codes(obs["method"], C.CS_TEST) == [test]
            assert {s["effectiveDateTime"] for s in sources} == {obs["effectiveDateTime"]}
            side_results = [r for r in evaluation.results if r.test == test and r.date.isoformat()
                            == obs["effectiveDateTime"] and r.side and any(
                                s["valueQuantity"]["value"] == r.value and _laterality(s) == r.side for s in sources)]
            assert len(side_results) == 2
            kind = _codes(obs["code"], C.CS_MEASURE)
            want = side_results[0].lsi_percent if kind == ["limb-symmetry-index"] else side_results[0].asymmetry_percent
            assert obs["valueQuantity"] == {"value": want, "unit": "%", "system": C.UCUM, "code": "%"}
            pairs_seen += 1
    assert pairs_seen >= 15


def test_units_are_ucum():
    allowed = {"N.m", "N", "s", "deg", "{score}", "{#}", "%", "N.m/kg", "kg", "a",
               "cm", "m", "deg/s", "[lbf_av]", "kgf", "1",  # these: units of recorded case fields
               "mm[Hg]", "/min", "wk"}  # resting vitals (units the R4 vital-signs profiles fix) and pregnancy weeks
    for path in CASE_FILES:
        _, bundle = _export(path)
        for q in _walk(bundle, "valueQuantity") + _walk(bundle, "detailQuantity") + _walk(bundle, "valueAge"):
            assert q["system"] == C.UCUM
            assert q["code"] in allowed


def test_mmt_grades_and_special_tests_are_coded_not_numbers():
    kinds = set()
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        for r, obs in zip(evaluation.results, _result_observations(bundle), strict=True):
            if r.kind == "mmt":
                kinds.add("mmt")
                assert _codes(obs["valueCodeableConcept"], C.CS_MRC_GRADE) == [r.value]
            elif r.kind == "special":
                kinds.add("special")
                assert obs["valueCodeableConcept"]["text"] == r.value
                v3 = [c for i in obs["interpretation"] for c in _codes(i, C.V3_INTERPRETATION)]
                assert v3 == [{"positive": "POS", "negative": "NEG"}[r.value]]
            elif r.value is None:
                kinds.add("unscored")
                assert "valueQuantity" not in obs and obs["dataAbsentReason"]["text"]
    assert kinds == {"mmt", "special", "unscored"}


def test_norm_statement_and_change_verdict_travel_with_the_observation():
    verdicts = set()
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        for r, obs in zip(evaluation.results, _result_observations(bundle), strict=True):
            notes = " ".join(n["text"] for n in obs.get("note", []))
            assert r.norm.statement in notes
            if r.change is not None:
                verdicts.add(r.change.verdict)
                coded = [c for i in obs["interpretation"] for c in _codes(i, C.CS_CHANGE_VERDICT)]
                assert coded == [r.change.verdict]
                assert r.change.reason in notes
    assert {"real_change", "within_measurement_error", "not_comparable"} <= verdicts


def test_patient_has_case_identifier_and_gender_and_no_invented_birth_date():
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        (patient,) = _resources(bundle, "Patient")
        assert patient["identifier"] == [{"use": "usual", "system": C.SID_CASE, "value": evaluation.patient.id}]
        assert patient["gender"] == evaluation.patient.sex
        assert "birthDate" not in patient
        (age,) = [x["valueAge"]["value"] for x in patient["extension"] if x["url"] == C.EXT_AGE]
        assert age == evaluation.patient.age


def test_screening_findings_become_detected_issues_with_severity_from_the_decision():
    decisions = set()
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        issues = _resources(bundle, "DetectedIssue")
        assert len(issues) == len(evaluation.screening.findings)
        for f, issue in zip(evaluation.screening.findings, issues, strict=True):
            decisions.add(f.decision)
            assert issue["severity"] == {"refer_urgent": "high", "refer": "high", "defer": "moderate",
                                         "modify": "moderate", "proceed": "low"}[f.decision]
            assert issue["detail"] == f.reason
            assert _codes(issue["code"], C.CS_SCREENING_RULE) == [f.rule]
            assert issue["mitigation"][0]["action"]["text"] == f.action
    assert {"refer_urgent", "modify"} <= decisions


def test_program_becomes_a_care_plan_with_exercise_therapy_and_the_retest():
    statuses = set()
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        (plan,) = _resources(bundle, "CarePlan")
        activities = [a["detail"] for a in plan.get("activity", [])]
        statuses.add(plan["status"])
        assert plan["intent"] == "plan"
        assert plan["status"] == ("active" if activities else "on-hold")
        exercises = [d for d in activities if _codes(d["code"], C.SNOMED) == ["229065009"]]
        assert [_codes(d["code"], C.CS_EXERCISE)[0] for d in exercises] == \
            [e.exercise for e in evaluation.program.exercises]
        for d, ex in zip(exercises, evaluation.program.exercises, strict=True):
            assert d["description"].startswith(f"{ex.name}: {ex.dose.sets} sets")
            assert d["scheduledString"] == ex.dose.frequency
        retest = [d for d in activities if _codes(d["code"], C.CS_CARE_ACTIVITY) == ["retest"]]
        if evaluation.follow_up.retest_on is None:
            assert retest == []
        else:
            assert [d["scheduledPeriod"]["start"] for d in retest] == [evaluation.follow_up.retest_on.isoformat()]
        goals = {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Goal"}
        assert {g["reference"] for g in plan.get("goal", [])} == goals
    assert statuses == {"active", "on-hold"}  # refer / defer cases prescribe nothing: on hold


def test_goals_carry_the_return_to_activity_targets_and_no_new_numbers():
    lsi_goals = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        goals = [g for g in _resources(bundle, "Goal") if "expressedBy" not in g]  # not the person's own goals
        criteria = evaluation.return_to_activity.criteria
        assert len(goals) == len(criteria)
        for c, goal in zip(criteria, goals, strict=True):
            (target,) = goal["target"]
            assert target["measure"]["text"] == c.name
            if "detailQuantity" in target:
                lsi_goals += 1
                q = target["detailQuantity"]
                assert q["comparator"] == ">=" and q["code"] == "%"
                assert f"{q['value']:g}" in re.findall(r"\d+(?:\.\d+)?", c.target)
            else:
                assert target["detailString"] == c.target
            status = goal.get("achievementStatus", {}).get("coding", [{}])[0].get("code")
            assert status == {"met": "achieved", "not_met": "in-progress", "not_yet_measured": None,
                              "not_assessable": None}[c.status]
    assert lsi_goals >= 10


def test_education_handout_is_a_document_reference_with_the_reading_grade():
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        (doc,) = _resources(bundle, "DocumentReference")
        att = doc["content"][0]["attachment"]
        assert att["contentType"].startswith("text/plain")
        assert base64.b64decode(att["data"]).decode("utf-8") == evaluation.education.text
        (grade,) = [x["valueDecimal"] for x in doc["extension"] if x["url"] == C.EXT_READING_GRADE]
        assert grade == evaluation.education.reading_grade
        assert f"{evaluation.education.reading_grade:g}" in doc["description"]


def test_every_local_code_is_defined_in_a_code_system_of_the_bundle():
    for path in CASE_FILES[:8]:
        _, bundle = _export(path)
        defined = {(cs["url"], c["code"]) for cs in _resources(bundle, "CodeSystem") for c in cs["concept"]}
        used = {(c["system"], c["code"]) for cc in _walk(bundle, "coding") for c in cc
                if c.get("system", "").startswith(C.BASE)}
        assert used and used <= defined


def test_the_bundle_does_not_depend_on_the_order_of_other_exports():
    # uuid5 of case id + content: exporting another case first must not change anything.
    a = CASES / "athlete_hamstring_right.yaml"
    before = bundle_json(_export(a)[1])
    for p in CASE_FILES[:3]:
        _export(p)
    case = read_case_file(a)
    assert bundle_json(to_bundle(case, evaluate_case(case))) == before


# ---------------------------------------------------------------------------------------------------------------
# CLI


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def main() -> None:
        """Stand-in for the main CLI."""

    register(app)
    return app


def test_cli_export_prints_the_bundle():
    result = CliRunner().invoke(_app(), ["export", str(CASES / "athlete_hamstring_right.yaml")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == bundle_json(_export(CASES / "athlete_hamstring_right.yaml")[1])


def test_cli_export_writes_a_file(tmp_path):
    out = tmp_path / "bundle.json"
    result = CliRunner().invoke(_app(), ["export", str(CASES / "care" / "ces_urgent.yaml"), "--format", "fhir",
                                         "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    Bundle.model_validate(json.loads(out.read_text(encoding="utf-8")))
    assert out.read_text(encoding="utf-8") == bundle_json(_export(CASES / "care" / "ces_urgent.yaml")[1])


def test_cli_rejects_an_unknown_format():
    result = CliRunner().invoke(_app(), ["export", str(CASES / "athlete_hamstring_right.yaml"), "--format", "csv"])
    assert result.exit_code == 2
    assert result.stdout == ""


def test_cli_bad_case_exits_2_with_each_problem_on_stderr_and_no_stdout():
    # A real process, so stdout and stderr are the real streams.
    proc = subprocess.run([sys.executable, "-m", "hipext.fhir.cli", "export", str(BAD)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) >= 3  # age, a negative trial, the lever arm, an unknown test: all at once
    assert any("patient.age" in ln for ln in errors)
    assert "Traceback" not in proc.stderr


def test_cli_bad_case_in_process_matches():
    result = CliRunner().invoke(_app(), ["export", str(BAD)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error: patient.age" in result.stderr


def test_export_fails_closed_when_a_blocked_id_would_appear():
    # If screening had blocked a test the evaluation still reports, the export refuses instead of leaking it.
    from hipext.care.guard import BlockedItemError

    path = CASES / "athlete_hamstring_right.yaml"
    evaluation, _ = _export(path)
    leaky = evaluation.model_copy(update={"screening": evaluation.screening.model_copy(
        update={"blocked_tests": ["single_leg_bridge"]})})
    with pytest.raises(BlockedItemError) as err:
        to_bundle(read_case_file(path), leaky)
    assert any(hit == "single_leg_bridge" for hit, _ in err.value.hits)


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_no_empty_elements(path):
    # FHIR ele-1: every element has a value or children; empty strings, lists and objects are invalid.
    _, bundle = _export(path)

    def walk(x: Any, where: str) -> None:
        assert x not in ("", [], {}, None), f"empty element at {where}"
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{where}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{where}[{i}]")
        elif isinstance(x, str):
            assert x == x.strip() or where.endswith(".div"), f"untrimmed string at {where}"

    walk(bundle, "Bundle")


def _case(visits: list[dict[str, Any]]) -> Any:
    from hipext.caseio import parse_case

    return parse_case({"hipext_case": 1, "patient": {"id": "fhir-test-1", "age": 40, "sex": "female",
                                                      "body_mass_kg": 65},
                       "history": {"involved_side": "left"}, "visits": visits})


def test_device_recorded_on_a_measurement_becomes_a_device_resource():
    hhd = {"test": "hhd_hip_extension_prone_knee_flexed", "trials_lbf": [40, 42], "lever_arm_m": 0.4,
           "fixation": "manual", "device": "MicroFET2"}
    case = _case([{"date": "2026-05-04", "measurements": [{**hhd, "side": "left"}, {**hhd, "side": "right"}]}])
    evaluation = evaluate_case(case)
    bundle = to_bundle(case, evaluation)
    Bundle.model_validate(bundle)
    (device,) = _resources(bundle, "Device")
    assert device["deviceName"][0]["name"] == "MicroFET2"
    assert device["type"]["text"] == "hand-held dynamometer"
    device_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is device)
    observations = _result_observations(bundle)
    assert [o["device"]["reference"] for o in observations] == [device_url, device_url]
    assert all("Fixation: manual" in o["method"]["text"] and "Device: MicroFET2" in o["method"]["text"]
               for o in observations)
    # lbf trials were converted to newtons by the case model; the torque is the evaluation's.
    assert [o["valueQuantity"]["value"] for o in observations] == [r.torque_nm for r in evaluation.results]


def test_a_case_without_visits_still_exports_a_valid_bundle():
    case = _case([])
    evaluation = _evaluate(case)
    bundle = to_bundle(case, evaluation)
    Bundle.model_validate(bundle)
    assert _resources(bundle, "Encounter") == [] and _result_observations(bundle) == []
    assert len(_resources(bundle, "Patient")) == 1


def test_export_is_identical_across_processes():
    # Set or dict ordering that depends on the hash seed would make two runs differ.
    import os

    path = CASES / "questionnaires.yaml"
    outs = []
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-m", "hipext.fhir.cli", "export", str(path)], capture_output=True,
                              text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1] == bundle_json(_export(path)[1])
