"""The evaluation document: the public JSON contract of `hipext evaluate` (`hipext schema evaluation`).

It sits above the core and care: the core's results and findings and care's screening, program, progression,
follow-up, return to activity, aftercare and education are its sections. Every section carries the source ids its
numbers come from. The CLI, the web page, the API, the reports and FHIR all read this one document.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hipext.care.models import (
    Aftercare,
    Education,
    FollowUp,
    Program,
    Progression,
    ReturnToActivity,
    Screening,
)
from hipext.care.overrides import OverrideStatus
from hipext.core.errors import Problem
from hipext.core.evaluation import Finding, Result


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientSummary(_Out):
    id: str
    age: int
    sex: str
    body_mass_kg: float
    height_m: float | None
    body_weight_n: float = Field(description="Body mass x standard gravity.")
    bmi_kg_m2: float | None
    age_group: str
    activity_level: str
    goals: list[str]
    involved_side: str


class CaseWarning(_Out):
    """An entry that is possible but unusual: the clinician confirms it (`hipext.core.consistency`)."""

    path: str = Field(description="The field as written in the case, e.g. visits[0].measurements[2].trials_n[1].")
    value: float | int | str | bool | None
    message: str = Field(description="What a usual entry looks like and what to check.")

    @classmethod
    def of(cls, problem: Problem) -> CaseWarning:
        return cls(path=problem.path, value=problem.as_dict()["value"], message=f"Expected {problem.expected}.")


class SourceRef(_Out):
    id: str
    citation: str
    doi: str | None = None
    url: str | None = None
    link: str | None = Field(default=None, description="Where to open the source: https://doi.org/<doi>, else url.")


class Evaluation(_Out):
    hipext_version: str
    as_of: dt.date = Field(
        description="The date the case was evaluated for (default: the latest visit). Precautions, timelines and "
        "follow-up are reckoned from it; visits after it are not part of the evaluation."
    )
    evaluated_visit: dt.date | None
    patient: PatientSummary
    warnings: list[CaseWarning] = Field(
        default_factory=list, description="Entries that are possible but unusual: confirm them before acting on the "
        "evaluation. Impossible entries are errors instead, and no document is made.")
    screening: Screening | None = Field(default=None, description="Runs first; its decisions bind everything after.")
    results: list[Result]
    findings: list[Finding]
    capacity: dict[str, Any] | None = Field(
        default=None, description="Torque-angle-velocity capacity scaled to measured strength, and task shares."
    )
    program: Program | None = Field(default=None, description="The program, with the clinician's edits applied.")
    clinician_edits: list[OverrideStatus] = Field(
        default_factory=list,
        description="Each clinician edit in force: applied, or stale (the engine changed the value since) or refused.",
    )
    progression: Progression | None = None
    follow_up: FollowUp | None = None
    return_to_activity: ReturnToActivity | None = None
    aftercare: Aftercare | None = None
    education: Education | None = None
    disclaimer: str = (
        "Decision support for a licensed clinician. Findings are considerations, not diagnoses; "
        "the clinician's judgement and the surgeon's orders take precedence."
    )
    sources: list[SourceRef] = Field(default_factory=list, description="Every source cited in this document.")


def document_json(evaluation: Evaluation) -> str:
    """The document as JSON text, the same bytes wherever it is served (CLI, API)."""
    return evaluation.model_dump_json(indent=2) + "\n"
