"""Resting vitals and pregnancy in FHIR: each vital sign is an Observation that meets its R4 vital-signs profile
(checked by the offline validator from the profile's StructureDefinition, which is shown to catch a violation), with
the LOINC code and UCUM unit a receiving system looks for; pregnancy status is coded with LOINC; both read back."""

from __future__ import annotations

import copy
import json
from typing import Any

from hipext.caseio import parse_case
from hipext.fhir import codes as C
from hipext.fhir import to_bundle

from .test_export import _evaluate, _resources
from .test_roundtrip import _read_back
from .test_validators import _validate

CASE: dict[str, Any] = {
    "hipext_case": 1,
    "patient": {"id": "vitals-1", "age": 33, "sex": "female", "body_mass_kg": 71, "height_m": 1.66},
    "history": {"involved_side": "right", "conditions": ["pelvic_girdle_pain"],
                "pregnancy": {"weeks_pregnant": 28, "pelvic_girdle_pain": True}},
    "visits": [
        {"date": "2026-11-02", "vitals": {"systolic_mmhg": 118, "diastolic_mmhg": 74, "heart_rate_bpm": 84,
                                           "spo2_percent": 98}},
        {"date": "2026-11-16", "vitals": {"heart_rate_bpm": 88},
         "measurements": [{"test": "nprs", "context": "worst_24h", "value": 4}]},
    ],
}


def _bundle(data: dict[str, Any] = CASE) -> dict[str, Any]:
    case = parse_case(copy.deepcopy(data))
    return to_bundle(case, _evaluate(case))


def _loinc(obs: dict[str, Any]) -> list[str]:
    return [c["code"] for c in obs["code"]["coding"] if c["system"] == C.LOINC]


def _by_loinc(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [o for o in _resources(bundle, "Observation") if code in _loinc(o)]


def test_blood_pressure_is_one_panel_with_systolic_and_diastolic_in_mm_hg():
    (bp,) = _by_loinc(_bundle(), "85354-9")
    assert bp["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bp"]
    assert [c["code"] for c in bp["category"][0]["coding"]] == ["vital-signs"]
    assert bp["effectiveDateTime"] == "2026-11-02" and "valueQuantity" not in bp
    values = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert {k: (q["value"], q["code"], q["system"]) for k, q in values.items()} == {
        "8480-6": (118, "mm[Hg]", C.UCUM), "8462-4": (74, "mm[Hg]", C.UCUM)}


def test_heart_rate_per_visit_and_spo2_by_pulse_oximetry():
    bundle = _bundle()
    rates = _by_loinc(bundle, "8867-4")
    assert [(o["effectiveDateTime"], o["valueQuantity"]["value"], o["valueQuantity"]["code"]) for o in rates] == [
        ("2026-11-02", 84, "/min"), ("2026-11-16", 88, "/min")]
    encounters = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert [encounters[o["encounter"]["reference"]]["period"]["start"] for o in rates] == ["2026-11-02", "2026-11-16"]
    (spo2,) = _by_loinc(bundle, "2708-6")
    assert _loinc(spo2) == ["2708-6", "59408-5"]
    assert (spo2["valueQuantity"]["value"], spo2["valueQuantity"]["code"]) == (98, "%")


def test_pregnancy_status_and_gestational_age_are_loinc_coded():
    (status,) = _by_loinc(_bundle(), "82810-3")
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "LA15173-0"  # Pregnant
    weeks = [c for c in status["component"] if "11884-4" in [x["code"] for x in c["code"]["coding"]]]
    assert [(c["valueQuantity"]["value"], c["valueQuantity"]["code"]) for c in weeks] == [(28, "wk")]
    postpartum = json.loads(json.dumps(CASE))
    postpartum["history"]["pregnancy"] = {"weeks_postpartum": 6, "delivery": "vaginal"}
    (status,) = _by_loinc(_bundle(postpartum), "82810-3")
    assert status["valueCodeableConcept"]["coding"][0]["code"] == "LA26683-5"  # Not pregnant
    assert not [c for c in status["component"] if "11884-4" in [x["code"] for x in c["code"]["coding"]]]


def test_vitals_and_pregnancy_read_back_into_the_same_case():
    case = parse_case(copy.deepcopy(CASE))
    back, _ = _read_back(to_bundle(case, _evaluate(case)))
    assert back.model_dump(mode="json") == case.model_dump(mode="json")


def test_every_vital_sign_meets_its_r4_profile_and_a_violation_is_caught(tmp_path):
    bundle = _bundle()
    broken = copy.deepcopy(bundle)
    (bp,) = _by_loinc(broken, "85354-9")
    bp["component"] = bp["component"][:1]  # diastolic lost
    bp["component"][0]["valueQuantity"]["code"] = "mmHg"  # not the UCUM code
    (rate, _) = _by_loinc(broken, "8867-4")
    rate["category"] = [{"text": "Vital Signs"}]  # no vital-signs coding
    got = _validate({"good": bundle, "broken": broken}, tmp_path)
    assert got["good"]["profiles"] == []
    assert got["good"]["profiled"] >= 6  # BP, 2 heart rates, SpO2, body weight, body height
    messages = {(i["path"], i["message"].split(" ")[0]) for i in got["broken"]["profiles"]}
    assert ("Observation.component:DiastolicBP", "0") in messages
    assert any(p.endswith("valueQuantity.code") for p, _ in messages)
    assert ("Observation.category:VSCat", "0") in messages
