"""Which questionnaires a patient's link offers: those the clinician assigned when making the link, or (for links made
before assignment existed) those used at the person's visits. Never every questionnaire the app knows: a patient
asked to fill in forms that do not concern them is as likely to skip the ones that do."""

from __future__ import annotations

from typing import Any

from hipext.store.models import Patient, PatientLink
from hipext.web import visit_form


def questionnaires() -> list[visit_form.TestForm]:
    """The patient-reported questionnaires the visit form has, in its order."""
    return [t for t in visit_form.measurement_forms() if t.kind == "prom"]


def used_at_visits(row: Patient) -> list[str]:
    """The questionnaires recorded at any of the patient's visits, in the form's order."""
    used = {m.get("test") for v in row.active_visits for m in v.data_json.get("measurements") or []}
    return [t.id for t in questionnaires() if t.id in used]


def suggested(row: Patient, links: list[PatientLink]) -> list[str]:
    """The boxes ticked on the make-a-link form: the latest link's assignment, else those used at visits."""
    latest = next((lk.questionnaires_json for lk in links if lk.questionnaires_json is not None), None)
    return list(latest) if latest is not None else used_at_visits(row)


def chosen(form: Any) -> list[str]:
    """The questionnaires ticked on the make-a-link form (unknown ids are ignored)."""
    ticked = set(form.getlist("questionnaires")) if hasattr(form, "getlist") else set()
    return [t.id for t in questionnaires() if t.id in ticked]


def offered(link: PatientLink, row: Patient) -> list[visit_form.TestForm]:
    """The questionnaires this link offers."""
    ids = link.questionnaires_json if link.questionnaires_json is not None else used_at_visits(row)
    return [t for t in questionnaires() if t.id in ids]
