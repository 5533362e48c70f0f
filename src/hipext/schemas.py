"""JSON Schemas of the public formats, generated from the pydantic models so they cannot drift."""

from __future__ import annotations

from typing import Any

from hipext import evidence
from hipext.care.data import activity_checks, red_flag_questions
from hipext.core.case import Case
from hipext.document import Evaluation


def case_schema() -> dict[str, Any]:
    schema = Case.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hipext case file, version 1"
    # Test ids are data (protocols.yaml): publish them as an enum so editors can complete them.
    test = schema["$defs"]["Measurement"]["properties"]["test"]
    test["enum"] = sorted(evidence.load().protocols)
    # Likewise the screening questions: a key no screening rule reads would be silently ignored.
    red_flags = schema["$defs"]["History"]["properties"]["red_flags"]
    red_flags["propertyNames"] = {"enum": sorted(red_flag_questions())}
    checks = schema["$defs"]["Visit"]["properties"]["activity_checks"]
    checks["propertyNames"] = {"enum": sorted(activity_checks())}
    return schema


def evaluation_schema() -> dict[str, Any]:
    # The document is output: its schema includes the computed wording (dose in words, patient text).
    schema = Evaluation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hipext evaluation document"
    return schema
