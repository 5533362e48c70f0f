"""Questionnaire resources: one per instrument a case answered (from its scoring rule), and the screening questions.

Item texts are the ones the evidence files hold (`item_labels`); an instrument whose item wording is not shipped
(licensed instruments) gets numbered items whose answers keep their allowed range, and says so in its description.
"""

from __future__ import annotations

from hipext import evidence
from hipext.care.data import red_flag_questions, red_flag_text
from hipext.evidence.models import Protocol
from hipext.fhir import codes as C
from hipext.fhir.builder import Builder, Json, words


def _add_once(b: Builder, canonical: str, known: dict[str, str], resource: Json) -> str:
    if canonical not in known:
        known[canonical] = b.add(f"Questionnaire/{canonical}", resource)
    return canonical


def instrument_questionnaire(b: Builder, proto: Protocol, known: dict[str, str]) -> str:
    """The Questionnaire of a PROM (its canonical URL), added to the bundle the first time it is used."""
    canonical = f"{C.Q_BASE}/{proto.id}"
    if canonical in known:
        return canonical
    rule = evidence.load().proms.get(proto.instrument or "")
    items: list[Json] = []
    if rule is not None and rule.id != "psfs":
        for n in range(1, rule.items + 1):
            low, high = rule.item_min, rule.item_max_overrides.get(n, rule.item_max)
            allowed = rule.item_allowed_values.get(n)
            text = rule.item_labels.get(n) or f"Item {n}"
            range_text = (f" (one of {', '.join(f'{a:g}' for a in allowed)})" if allowed
                          else f" ({low:g} to {high:g})")
            # Answers are numbers (decimal items); answerOption is for choice items only (que-5), so an item's
            # fixed answers are stated in its text.
            items.append({"linkId": str(n), "text": text + range_text, "type": "decimal"})
        missing = "" if rule.item_labels else " Item wording is not shipped with hipext; items are numbered."
        description = (f"{rule.name}: {rule.items} items scored {rule.item_min:g}-{rule.item_max:g} "
                       f"({words(rule.method)}); missing items: {rule.missing_rule}.{missing}")
    else:
        items = [{"linkId": "activity", "text": "Activity you find hard, and how well you can do it (0-10)",
                  "type": "group", "repeats": True, "item": [
                      {"linkId": "activity.name", "text": "Activity", "type": "string"},
                      {"linkId": "activity.score", "text": "Score (0-10)", "type": "decimal"}]}]
        description = f"{proto.name}: each activity the person names, rated 0 (unable) to 10 (as before)."
    resource: Json = {"resourceType": "Questionnaire", "url": canonical, "version": b.version,
                      "name": "".join(w.capitalize() for w in proto.id.split("_")), "title": proto.name,
                      "status": "active", "subjectType": ["Patient"], "description": description,
                      "code": [b.test_coding(proto)], "item": items}
    return _add_once(b, canonical, known, resource)


def screening_questionnaire(b: Builder, known: dict[str, str] | None = None) -> str:
    """The screening questions hipext's rules read (history.red_flags), as yes/no items."""
    known = {} if known is None else known
    text = red_flag_text()
    items = [{"linkId": q, "text": text[q], "type": "boolean"} for q in sorted(red_flag_questions())]
    resource: Json = {"resourceType": "Questionnaire", "url": C.Q_SCREENING, "version": b.version,
                      "name": "HipextScreeningQuestions", "title": "Screening questions (red flags)",
                      "status": "active", "subjectType": ["Patient"],
                      "description": "Yes/no questions the screening rules read before any test or exercise.",
                      "item": items}
    return _add_once(b, C.Q_SCREENING, known, resource)
