"""Vital signs and pregnancy as FHIR: body weight and height, each visit's resting vitals, pregnancy status.

Each is an Observation in the R4 vital-signs profiles where one exists (LOINC codes and UCUM units as the profiles fix
them), with a record identifier (`SID_RECORD`) saying where it sits in the case, so the bundle reads back into it.
"""

from __future__ import annotations

import datetime as dt

from hipext.core.case import Case, Pregnancy, Visit
from hipext.fhir import codes as C
from hipext.fhir.builder import Builder, Json, ref
from hipext.fhir.record import field_component, identifier

_VITAL_SIGNS_CATEGORY = [{"coding": [{"system": C.OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                          "text": "Vital Signs"}]


def _vital(name: str, where: list[object], patient_url: str, day: dt.date, encounter: str | None,
           **body: object) -> Json:
    """An Observation in the vital-signs profile `name` (codes.VITAL_SIGNS), with its LOINC code and record id."""
    profile, loinc, display = C.VITAL_SIGNS[name]
    obs: Json = {
        "resourceType": "Observation", "meta": {"profile": [f"http://hl7.org/fhir/StructureDefinition/{profile}"]},
        "identifier": identifier(*where), "status": "final", "category": _VITAL_SIGNS_CATEGORY,
        "code": {"coding": [{"system": C.LOINC, "code": loinc, "display": display}], "text": display},
        "subject": ref(patient_url), "effectiveDateTime": day.isoformat(), **body}
    if encounter:
        obs["encounter"] = ref(encounter)
    return obs


def body_measures(b: Builder, case: Case, patient_url: str, day: dt.date, encounter: str | None) -> None:
    """Body weight and height as R4 vital-signs Observations (LOINC codes and units of the R4 profiles)."""
    p = case.patient
    values = [("body_weight", {"value": p.body_mass_kg, "unit": "kg", "system": C.UCUM, "code": "kg"},
               "body_mass_kg")]
    if p.height_m is not None:
        values.append(("body_height", {"value": round(p.height_m * 100, 6), "unit": "cm", "system": C.UCUM,
                                       "code": "cm"}, "height_m"))
    for name, qty, where in values:
        b.add(f"Observation/{name}", _vital(name, ["patient", where], patient_url, day, encounter, valueQuantity=qty))


def _mm_hg(value: int) -> Json:
    code, unit = C.MM_HG
    return {"value": value, "unit": unit, "system": C.UCUM, "code": code}


def visit_vitals(b: Builder, visit: Visit, index: int, patient_url: str, encounter: str) -> None:
    """A visit's resting blood pressure (panel 85354-9 with systolic 8480-6 and diastolic 8462-4), heart rate
    (8867-4) and SpO2 (2708-6, with 59408-5 as it is measured by pulse oximetry), each in its R4 profile."""
    v = visit.vitals
    if v is None:
        return
    day = visit.date
    if v.systolic_mmhg is not None and v.diastolic_mmhg is not None:
        components = []
        for name, value in (("systolic", v.systolic_mmhg), ("diastolic", v.diastolic_mmhg)):
            _, loinc, display = C.VITAL_SIGNS[name]
            components.append({"code": {"coding": [{"system": C.LOINC, "code": loinc, "display": display}],
                                        "text": display}, "valueQuantity": _mm_hg(value)})
        b.add(f"Observation/{day}/{index}/blood_pressure", _vital(
            "blood_pressure", ["visits", index, "vitals", "blood_pressure"], patient_url, day, encounter,
            component=components))
    for name, (profile, ucum, unit) in C.VITALS_FIELDS.items():
        value = getattr(v, name)
        if value is None:
            continue
        obs = _vital(profile, ["visits", index, "vitals", name], patient_url, day, encounter,
                     valueQuantity={"value": value, "unit": unit, "system": C.UCUM, "code": ucum})
        if name == "spo2_percent":
            _, loinc, display = C.VITAL_SIGNS["pulse_oximetry"]
            obs["code"]["coding"].append({"system": C.LOINC, "code": loinc, "display": display})
        b.add(f"Observation/{day}/{index}/{name}", obs)


def pregnancy(b: Builder, p: Pregnancy, patient_url: str, day: dt.date) -> None:
    """Pregnancy status (LOINC 82810-3: pregnant, or not pregnant when postpartum) as of the evaluation date, with
    weeks of gestation (11884-4) and the case's other pregnancy fields as components."""
    code, display = C.LOINC_PREGNANCY_STATUS
    answer, shown = C.PREGNANCY_ANSWER[p.weeks_pregnant is not None]
    components = []
    for name in ("weeks_pregnant", "weeks_postpartum", "delivery", "pelvic_girdle_pain"):
        value = getattr(p, name)
        if value is None:
            continue
        (component,) = field_component(b, name, value)
        if name.startswith("weeks_"):
            component["valueQuantity"] = {"value": value, "unit": "weeks", "system": C.UCUM, "code": "wk"}
            component.pop("valueInteger", None)
        if name == "weeks_pregnant":
            ga, ga_display = C.LOINC_GESTATIONAL_AGE
            component["code"]["coding"].insert(0, {"system": C.LOINC, "code": ga, "display": ga_display})
        components.append(component)
    b.add("Observation/pregnancy", {
        "resourceType": "Observation", "identifier": identifier("history", "pregnancy"), "status": "final",
        "code": {"coding": [{"system": C.LOINC, "code": code, "display": display}], "text": display},
        "subject": ref(patient_url), "effectiveDateTime": day.isoformat(),
        "valueCodeableConcept": {"coding": [{"system": C.LOINC, "code": answer, "display": shown}], "text": shown},
        "component": components})
