"""FHIR both ways: every shipped case exported and read back is the same case and evaluates to the same document;
PROMs travel as QuestionnaireResponses, body weight and height as vital signs; other systems' resources are read
where their codes are known and the rest is listed as skipped."""

from __future__ import annotations

import json
import shutil

import pytest

from hipext.caseio import parse_case, read_case_file
from hipext.core.errors import CaseInputError
from hipext.document import document_json
from hipext.fhir import bundle_json
from hipext.fhir import codes as C
from hipext.fhir.bundle import is_withheld, without_withheld
from hipext.fhir.read import case_from_bundle

from ..conftest import ROOT
from .test_export import CASE_FILES, IDS, _codes, _evaluate, _export, _resources


def _read_back(bundle):
    data, skipped = case_from_bundle(json.loads(bundle_json(bundle)))
    return parse_case(data), skipped


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_every_case_reads_back_to_the_same_case_and_the_same_evaluation(path):
    evaluation, bundle = _export(path)
    case, skipped = _read_back(bundle)
    assert case.model_dump(mode="json") == read_case_file(path).model_dump(mode="json")
    assert document_json(_evaluate(case)) == document_json(evaluation)
    assert all("derived by hipext's evaluation" in s.reason for s in skipped)  # nothing recorded is skipped


def test_an_imported_dynamometer_file_survives_the_round_trip(tmp_path):
    from hipext.importers import ImportOptions, read_device_file
    from hipext.importers.into_case import add_to_case_file

    case_path = tmp_path / "case.yaml"
    shutil.copy(ROOT / "examples" / "athlete-hamstring.yaml", case_path)
    trace = ROOT / "examples" / "dynamometer" / "force-time-trace.csv"
    got = read_device_file(trace.read_bytes(), trace.name, ImportOptions(
        test="hhd_hip_extension_prone_knee_flexed", side="right", lever_arm_m=0.38, fixation="belt"))
    case = add_to_case_file(case_path, __import__("datetime").date(2026, 11, 24), got.measurements).case
    back, _ = _read_back(__import__("hipext.fhir", fromlist=["to_bundle"]).to_bundle(case, _evaluate(case)))
    assert back.model_dump(mode="json") == case.model_dump(mode="json")
    assert back.visits[-1].measurements[0].device_metrics.repetitions[0].rfd_n_per_s


def test_questionnaires_travel_as_responses_linked_from_their_scores():
    path = next(p for p in CASE_FILES if p.name == "questionnaires.yaml")
    case = read_case_file(path)
    _, bundle = _export(path)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    questionnaires = {r["url"]: r for r in _resources(bundle, "Questionnaire")}
    responses = _resources(bundle, "QuestionnaireResponse")
    proms = [m for v in case.visits for m in v.measurements if m.items is not None or m.activities is not None]
    assert len([r for r in responses if r["questionnaire"] != C.Q_SCREENING]) == len(proms)
    for response in responses:
        q = questionnaires[response["questionnaire"]]  # the canonical resolves to a Questionnaire in the bundle
        links = {i["linkId"] for i in q["item"]}
        assert {i["linkId"] for i in response["item"]} <= links | {i["linkId"] for i in response["item"]
                                                                    if i["linkId"].startswith("activity")}
    scores = [o for o in _resources(bundle, "Observation") if o.get("derivedFrom")
              and by_url[o["derivedFrom"][0]["reference"]]["resourceType"] == "QuestionnaireResponse"]
    assert scores and all(_codes(o["code"], C.CS_TEST) for o in scores)
    lefs = next(m for m in proms if m.test == "lefs")
    response = next(r for r in responses if r["questionnaire"].endswith("/lefs"))
    answered = {int(i["linkId"]): i["answer"][0]["valueDecimal"] for i in response["item"] if i.get("answer")}
    assert answered == {k: v for k, v in lefs.items.items() if v is not None}


def test_body_weight_and_height_are_vital_signs_with_loinc_and_ucum():
    _, bundle = _export(CASE_FILES[0])
    vitals = {o["code"]["coding"][0]["code"]: o for o in _resources(bundle, "Observation")
              if _codes(o["category"][0], C.OBS_CATEGORY) == ["vital-signs"]}
    weight = vitals["29463-7"]
    assert weight["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bodyweight"]
    assert weight["valueQuantity"]["system"] == C.UCUM and weight["valueQuantity"]["code"] == "kg"
    height = vitals["8302-2"]
    assert height["valueQuantity"]["code"] == "cm"


def test_records_of_blocked_tests_are_kept_withheld_and_uninterpreted():
    checked = 0
    for path in CASE_FILES:
        evaluation, bundle = _export(path)
        blocked = set(evaluation.screening.blocked_tests) | set(evaluation.screening.blocked_exercises)
        withheld = [r for r in _resources(bundle) if is_withheld(r)]
        case = read_case_file(path)
        measured = [m for v in case.visits for m in v.measurements if m.test in blocked]
        responded = [r for v in case.visits for r in v.exercise_responses if r.exercise in blocked]
        assert len(withheld) == len(measured) + len(responded)
        for r in withheld:
            assert not {"interpretation", "referenceRange", "derivedFrom"} & set(r)
            if r["resourceType"] == "Observation" and _codes(r["code"], C.CS_TEST):
                assert "not interpreted" in r["note"][0]["text"]
        from hipext.care.guard import find_blocked

        assert find_blocked(without_withheld(bundle, blocked), evaluation.screening) == []
        checked += bool(withheld)
    assert checked >= 3


# ---------------------------------------------------------------------------------------------------------------
# Other systems' bundles


def _foreign() -> dict:
    def obs(code, value, day, system=C.LOINC, **extra):
        return {"resource": {"resourceType": "Observation", "id": f"o{code}{day}", "status": "final",
                             "code": {"coding": [{"system": system, "code": code}]},
                             "effectiveDateTime": f"{day}T09:30:00Z", **value, **extra}}

    return {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "identifier": [{"value": "EHR-778"}],
                      "gender": "female", "birthDate": "1961-05-20"}},
        obs("29463-7", {"valueQuantity": {"value": 154.3, "code": "[lb_av]", "system": C.UCUM}}, "2026-10-01"),
        obs("8302-2", {"valueQuantity": {"value": 65, "code": "[in_i]", "system": C.UCUM}}, "2026-10-01"),
        obs("72514-3", {"valueInteger": 6}, "2026-10-01"),
        obs("72514-3", {"valueQuantity": {"value": 3, "code": "{score}"}}, "2026-10-15"),
        obs("hhd_hip_extension_prone_knee_flexed", {"valueQuantity": {"value": 150, "code": "N"}}, "2026-10-15",
            system=C.CS_TEST, bodySite={"extension": [{"url": C.EXT_LATERALITY, "valueCodeableConcept": {
                "coding": [{"system": C.SNOMED, "code": "7771000"}]}}]},
            component=[{"code": {"coding": [{"system": C.CS_CASE_FIELD, "code": "lever_arm_m"}]},
                        "valueQuantity": {"value": 0.4, "code": "m"}},
                       {"code": {"coding": [{"system": C.CS_CASE_FIELD, "code": "trials_n"}]},
                        "valueQuantity": {"value": 150, "code": "N"}}]),
        obs("8867-4", {"valueQuantity": {"value": 72, "code": "/min"}}, "2026-10-01"),
        {"resource": {"resourceType": "Condition", "id": "c1", "code": {"text": "Hip OA"}}},
    ]}


def test_another_systems_patient_weight_height_pain_and_strength_are_read_and_the_rest_listed():
    data, skipped = case_from_bundle(_foreign(), as_of=__import__("datetime").date(2026, 10, 15))
    case = parse_case(data)
    assert (case.patient.id, case.patient.sex, case.patient.age) == ("EHR-778", "female", 65)
    assert case.patient.body_mass_kg == pytest.approx(154.3 * 0.45359237, abs=0.001)  # lb to kg, exact factor
    assert case.patient.height_m == pytest.approx(1.651, abs=0.0001)
    assert [[(m.test, m.value) for m in v.measurements if m.test == "nprs"] for v in case.visits] == \
        [[("nprs", 6)], [("nprs", 3)]]
    (strength,) = [m for m in case.visits[1].measurements if m.test != "nprs"]
    assert (strength.side, strength.trials_n, strength.lever_arm_m) == ("left", [150], 0.4)
    reasons = " | ".join(str(s) for s in skipped)
    assert "Condition/c1" in reasons and "8867-4" in reasons


def test_a_bundle_without_body_weight_names_the_missing_field_and_writes_nothing(cli, tmp_path):
    bundle = _foreign()
    bundle["entry"] = [e for e in bundle["entry"] if "29463-7" not in json.dumps(e)]
    src = tmp_path / "b.json"
    src.write_text(json.dumps(bundle))
    out = tmp_path / "case.yaml"
    done = cli("import", "fhir", str(src), "--out", str(out), "--as-of", "2026-10-15")
    assert done.returncode == 2 and "patient.body_mass_kg" in done.stderr and not out.exists()
    with pytest.raises(CaseInputError):
        parse_case(case_from_bundle(bundle, as_of=__import__("datetime").date(2026, 10, 15))[0])


def test_cli_export_then_import_gives_a_case_that_evaluates_the_same(cli, tmp_path):
    src = ROOT / "examples" / "athlete-hamstring.yaml"
    exported = tmp_path / "bundle.json"
    assert cli("export", str(src), "--out", str(exported)).returncode == 0
    case = tmp_path / "case.yaml"
    done = cli("import", "fhir", str(exported), "--out", str(case))
    assert done.returncode == 0, done.stderr
    assert "derived by hipext's evaluation" in done.stderr  # what was not read, and why
    assert cli("evaluate", str(case)).stdout == cli("evaluate", str(src)).stdout
    again = cli("import", "fhir", str(exported), "--out", str(case))
    assert again.returncode == 2 and "--force" in again.stderr  # never overwrites silently


# Every field of the case file, set: a new field the export forgets fails here, not in a clinic.
EVERY_FIELD = {
    "hipext_case": 1,
    "patient": {"id": "all-fields", "age": 41, "sex": "female", "body_mass_kg": 63.5, "height_m": 1.68,
                "activity_level": "active", "training_status": "intermediate", "goals": ["run 5 km", "carry my son"]},
    "history": {
        "involved_side": "left", "presentation": ["buttock_pain"], "conditions": ["gluteal_tendinopathy"],
        "onset": {"date": "2026-08-01", "mechanism": "hill running"},
        "surgery": {"procedure": "hip_arthroscopy", "side": "left", "date": "2026-06-01", "restrictions_weeks": 6,
                    "restrictions": [{"kind": "hip_flexion_max_deg", "value": 90, "until": "2026-07-13",
                                      "note": "surgeon's letter"},
                                     {"kind": "weight_bearing", "value": "toe_touch"},
                                     {"kind": "no_impact", "value": True}]},
        "red_flags": {"night_pain": False, "fever": False},
        "comorbidities": ["asthma"], "medications": ["ibuprofen as needed"],
        "pregnancy": {"weeks_postpartum": 10, "delivery": "caesarean", "pelvic_girdle_pain": True},
        "growth_plates": "closed"},
    "visits": [
        {"date": "2026-09-01", "notes": "first visit",
         "vitals": {"systolic_mmhg": 126, "diastolic_mmhg": 78, "heart_rate_bpm": 66, "spo2_percent": 97.5},
         "measurements": [
             {"test": "hhd_hip_extension_prone_knee_flexed", "side": "left", "trials_lbf": [40.5, 41.2],
              "lever_arm_m": 0.37, "fixation": "belt", "device": "MicroFET2", "note": "tester A"},
             {"test": "hhd_hip_extension_prone_knee_flexed", "side": "right", "trials_kgf": [20.1, 20.8],
              "lever_arm_m": 0.37, "fixation": "belt"},
             {"test": "isokinetic_hip_extension", "side": "left", "trials_nm": [120.5, 118.0],
              "velocity_deg_s": 60, "mode": "concentric"},
             {"test": "mmt_hip_extension_knee_extended", "side": "right", "grade": "4+"},
             {"test": "stair_climb", "time_s": 9.8, "steps": 11},
             {"test": "chair_stand_30s", "reps": 14, "used_arms": False},
             {"test": "hip_extension_rom", "side": "left", "angle_deg": 12.5},
             {"test": "nprs", "value": 4, "context": "worst_24h"},
             {"test": "fadir_test", "side": "left", "result": "negative", "pain_provoked": False},
             {"test": "psfs", "activities": [{"activity": "running", "score": 3}, {"activity": "stairs", "score": 6}]},
             {"test": "lefs", "items": {str(i): (3 if i % 2 else 4) for i in range(1, 21)} | {"7": None}},
         ],
         "observations": ["pelvic_drop", "trunk_lean"], "observation_sides": {"pelvic_drop": "left"},
         "exercise_responses": [{"exercise": "bridge", "pain_during": 2.5, "pain_next_morning": 2,
                                 "pain_baseline": 2, "completed": False, "rpe": 6.5, "reps_in_reserve": 3,
                                 "compensation": ["lumbar_extension_substitution"], "sessions_done": 5,
                                 "sessions_planned": 6, "sets": 3, "reps": 12, "load_kg": 7.5,
                                 "sessions_per_week": 3}],
         "readiness": {"psychologically_ready": False, "apprehension": True, "cleared_by": ["surgeon"]},
         "activity_checks": {"walk_pain_free": True, "jog_pain_free": False}},
    ],
}


def test_a_case_with_every_field_set_reads_back_the_same():
    from hipext.fhir import to_bundle

    case = parse_case(json.loads(json.dumps(EVERY_FIELD)))
    back, _ = _read_back(to_bundle(case, _evaluate(case)))
    assert back.model_dump(mode="json") == case.model_dump(mode="json")
    assert document_json(_evaluate(back)) == document_json(_evaluate(case))
