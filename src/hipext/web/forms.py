"""The patient and history forms <-> case data, and mapping validation problems back to form fields.

Validation is `hipext.caseio.parse_case`; its problems are mapped back to the fields that caused them. The visit
form (measurements built from the evidence data) is in `visit_form`."""

from __future__ import annotations

import re
import typing
from functools import lru_cache
from typing import Any

from hipext.core import case as case_model

# Screening questions asked first at every new visit (answers go to history.red_flags); the wording of every
# question is the one data/care/red_flag_questions.yaml gives, the same the FHIR questionnaire carries.
COMMON_QUESTIONS = [
    "saddle_anaesthesia", "bladder_or_bowel_change", "bilateral_leg_weakness", "suspected_fracture",
    "unable_to_bear_weight", "fever", "systemically_unwell", "hot_swollen_joint", "calf_swelling", "calf_tenderness",
    "history_of_cancer", "night_pain", "unexplained_weight_loss", "severe_pain_with_movement",
    "unsafe_movement_control", "falls_risk", "exertional_chest_pain", "exertional_breathlessness",
    "exertional_symptoms_new_or_unevaluated",
]


@lru_cache(maxsize=1)
def screening_questions() -> list[tuple[str, str]]:
    """Every red-flag key the screening rules read (the only keys a case may carry) with its plain question, the
    common ones first, then in the order the rules read them."""
    from hipext.care import data as care_data  # noqa: PLC0415

    text = care_data.red_flag_text()
    known = care_data.red_flag_questions()
    ordered: list[str] = [k for k in COMMON_QUESTIONS if k in known]
    for rule in care_data.rules():
        for item in (rule.get("triggers") or []) + (rule.get("unless") or []):
            ordered += [k for k in item.get("red_flags") or [] if k in known and k not in ordered]
    return [(k, text[k]) for k in ordered]


@lru_cache(maxsize=1)
def condition_terms() -> list[str]:
    """The condition and presentation terms the screening rules read, in words, for type-ahead on the form."""
    from hipext.care import data as care_data  # noqa: PLC0415

    terms: set[str] = set()
    for rule in care_data.rules():
        for item in (rule.get("triggers") or []) + (rule.get("unless") or []):
            for key in ("terms", "comorbidities"):
                terms.update(t.replace("_", " ") for t in item.get(key) or [] if isinstance(t, str))
    return sorted(terms)


# The labels the patient and history fields carry on the form, for naming a problem the way the clinician sees it.
FIELD_LABELS = {
    "patient.name": "Name",
    "patient.date_of_birth": "Date of birth",
    "patient.id": "Clinic id",
    "patient.age": "Age",
    "patient.sex": "Sex",
    "patient.body_mass_kg": "Body mass",
    "patient.height_m": "Height",
    "patient.activity_level": "Activity level",
    "patient.training_status": "Training status",
    "patient.goals": "Goals",
    "patient.residence": "Lives in",
    "history.growth_plates": "Growth plates",
    "history.pregnancy.weeks_pregnant": "Pregnant: weeks of gestation",
    "history.pregnancy.weeks_postpartum": "After birth: weeks since the birth",
    "history.pregnancy.delivery": "Birth",
    "history.pregnancy.pelvic_girdle_pain": "Pelvic girdle pain",
    "history.involved_side": "Involved side",
    "history.presentation": "Presentation",
    "history.conditions": "Conditions",
    "history.comorbidities": "Comorbidities",
    "history.medications": "Medications",
    "history.onset.date": "Onset date",
    "history.onset.mechanism": "Mechanism of onset",
    "history.surgery.procedure": "Surgery: procedure",
    "history.surgery.side": "Surgery: side",
    "history.surgery.date": "Surgery: date",
    "history.surgery.restrictions_weeks": "Surgery: precautions (weeks)",
    **{f"history.surgery.restrictions[{i}].{k}": f"Restriction {i + 1}: {w}"
       for i in range(3) for k, w in (("kind", "limit"), ("value", "value"), ("until", "until"))},
    "reason": "Reason for the correction",
    "_general": "The form",
}


def literal_values(tp: Any) -> list[str]:
    return [str(x) for x in typing.get_args(tp)]


OBSERVATIONS = literal_values(case_model.Observation)
ACTIVITY_LEVELS = literal_values(case_model.ActivityLevel)
INVOLVED_SIDES = literal_values(case_model.InvolvedSide)
RESTRICTION_KINDS = literal_values(case_model.Restriction.model_fields["kind"].annotation)
# Each restriction kind as a surgeon writes it, with the unit its value takes (degrees for the angle limits).
RESTRICTION_LABELS = {
    "hip_flexion_max_deg": "Hip flexion no more than (°)",
    "hip_adduction_max_deg": "Hip adduction no more than (°)",
    "hip_internal_rotation_max_deg": "Hip internal rotation no more than (°)",
    "hip_extension_max_deg": "Hip extension no more than (°)",
    "hip_external_rotation_max_deg": "Hip external rotation no more than (°)",
    "knee_extension_with_hip_flexion": "No knee extension with the hip flexed",
    "weight_bearing": "Weight bearing (e.g. toe_touch, partial, as_tolerated)",
    "no_resisted_hamstring": "No resisted hamstring work",
    "no_resisted_hip_extension": "No resisted hip extension",
    "no_eccentric": "No eccentric work",
    "no_impact": "No impact",
    "no_maximal_testing": "No maximal testing",
    "no_prone": "No lying face down (prone)",
}
RESIDENCES = [("community", "At home (community)"), ("care_home", "Care home")]
GROWTH_PLATES = [("unknown", "Not known"), ("open", "Open (still growing)"), ("closed", "Closed (fully grown)")]
DELIVERIES = [("", "—"), ("vaginal", "Vaginal"), ("caesarean", "Caesarean")]


def clean(v: Any) -> str:
    return str(v).strip() if v is not None else ""


def split_list(v: str) -> list[str]:
    return [x.strip() for x in re.split(r"[,\n]", v) if x.strip()]


LB_KG = 0.45359237  # exact, by definition of the international pound


def _converted(value: str, factor: float, digits: int) -> Any:
    """A number in the form's unit, in the case's SI unit; text that is not a number is left for validation."""
    try:
        return round(float(value) * factor, digits)
    except ValueError:
        return value


def patient_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The patient block from the form: mass in kg or lb and height in cm or m become kg and m; a missing clinic id
    is made from the name and date of birth."""
    p: dict[str, Any] = {}
    for k in (
        "id",
        "name",
        "date_of_birth",
        "age",
        "sex",
        "body_mass_kg",
        "height_m",
        "activity_level",
        "training_status",
        "residence",
    ):
        v = clean(form.get(f"patient.{k}"))
        if v:
            p[k] = v
    if "body_mass_kg" in p and form.get("patient.mass_unit") == "lb":
        p["body_mass_kg"] = _converted(p["body_mass_kg"], LB_KG, 1)
    if "height_m" in p and form.get("patient.height_unit", "cm") == "cm":
        p["height_m"] = _converted(p["height_m"], 0.01, 3)
    if "id" not in p and p.get("name") and p.get("date_of_birth"):
        p["id"] = f"{p['name']} {p['date_of_birth']}"[:100]
    goals = split_list(clean(form.get("patient.goals")).replace("\r", ""))
    if goals:
        p["goals"] = goals
    return p


def history_from_form(form: dict[str, str]) -> dict[str, Any]:
    h: dict[str, Any] = {}
    v = clean(form.get("history.involved_side"))
    if v:
        h["involved_side"] = v
    for k in ("presentation", "conditions", "comorbidities", "medications"):
        items = split_list(clean(form.get(f"history.{k}")))
        if items:
            h[k] = items
    onset = {k: clean(form.get(f"history.onset.{k}")) for k in ("date", "mechanism")}
    onset = {k: v for k, v in onset.items() if v}
    if onset:
        h["onset"] = onset
    given = {k: clean(form.get(f"history.surgery.{k}")) for k in ("procedure", "side", "date", "restrictions_weeks")}
    surgery: dict[str, Any] = {k: v for k, v in given.items() if v}
    restrictions: list[dict[str, str]] = []
    for i in range(3):
        r = {k: clean(form.get(f"history.surgery.restrictions[{i}].{k}")) for k in ("kind", "value", "until", "note")}
        r = {k: v for k, v in r.items() if v}
        if r:
            restrictions.append(r)
    if restrictions:
        surgery["restrictions"] = restrictions
    if surgery:
        h["surgery"] = surgery
    growth = clean(form.get("history.growth_plates"))
    if growth and growth != "unknown":
        h["growth_plates"] = growth
    pregnancy = pregnancy_from_form(form)
    if pregnancy:
        h["pregnancy"] = pregnancy
    flags = {}
    for key, _label in screening_questions():
        ans = clean(form.get(f"history.red_flags.{key}"))
        if ans in ("yes", "no"):
            flags[key] = ans == "yes"
    if flags:
        h["red_flags"] = flags
    return h


PREGNANCY_FIELDS = ("weeks_pregnant", "weeks_postpartum", "delivery", "pelvic_girdle_pain")


def pregnancy_from_form(form: dict[str, str]) -> dict[str, Any]:
    """Pregnancy or the weeks after birth (`history.pregnancy`); the case names what is missing or contradictory."""
    p: dict[str, Any] = {}
    for k in ("weeks_pregnant", "weeks_postpartum", "delivery"):
        v = clean(form.get(f"history.pregnancy.{k}"))
        if v:
            p[k] = v
    pgp = clean(form.get("history.pregnancy.pelvic_girdle_pain"))
    if pgp in ("yes", "no"):
        p["pelvic_girdle_pain"] = pgp == "yes"
    return p


def field_errors(problems: list[dict[str, Any]], visit_field_of: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Map problem paths ('visits[0].measurements[2].lever_arm_m') to form field names."""
    errors: dict[str, list[str]] = {}
    for p in problems:
        path = p["path"]
        msg = f"expected {p['expected']}" + (f" (got {p['value']!r})" if p.get("value") not in (None, "") else "")
        target = None
        if path.startswith("visits[0]") and visit_field_of is not None:
            probe = path[len("visits[0]") :].lstrip(".")
            while probe:
                if probe in visit_field_of:
                    target = visit_field_of[probe]
                    break
                nxt = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", probe)
                if nxt == probe:
                    break
                probe = nxt
            target = target or "visit._general"
        else:
            probe = path
            known = {
                "patient.id",
                "patient.name",
                "patient.date_of_birth",
                "patient.age",
                "patient.sex",
                "patient.body_mass_kg",
                "patient.height_m",
                "patient.activity_level",
                "patient.training_status",
                "patient.goals",
                "history.involved_side",
                "history.presentation",
                "history.conditions",
                "history.comorbidities",
                "history.medications",
                "history.onset.date",
                "history.onset.mechanism",
                "history.surgery.procedure",
                "history.surgery.side",
                "history.surgery.date",
                "history.surgery.restrictions_weeks",
                "history.growth_plates",
                "patient.residence",
            }
            known |= {f"history.pregnancy.{k}" for k in PREGNANCY_FIELDS}
            known |= {f"history.surgery.restrictions[{i}].{k}" for i in range(3) for k in ("kind", "value", "until")}
            if probe == "history.pregnancy":  # "give either weeks" belongs to the weeks fields
                probe = "history.pregnancy.weeks_pregnant"
            while probe and probe not in known:
                nxt = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", probe)
                if nxt == probe:
                    break
                probe = nxt
            target = probe if probe in known else "_general"
        errors.setdefault(target, []).append(msg)
    return errors
