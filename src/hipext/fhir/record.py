"""The case as recorded, as FHIR resources: everything the clinician entered, so the bundle reads back into the case.

Each recorded item carries an identifier (`SID_RECORD`) saying where it sits in the case file, and every field of a
measurement travels as a component coded with its case-file field name (`CS_CASE_FIELD`), in the unit it was
entered in: the import (`hipext.fhir.read`) rebuilds the same case from them. The evaluation then adds its reading
(value, norms, LSI, change) to the same Observations (`hipext.fhir.bundle`).

Where a recorded test or exercise is one screening now blocks, its record is kept (data is never dropped), tagged
`withheld`, and carries no interpretation; the bundle's guard checks everything else.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from hipext.core.case import Case, ExerciseResponse, Measurement, Readiness, Visit
from hipext.fhir import codes as C
from hipext.fhir.builder import Builder, Json, ref, words
from hipext.fhir.questionnaires import instrument_questionnaire, screening_questionnaire

# Case-file measurement fields and how each travels as a component value. Trials repeat, one component each.
_QUANTITY_FIELDS = {
    "trials_n": ("N", "N"), "trials_lbf": ("[lbf_av]", "lbf"), "trials_kgf": ("kgf", "kgf"),
    "trials_nm": ("N.m", "N m"), "lever_arm_m": ("m", "m"), "velocity_deg_s": ("deg/s", "deg/s"),
    "time_s": ("s", "s"), "angle_deg": ("deg", "deg"), "value": ("1", "1"),
}
_INTEGER_FIELDS = ("reps", "steps")
_BOOLEAN_FIELDS = ("pain_provoked", "used_arms")
_STRING_FIELDS = ("fixation", "device", "mode", "grade", "context", "result", "note")
MEASUREMENT_FIELDS = (*_QUANTITY_FIELDS, *_INTEGER_FIELDS, *_BOOLEAN_FIELDS, *_STRING_FIELDS)


@dataclass
class Records:
    """Where each recorded item went: full URLs by what they record."""

    patient: str
    encounters: dict[dt.date, str] = field(default_factory=dict)
    measurements: dict[tuple[int, int], str] = field(default_factory=dict)  # (visit index, item index) -> Observation
    responses: dict[tuple[int, int], str] = field(default_factory=dict)  # (visit, item) -> QuestionnaireResponse
    questionnaires: dict[str, str] = field(default_factory=dict)  # canonical URL -> fullUrl


def field_component(b: Builder, name: str, value: Any) -> list[Json]:
    """Component(s) holding one case-file field, typed as the field is (a list gives one component per item)."""
    code = {"coding": [b.local(C.CS_CASE_FIELD, name, words(name))]}
    if isinstance(value, list):
        return [c for v in value for c in field_component(b, name, v)]
    if name in _QUANTITY_FIELDS:
        ucum, shown = _QUANTITY_FIELDS[name]
        return [{"code": code, "valueQuantity": {"value": value, "unit": shown, "system": C.UCUM, "code": ucum}}]
    if isinstance(value, bool):
        return [{"code": code, "valueBoolean": value}]
    if isinstance(value, int):
        return [{"code": code, "valueInteger": value}]
    return [{"code": code, "valueString": str(value)}]


def identifier(*where: object) -> list[Json]:
    return [{"system": C.SID_RECORD, "value": "/".join(str(w) for w in where)}]


def _laterality(side: str) -> Json:
    code, display = C.SNOMED_BOTH if side == "both" else C.SNOMED_LATERALITY[side]
    return {"extension": [{"url": C.EXT_LATERALITY, "valueCodeableConcept": {
        "coding": [{"system": C.SNOMED, "code": code, "display": display}]}}],
        "text": f"{'Both' if side == 'both' else side.capitalize()} hip extensors"}


def _tag_withheld(b: Builder) -> Json:
    return {"tag": [b.local(C.CS_RECORD_TAG, "withheld", "Withheld by screening",
                            "A record of a test or exercise that screening advises against now: kept as recorded, "
                            "not interpreted.")]}


def patient(b: Builder, case: Case, age: int) -> str:
    p = case.patient
    resource: Json = {
        "resourceType": "Patient",
        # Age only: the case holds no birth date and none is invented.
        "extension": [{"url": C.EXT_AGE, "valueAge": {"value": age, "unit": "years", "system": C.UCUM, "code": "a"}},
                      {"url": C.EXT_ACTIVITY_LEVEL, "valueCode": p.activity_level},
                      {"url": C.EXT_TRAINING_STATUS, "valueCode": p.training_status}],
        "identifier": [{"use": "usual", "system": C.SID_CASE, "value": p.id}],
        "gender": p.sex,
    }
    return b.add("Patient", resource)


def patient_goals(b: Builder, case: Case, patient_url: str) -> list[str]:
    """The person's own goals, in their words, as Goals they expressed."""
    return [b.add(f"Goal/patient/{i}", {
            "resourceType": "Goal", "identifier": identifier("patient", "goals", i), "lifecycleStatus": "active",
            "category": [{"coding": [b.local(C.CS_RECORD, "patient-goal", "The person's own goal")]}],
            "description": {"text": goal}, "subject": ref(patient_url), "expressedBy": ref(patient_url)})
        for i, goal in enumerate(case.patient.goals)]


def history(b: Builder, case: Case, patient_url: str, records: Records) -> None:
    h = case.history
    conditions = []
    for kind, items in (("presentation", h.presentation), ("condition", h.conditions),
                        ("comorbidity", h.comorbidities)):
        for i, item in enumerate(items):
            conditions.append(b.add(f"Condition/{kind}/{i}", {
                "resourceType": "Condition", "identifier": identifier("history", kind, i),
                "clinicalStatus": {"coding": [{"system": C.CONDITION_CLINICAL, "code": "active", "display": "Active"}]},
                "category": [{"coding": [b.local(C.CS_HISTORY, kind, kind.capitalize())]}],
                "code": {"text": item}, "subject": ref(patient_url)}))
    episode: Json = {"resourceType": "EpisodeOfCare",
                     "extension": [{"url": C.EXT_INVOLVED_SIDE, "valueCode": h.involved_side}]}
    if h.onset and h.onset.date:
        episode["extension"].append({"url": C.EXT_ONSET_DATE, "valueDate": h.onset.date.isoformat()})
    if h.onset and h.onset.mechanism:
        episode["extension"].append({"url": C.EXT_ONSET_MECHANISM, "valueString": h.onset.mechanism})
    if h.growth_plates != "unknown":
        episode["extension"].append({"url": C.EXT_GROWTH_PLATES, "valueCode": h.growth_plates})
    episode.update({"status": "active", "type": [{"text": "Hip extensor assessment and rehabilitation"}],
                    "patient": ref(patient_url)})
    if conditions:
        episode["diagnosis"] = [{"condition": ref(c)} for c in conditions]
    b.add("EpisodeOfCare", episode)
    for i, med in enumerate(h.medications):
        b.add(f"MedicationStatement/{i}", {
            "resourceType": "MedicationStatement", "identifier": identifier("history", "medications", i),
            "status": "active", "medicationCodeableConcept": {"text": med}, "subject": ref(patient_url)})
    if h.surgery is not None:
        s = h.surgery
        ext: list[Json] = []
        if s.side:
            ext.append({"url": C.EXT_SIDE, "valueCode": s.side})
        if s.restrictions_weeks is not None:
            ext.append({"url": C.EXT_RESTRICTIONS_WEEKS, "valueInteger": s.restrictions_weeks})
        for r in s.restrictions:
            parts: list[Json] = [{"url": "kind", "valueCode": r.kind}]
            if isinstance(r.value, bool):
                parts.append({"url": "value", "valueBoolean": r.value})
            elif isinstance(r.value, (int, float)):
                parts.append({"url": "value", "valueDecimal": r.value})
            elif isinstance(r.value, str):
                parts.append({"url": "value", "valueString": r.value})
            if r.until:
                parts.append({"url": "until", "valueDate": r.until.isoformat()})
            if r.note:
                parts.append({"url": "note", "valueString": r.note})
            ext.append({"url": C.EXT_RESTRICTION, "extension": parts})
        procedure: Json = {"resourceType": "Procedure"}
        if ext:
            procedure["extension"] = ext
        procedure.update({"identifier": identifier("history", "surgery"), "status": "completed",
                          "code": {"text": s.procedure}, "subject": ref(patient_url),
                          "performedDateTime": s.date.isoformat()})
        if s.side:
            procedure["bodySite"] = [{"text": f"{s.side} hip"}]
        b.add("Procedure", procedure)
    if h.red_flags:
        q = screening_questionnaire(b, records.questionnaires)
        b.add("QuestionnaireResponse/screening", {
            "resourceType": "QuestionnaireResponse", "identifier": identifier("history", "red_flags")[0],
            "questionnaire": q, "status": "completed", "subject": ref(patient_url),
            "item": [{"linkId": k, "text": words(k), "answer": [{"valueBoolean": v}]} for k, v in
                     h.red_flags.items()]})


def encounter(b: Builder, visit: Visit, index: int, patient_url: str) -> str:
    resource: Json = {"resourceType": "Encounter"}
    if visit.notes:
        resource["extension"] = [{"url": C.EXT_VISIT_NOTE, "valueString": visit.notes}]
    resource.update({
        "identifier": identifier("visits", index), "status": "finished",
        # Encounter.class is required; the case does not say whether the visit was ambulatory, inpatient or
        # virtual, so the code is marked absent rather than guessed.
        "class": {"extension": [{"url": C.EXT_DATA_ABSENT, "valueCode": "unknown"}]},
        "subject": ref(patient_url), "period": {"start": visit.date.isoformat(), "end": visit.date.isoformat()}})
    return b.add(f"Encounter/{visit.date.isoformat()}/{index}", resource)


def measurement_record(b: Builder, m: Measurement, where: tuple[int, int], visit: Visit, patient_url: str,
                       encounter_url: str, *, withheld: bool) -> Json:
    """The Observation of one measurement as recorded (not yet added: the evaluation may add its reading)."""
    proto = b.protocols[m.test]
    obs: Json = {"resourceType": "Observation"}
    if withheld:
        obs["meta"] = _tag_withheld(b)
    if m.device_metrics is not None:
        obs["extension"] = [{"url": C.EXT_DEVICE_METRICS,
                             "valueString": json.dumps(m.device_metrics.model_dump(mode="json", exclude_none=True),
                                                       sort_keys=True)}]
    obs.update({
        "identifier": identifier("visits", where[0], "measurements", where[1]), "status": "final",
        "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": C.CATEGORY_BY_KIND[proto.kind],
                                  "display": C.CATEGORY_BY_KIND[proto.kind].capitalize()}]}],
        "code": {"coding": [b.test_coding(proto)], "text": proto.name + (f" ({words(m.context)})"
                                                                         if m.context else "")},
        "subject": ref(patient_url), "encounter": ref(encounter_url), "effectiveDateTime": visit.date.isoformat()})
    if m.test in C.LOINC_BY_TEST:
        loinc, display = C.LOINC_BY_TEST[m.test]
        obs["code"]["coding"].append({"system": C.LOINC, "code": loinc, "display": display})
    if m.side is not None:
        obs["bodySite"] = _laterality(m.side)
    obs["component"] = [c for name in MEASUREMENT_FIELDS if (v := getattr(m, name)) is not None
                        for c in field_component(b, name, v)]
    if withheld:
        obs["note"] = [{"text": "Recorded, not interpreted: screening advises against this test now."}]
    return obs


def questionnaire_response(b: Builder, m: Measurement, where: tuple[int, int], visit: Visit, patient_url: str,
                           encounter_url: str, records: Records, *, withheld: bool) -> str:
    """A questionnaire's answers (items or PSFS activities) as a QuestionnaireResponse to its Questionnaire."""
    proto = b.protocols[m.test]
    canonical = instrument_questionnaire(b, proto, records.questionnaires)
    items: list[Json] = []
    for number, answer in sorted((m.items or {}).items()):
        item: Json = {"linkId": str(number)}
        text = b.item_text(proto, number)
        if text:
            item["text"] = text
        if answer is not None:
            item["answer"] = [{"valueDecimal": answer}]
        items.append(item)
    for i, act in enumerate(m.activities or [], start=1):
        items.append({"linkId": f"activity-{i}", "text": "Activity", "item": [
            {"linkId": f"activity-{i}.name", "text": "Activity", "answer": [{"valueString": act.activity}]},
            {"linkId": f"activity-{i}.score", "text": "Score (0-10)", "answer": [{"valueDecimal": act.score}]}]})
    response: Json = {"resourceType": "QuestionnaireResponse"}
    if withheld:
        response["meta"] = _tag_withheld(b)
    response.update({"identifier": identifier("visits", where[0], "measurements", where[1])[0],
                     "questionnaire": canonical, "status": "completed", "subject": ref(patient_url),
                     "encounter": ref(encounter_url), "authored": visit.date.isoformat()})
    if items:
        response["item"] = items
    others = {name: v for name in MEASUREMENT_FIELDS if (v := getattr(m, name)) is not None}
    if m.side is not None:
        others["side"] = m.side
    if others:  # anything else recorded with the questionnaire (a note, a context) keeps its case-file name
        response["extension"] = [{"url": C.EXT_CASE_FIELDS, "valueString": json.dumps(others, sort_keys=True)}]
    return b.add(f"QuestionnaireResponse/{visit.date}/{where[1]}", response)


def exercise_response(b: Builder, r: ExerciseResponse, where: tuple[int, int], visit: Visit, patient_url: str,
                      encounter_url: str, *, withheld: bool) -> None:
    lib = b.exercises
    name = lib[r.exercise].name if r.exercise in lib else words(r.exercise)
    obs: Json = {"resourceType": "Observation"}
    if withheld:
        obs["meta"] = _tag_withheld(b)
    comps: list[Json] = []
    for key, value in r.model_dump(exclude={"exercise"}).items():
        if value is None or value == []:
            continue
        if isinstance(value, float):  # pain ratings and RPE (0-10 scores), or a load in kg
            unit = "kg" if key.endswith("_kg") else "{score}"
            comps.append({"code": {"coding": [b.local(C.CS_CASE_FIELD, key, words(key))]},
                          "valueQuantity": {"value": value, "unit": unit, "system": C.UCUM, "code": unit}})
        else:
            comps += field_component(b, key, value)
    obs.update({
        "identifier": identifier("visits", where[0], "exercise_responses", where[1]), "status": "final",
        "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "activity", "display": "Activity"}]}],
        "code": {"coding": [{"system": C.LOINC, "code": C.LOINC_EXERCISE_ACTIVITY[0],
                             "display": C.LOINC_EXERCISE_ACTIVITY[1]},
                            b.local(C.CS_RECORD, "exercise-response", "Response to a prescribed exercise")],
                 "text": f"Response to {name}"},
        "subject": ref(patient_url), "encounter": ref(encounter_url), "effectiveDateTime": visit.date.isoformat(),
        "valueCodeableConcept": {"coding": [b.local(C.CS_EXERCISE, r.exercise, name)], "text": name}})
    if comps:
        obs["component"] = comps
    b.add(f"Observation/{visit.date}/response/{where[1]}", obs)


def movement(b: Builder, visit: Visit, index: int, patient_url: str, encounter_url: str) -> None:
    for i, finding in enumerate(visit.observations):
        obs: Json = {
            "resourceType": "Observation", "identifier": identifier("visits", index, "observations", i),
            "status": "final",
            "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "exam", "display": "Exam"}]}],
            "code": {"coding": [b.local(C.CS_RECORD, "movement-observation", "Observed movement finding")],
                     "text": "Observed movement"},
            "subject": ref(patient_url), "encounter": ref(encounter_url),
            "effectiveDateTime": visit.date.isoformat(),
            "valueCodeableConcept": {"coding": [b.local(C.CS_MOVEMENT, finding, words(finding).capitalize())],
                                     "text": words(finding)}}
        side = visit.observation_sides.get(finding)
        if side:
            obs["bodySite"] = _laterality(side)
        b.add(f"Observation/{visit.date}/movement/{i}", obs)
    extra_sides = {k: v for k, v in visit.observation_sides.items() if k not in visit.observations}
    if extra_sides:  # sides given for observations not listed: kept as recorded
        b.add(f"Observation/{visit.date}/movement-sides", {
            "resourceType": "Observation", "identifier": identifier("visits", index, "observation_sides"),
            "status": "final", "code": {"coding": [b.local(C.CS_RECORD, "observation-sides",
                                                           "Sides of observed movement findings")]},
            "subject": ref(patient_url), "encounter": ref(encounter_url),
            "effectiveDateTime": visit.date.isoformat(),
            "valueString": json.dumps(extra_sides, sort_keys=True)})


def activity_checks(b: Builder, visit: Visit, index: int, patient_url: str, encounter_url: str) -> None:
    """Activities tried at the visit and whether they were pain-free: one yes/no Observation each."""
    for key, pain_free in visit.activity_checks.items():
        b.add(f"Observation/{visit.date}/activity/{key}", {
            "resourceType": "Observation", "identifier": identifier("visits", index, "activity_checks", key),
            "status": "final",
            "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "exam", "display": "Exam"}]}],
            "code": {"coding": [b.local(C.CS_RECORD, "activity-check", "Activity tried at the visit"),
                                b.local(C.CS_ACTIVITY_CHECK, key, words(key).capitalize())],
                     "text": words(key)},
            "subject": ref(patient_url), "encounter": ref(encounter_url),
            "effectiveDateTime": visit.date.isoformat(), "valueBoolean": pain_free})


def readiness(b: Builder, r: Readiness, visit: Visit, index: int, patient_url: str, encounter_url: str) -> None:
    comps: list[Json] = []
    for key in ("psychologically_ready", "apprehension", "cleared_by"):
        value = getattr(r, key)
        if value is not None and value != []:
            comps += field_component(b, key, value)
    obs: Json = {
        "resourceType": "Observation", "identifier": identifier("visits", index, "readiness"), "status": "final",
        "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {"coding": [b.local(C.CS_RECORD, "readiness", "Readiness to return to activity")],
                 "text": "Readiness to return to activity"},
        "subject": ref(patient_url), "encounter": ref(encounter_url), "effectiveDateTime": visit.date.isoformat()}
    if comps:
        obs["component"] = comps
    else:
        obs["valueString"] = "No readiness answers recorded."
    b.add(f"Observation/{visit.date}/readiness", obs)


__all__ = ["MEASUREMENT_FIELDS", "Records", "encounter", "exercise_response", "field_component", "history",
           "identifier", "measurement_record", "movement", "patient", "patient_goals", "questionnaire_response",
           "readiness"]
