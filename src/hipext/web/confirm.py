"""Implausible but possible values: the form is shown again with each warning at its field and an "I have checked
these values" box; the record is saved only once the clinician confirms these very warnings, and the confirmation is
audited. Impossible values are errors (refused, nothing saved) and never reach this step.

The warnings come from the consistency pass of the core (`hipext.core.consistency.review`); this module takes any
list of {path, value, expected} problems, so the flow does not depend on which checks exist."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hipext.caseio import parse_case
from hipext.core.errors import CaseInputError

FIELD = "confirm_warnings"  # the checkbox
TOKEN = "confirm_token"  # which warnings the box was ticked for


def _review(data: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        from hipext.core.consistency import review  # noqa: PLC0415 - the pass is optional until it lands
    except ImportError:
        return []
    try:
        case = parse_case(data)
    except CaseInputError:
        return []  # errors are reported (and refused) before this step
    return [p.as_dict() for p in review(case).warnings]


def warnings_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The warnings a case (as plain data, already free of errors) raises, as {path, value, expected}."""
    return _review(data)


def fingerprint(warnings: list[dict[str, Any]]) -> str:
    """Identifies a set of warnings: a box ticked for one set does not confirm another."""
    items = sorted(json.dumps([w["path"], w.get("value"), w["expected"]], default=str) for w in warnings)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:32]


def confirmed(form: Any, warnings: list[dict[str, Any]]) -> bool:
    """Nothing to confirm, or the clinician ticked the box for exactly these warnings."""
    if not warnings:
        return True
    return form.get(FIELD) in ("yes", "on") and form.get(TOKEN) == fingerprint(warnings)


def audit_detail(warnings: list[dict[str, Any]]) -> str:
    """What the clinician confirmed, named as on the form (labels are set by `visit_form.label_problems`)."""
    parts = [f"{w.get('label') or w['path']}: {w.get('value')!s} ({w['expected']})" for w in warnings]
    return f"confirmed {len(warnings)} unusual value(s): " + "; ".join(parts)[:900]


def context(warnings: list[dict[str, Any]], field_errors: dict[str, list[str]]) -> dict[str, Any]:
    """What the form template needs: the list, the messages at each field and the token of this set."""
    return {"warnings": warnings, "warning_fields": field_errors, "confirm_token": fingerprint(warnings)}
