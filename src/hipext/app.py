"""Application layer: the one way in for the CLI, the web app and tests. Pure: no I/O beyond the evidence files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hipext import __version__, evidence
from hipext.core.case import Case
from hipext.core.evaluation import Evaluation, PatientSummary, SourceRef
from hipext.core.interpret import age_group, evaluated_visit_date, interpret
from hipext.core.measures import STANDARD_GRAVITY


def patient_summary(case: Case) -> PatientSummary:
    p = case.patient
    return PatientSummary(
        id=p.id, age=p.age, sex=p.sex, body_mass_kg=p.body_mass_kg, height_m=p.height_m,
        body_weight_n=round(p.body_mass_kg * STANDARD_GRAVITY, 1),
        bmi_kg_m2=round(p.body_mass_kg / p.height_m**2, 1) if p.height_m else None,
        age_group=age_group(p.age), activity_level=p.activity_level, goals=p.goals,
        involved_side=case.history.involved_side,
    )


def cited_sources(document: Any) -> list[str]:
    """Every source id under any `sources` key, in order of first appearance."""
    found: dict[str, None] = {}

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "sources" and isinstance(v, list):
                    found.update((s, None) for s in v if isinstance(s, str))
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(document)
    return list(found)


def evaluate_case(case: Case, *, today: dt.date | None = None) -> Evaluation:
    """Screen, interpret, prescribe and explain one case."""
    ev = evidence.load()
    today = today or evaluated_visit_date(case) or dt.date.today()
    results, findings = interpret(case, ev)
    evaluation = Evaluation(
        hipext_version=__version__, evaluated_visit=evaluated_visit_date(case), patient=patient_summary(case),
        results=results, findings=findings,
    )
    doc = evaluation.model_dump(mode="json")
    refs = []
    for sid in cited_sources(doc):
        ref = ev.references[sid]  # a KeyError here is a data bug; tests walk every shipped case for it
        citation = f"{ref.authors} ({ref.year or 'n.d.'}). {ref.title}." + (f" {ref.journal}." if ref.journal else "")
        refs.append(SourceRef(id=sid, citation=citation, doi=ref.doi, url=ref.url))
    evaluation.sources = refs
    return evaluation
