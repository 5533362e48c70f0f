"""Aftercare and alternatives: a maintenance plan at discharge and 'consider' notes. Considerations, never orders."""

from __future__ import annotations

from typing import Any

from hipext.care import data
from hipext.care.context import CaseFacts
from hipext.care.models import Aftercare, Consideration, Screening
from hipext.care.screening import norm


def _holds(when: dict, f: CaseFacts) -> bool:
    h = f.case.history
    terms = [norm(t) for t in h.conditions + h.presentation]
    pain = data.pain_model()["model"]
    visit = f.case.latest_visit
    for key, want in when.items():
        if key == "terms" and not any(w in t for w in want for t in terms):
            return False
        if key == "no_progress":
            changed = [r for r in f.latest if r.change is not None and r.change.verdict != "not_comparable"]
            better = [r for r in changed if r.change and r.change.verdict == "real_change"
                      and r.change.direction == "better"]
            if not (changed and not better) == want:
                return False
        if key == "pain_limiting":
            high = f.latest_nprs is not None and f.latest_nprs > pain["safe_max"]
            high = high or any(r.pain_during is not None and r.pain_during > pain["acceptable_max"]
                               for r in (visit.exercise_responses if visit else []))
            if high != want:
                return False
        if key == "has_medications" and bool(h.medications) != want:
            return False
        if key == "spine_signs":
            slump = any(m.test == "slump_test" and m.result == "positive"
                        for v in f.case.visits for m in v.measurements)
            back = any("back" in t or "lumbar" in t for t in terms)
            spine = slump or back or f.lumbar_substitution
            if spine != want:
                return False
        if key == "no_surgery" and (h.surgery is None) != want:
            return False
        if key == "rule" and want not in f.rules:
            return False
    return True


def allowed(consideration: dict[str, Any], screening: Screening) -> bool:
    """Screening binds aftercare as it binds the program: a consideration a fired rule makes unsafe or
    contradictory (`stops`), or one that only fits decisions other than screening's, is never suggested."""
    if consideration["id"] in screening.stopped_considerations:
        return False
    return screening.decision in consideration.get("decisions", DEFAULT_DECISIONS)


# Considerations assume the person is being treated; after a referral or deferral the medical step comes first.
DEFAULT_DECISIONS = ("proceed", "modify")


def aftercare(f: CaseFacts) -> Aftercare:
    cfg = data.aftercare()
    mt = cfg["maintenance"]
    items = list(mt["items"])
    lo, hi = mt["sessions_per_week"]
    items.insert(0, f"At discharge: keep {lo}-{hi} sessions a week of the final program (clinical default).")
    cons = [Consideration(id=c["id"], kind=c["kind"], consider=c["consider"], reason=c["reason"],
                          sources=list(c["sources"]), level=c["level"])
            for c in cfg["considerations"] if allowed(c, f.screening) and _holds(c["when"], f)]
    if f.screening.limits.block_all:
        items = ["No maintenance plan yet: screening asked for medical assessment or deferral first."]
    return Aftercare(maintenance=items, considerations=cons, level=mt["level"],
                     sources=[mt["source"], *mt["sources"]],
                     note="Considerations for the clinician, never orders. " + mt["note"])
