"""Generated narrative (`text`, status `generated`) for every exported resource, written from the resource itself.

The narrative is made from the finished resource's own elements, so it can say nothing the structured data does not
(FHIR's rule for `generated`). XHTML uses only elements the narrative rules allow (div, p, b, ul, li, table, tr, th,
td), every value escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

Json = dict[str, Any]
XHTML = "http://www.w3.org/1999/xhtml"


def _cc(cc: Json | None) -> str:
    """A CodeableConcept in words: its text, else its first coding's display, else its code."""
    if not cc:
        return ""
    if cc.get("text"):
        return str(cc["text"])
    for c in cc.get("coding", []):
        if c.get("display") or c.get("code"):
            return str(c.get("display") or c.get("code"))
    return ""


def _qty(q: Json) -> str:
    value = q.get("value")
    shown = f"{value:g}" if isinstance(value, (int, float)) else str(value)
    comparator = q.get("comparator", "")
    unit = q.get("unit") or q.get("code") or ""
    return f"{comparator}{shown} {unit}".strip()


def _value(x: Json, prefix: str = "value") -> str:
    """The value[x] of an element in words."""
    for key, v in x.items():
        if not key.startswith(prefix) or key == prefix:
            continue
        kind = key[len(prefix):]
        if kind == "Quantity":
            return _qty(v)
        if kind == "CodeableConcept":
            return _cc(v)
        if kind == "Coding":
            return str(v.get("display") or v.get("code"))
        if kind == "Boolean":
            return "yes" if v else "no"
        if kind in ("String", "Integer", "Decimal", "Date", "DateTime", "Code", "Uri"):
            return f"{v:g}" if isinstance(v, float) else str(v)
        if kind == "Attachment":
            return str(v.get("title") or v.get("contentType") or "attachment")
    return ""


def _p(label: str, text: str) -> str:
    return f"<p><b>{escape(label)}</b>: {escape(text)}</p>" if text else ""


def _ul(items: list[str]) -> str:
    items = [i for i in items if i]
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>" if items else ""


def _side(r: Json) -> str:
    site = r.get("bodySite") or {}
    return str(site.get("text") or "")


def _patient(r: Json) -> str:
    ids = ", ".join(i.get("value", "") for i in r.get("identifier", []))
    age = next((_qty(e["valueAge"]) for e in r.get("extension", []) if "valueAge" in e), "")
    return _p("Patient", ids) + _p("Gender", r.get("gender", "")) + _p("Age", age)


def _observation(r: Json) -> str:
    value = _value(r) or ("not available: " + _cc(r.get("dataAbsentReason")) if r.get("dataAbsentReason") else "")
    parts = [_p(_cc(r.get("code")) or "Observation", value), _p("Date", r.get("effectiveDateTime", "")),
             _p("Body site", _side(r))]
    parts.append(_ul([_cc(i) for i in r.get("interpretation", [])]))
    comps = [f"{_cc(c.get('code'))}: {_value(c)}" for c in r.get("component", []) if _value(c)]
    parts.append(_ul(comps))
    parts.append(_ul([n.get("text", "") for n in r.get("note", [])]))
    return "".join(parts)


def _answers(items: list[Json]) -> list[str]:
    out = []
    for it in items:
        answers = ", ".join(_value(a) for a in it.get("answer", [])) or "not answered"
        out.append(f"{it.get('text') or it.get('linkId')}: {answers}")
        out += _answers(it.get("item", []))
    return out


def _questionnaire_response(r: Json) -> str:
    return (_p("Questionnaire response", r.get("status", "")) + _p("Authored", r.get("authored", ""))
            + _ul(_answers(r.get("item", []))))


def _questionnaire(r: Json) -> str:
    def walk(items: list[Json]) -> list[str]:
        out = []
        for it in items:
            out.append(f"{it.get('linkId')}. {it.get('text', '')} ({it.get('type')})")
            out += walk(it.get("item", []))
        return out

    return _p("Questionnaire", r.get("title") or r.get("name", "")) + _p("Status", r.get("status", "")) \
        + _ul(walk(r.get("item", [])))


def _encounter(r: Json) -> str:
    period = r.get("period", {})
    notes = [e.get("valueString", "") for e in r.get("extension", []) if "valueString" in e]
    return _p("Visit", period.get("start", "")) + _p("Status", r.get("status", "")) + _ul(notes)


def _detected_issue(r: Json) -> str:
    return (_p("Screening rule", _cc(r.get("code"))) + _p("Severity", r.get("severity", ""))
            + _p("Detail", r.get("detail", "")) + _ul([m["action"].get("text", "") for m in r.get("mitigation", [])]))


def _impression(r: Json) -> str:
    return (_p("Clinical impression", r.get("description", "")) + _p("Summary", r.get("summary", ""))
            + _ul([_cc(f.get("itemCodeableConcept")) for f in r.get("finding", [])]))


def _goal(r: Json) -> str:
    targets = []
    for t in r.get("target", []):
        targets.append(f"{_cc(t.get('measure'))}: {_value(t, 'detail')}".strip(": "))
    return (_p("Goal", _cc(r.get("description"))) + _p("Status", r.get("lifecycleStatus", ""))
            + _p("Achievement", _cc(r.get("achievementStatus"))) + _ul(targets))


def _care_plan(r: Json) -> str:
    acts = [a.get("detail", {}).get("description") or _cc(a.get("detail", {}).get("code")) for a in
            r.get("activity", [])]
    return (_p("Care plan", r.get("title", "")) + _p("Status", r.get("status", ""))
            + _p("Description", r.get("description", "")) + _ul(acts))


def _document(r: Json) -> str:
    return _p("Document", _cc(r.get("type"))) + _p("Description", r.get("description", ""))


def _code_system(r: Json) -> str:
    return (_p("Code system", f"{r.get('name', '')} ({r.get('url', '')})")
            + _ul([f"{c['code']}: {c.get('display', '')}" for c in r.get("concept", [])]))


def _device(r: Json) -> str:
    names = ", ".join(n.get("name", "") for n in r.get("deviceName", []))
    return _p("Device", names) + _p("Type", _cc(r.get("type")))


def _condition(r: Json) -> str:
    return (_p("Condition", _cc(r.get("code"))) + _p("Category", ", ".join(_cc(c) for c in r.get("category", [])))
            + _p("Body site", ", ".join(_cc(s) for s in r.get("bodySite", []))))


def _procedure(r: Json) -> str:
    return (_p("Procedure", _cc(r.get("code"))) + _p("Performed", r.get("performedDateTime", ""))
            + _p("Body site", ", ".join(_cc(s) for s in r.get("bodySite", []))))


def _medication(r: Json) -> str:
    return _p("Medication", _cc(r.get("medicationCodeableConcept"))) + _p("Status", r.get("status", ""))


def _episode(r: Json) -> str:
    return _p("Episode of care", r.get("status", "")) + _p("Type", ", ".join(_cc(t) for t in r.get("type", [])))


_BY_TYPE: dict[str, Callable[[Json], str]] = {
    "Patient": _patient, "Observation": _observation, "QuestionnaireResponse": _questionnaire_response,
    "Questionnaire": _questionnaire, "Encounter": _encounter, "DetectedIssue": _detected_issue,
    "ClinicalImpression": _impression, "Goal": _goal, "CarePlan": _care_plan, "DocumentReference": _document,
    "CodeSystem": _code_system, "Device": _device, "Condition": _condition, "Procedure": _procedure,
    "MedicationStatement": _medication, "EpisodeOfCare": _episode,
}


def narrative(resource: Json) -> Json:
    """The `text` element for a finished resource: status generated and an XHTML div summarising it."""
    kind = resource["resourceType"]
    body = _BY_TYPE.get(kind, lambda r: "")(resource) or f"<p>{escape(kind)}</p>"
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'}
