"""What the clinician checks at the start of a visit besides tests: resting vital signs (case `visits[].vitals`) and
the activities tried at the visit and whether they were pain-free (case `visits[].activity_checks`, keys and wording
from the return-to-activity data)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hipext.web.forms import clean

# Vitals fields with the label and unit a clinician reads.
VITALS = {
    "systolic_mmhg": "Blood pressure, systolic (mmHg)",
    "diastolic_mmhg": "Blood pressure, diastolic (mmHg)",
    "heart_rate_bpm": "Resting heart rate (beats/min)",
    "spo2_percent": "Oxygen saturation at rest, SpO2 (%)",
}
CHECK_ANSWERS = [("", "not tried"), ("yes", "yes, pain-free"), ("no", "no, painful")]


@lru_cache(maxsize=1)
def activity_checks() -> list[tuple[str, str]]:
    """(key, the clinician's wording) for every activity check the care data defines."""
    from hipext.care import data as care_data  # noqa: PLC0415

    return list(care_data.activity_checks().items())


def labels() -> dict[str, str]:
    """Form field name -> the label the clinician sees, for naming problems."""
    out = {f"visit.vitals.{k}": label for k, label in VITALS.items()}
    out["visit.activity_checks._group"] = "Activity checks"
    return out | {f"visit.activity_checks.{k}": f"Activity check: {label}" for k, label in activity_checks()}


def checks_from_form(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The visit's `vitals` and `activity_checks` from the form, and the form field each problem path maps to."""
    out: dict[str, Any] = {}
    field_of = {f"vitals.{k}": f"visit.vitals.{k}" for k in VITALS}
    field_of["vitals"] = "visit.vitals.systolic_mmhg"  # "give both pressures" belongs to the pressure fields
    field_of["activity_checks"] = "visit.activity_checks._group"
    vitals = {k: clean(form.get(f"visit.vitals.{k}")) for k in VITALS}
    vitals = {k: v for k, v in vitals.items() if v}
    if vitals:
        out["vitals"] = vitals
    checks: dict[str, bool] = {}
    for key, _label in activity_checks():
        field_of[f"activity_checks.{key}"] = f"visit.activity_checks.{key}"
        answer = clean(form.get(f"visit.activity_checks.{key}"))
        if answer in ("yes", "no"):
            checks[key] = answer == "yes"
    if checks:
        out["activity_checks"] = checks
    return out, field_of


def check_values(visit: dict[str, Any]) -> dict[str, str]:
    """A stored visit's vitals and activity checks as the form's values."""
    v = {f"visit.vitals.{k}": f"{x:g}" for k, x in (visit.get("vitals") or {}).items() if x is not None}
    for key, done in (visit.get("activity_checks") or {}).items():
        v[f"visit.activity_checks.{key}"] = "yes" if done else "no"
    return v
