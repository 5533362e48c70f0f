"""Screening: runs first and binds everything after it.

Rules are data (`data/care/screening_rules.yaml`); post-operative defaults are data (`precautions.yaml`); the
surgeon's restrictions in the case file override the defaults of the same kind. The merged limits decide, through
one generic filter, which tests and exercises are blocked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hipext import evidence
from hipext.care import data
from hipext.care.limits import merge, violations
from hipext.care.models import DECISION_ORDER, Alternative, Limits, Phase, Screening, ScreeningFinding
from hipext.care.postop import postop_limits, stricter_phase
from hipext.care.words import current, describe, has_word, norm
from hipext.core.case import Case

# Resting vital-sign triggers (latest visit): trigger key -> (vitals field, comparison with the rule's threshold).
_VITAL_TESTS: dict[str, tuple[str, Any]] = {
    "systolic_at_least": ("systolic_mmhg", lambda v, t: v >= t),
    "diastolic_at_least": ("diastolic_mmhg", lambda v, t: v >= t),
    "systolic_above": ("systolic_mmhg", lambda v, t: v > t),
    "diastolic_above": ("diastolic_mmhg", lambda v, t: v > t),
    "heart_rate_above": ("heart_rate_bpm", lambda v, t: v > t),
    "spo2_below": ("spo2_percent", lambda v, t: v < t),
}


class _Context:
    """What the rules look at, read once from the case."""

    def __init__(self, case: Case, today: dt.date) -> None:
        h = case.history
        self.case = case
        self.today = today
        self.flags = {norm(k) for k, v in h.red_flags.items() if v}
        self.terms = current([norm(t) for t in h.conditions + h.presentation])
        self.comorbid = current([norm(t) for t in h.comorbidities + h.conditions])
        self.procedure = norm(h.surgery.procedure) if h.surgery else None
        latest = case.latest_visit
        pains = [m.value for m in (latest.measurements if latest else []) if m.test == "nprs" and m.value is not None]
        self.nprs = max(pains) if pains else None
        self.onset = h.onset.date if h.onset else None
        self.mechanism = norm(h.onset.mechanism) if h.onset and h.onset.mechanism else ""
        self.age = case.patient.age
        self.growth_plates = h.growth_plates
        vitals = latest.vitals if latest else None
        self.vitals = vitals.model_dump() if vitals else {}
        self.pregnancy = h.pregnancy
        self.responses = latest.exercise_responses if latest else []

    def _tolerated(self) -> bool:
        """The latest visit's exercise responses show the load was tolerated (pain-monitoring model): every exercise
        done, pain during it within the acceptable zone, and back to baseline by the next morning."""
        zone = data.pain_model()["model"]["acceptable_max"]
        rated = [r for r in self.responses if r.pain_during is not None]
        return bool(rated) and all(
            r.completed and r.pain_during is not None and r.pain_during <= zone
            and (r.pain_next_morning is None or r.pain_baseline is None or r.pain_next_morning <= r.pain_baseline)
            for r in rated)

    def _vital(self, name: str) -> float | None:
        value = self.vitals.get(name)
        return float(value) if value is not None else None

    def _immature(self, age_max: float) -> bool:
        """Growth plates open, or not known to be closed at an age up to the apophyses' published fusion age."""
        if self.growth_plates == "closed":
            return False
        return self.growth_plates == "open" or self.age <= age_max

    def _weeks(self, field: str) -> float | None:
        return getattr(self.pregnancy, field) if self.pregnancy else None

    def holds(self, item: dict[str, Any]) -> bool:
        for key, want in item.items():
            if key in ("source", "level", "note"):
                continue
            if key == "red_flags" and not all(norm(k) in self.flags for k in want):
                return False
            if key == "terms" and not any(t in x for t in want for x in self.terms):
                return False
            if key == "comorbidities" and not any(t in x for t in want for x in self.comorbid):
                return False
            if key == "procedure" and not (
                self.procedure and any(all(has_word(self.procedure, w) for w in g) for g in want)):
                return False
            if key == "surgery" and self.procedure is None:
                return False
            if key == "nprs_above" and not (self.nprs is not None and self.nprs > want):
                return False
            if key == "onset_within_days" and not (
                self.onset is not None and 0 <= (self.today - self.onset).days <= want):
                return False
            if key == "not_red_flags" and any(norm(k) in self.flags for k in want):
                return False
            if key == "not_terms" and any(t in x for t in want for x in self.terms):
                return False
            if key == "mechanism" and not any(has_word(self.mechanism, w) for w in want):
                return False
            if key == "immature_age_max" and not self._immature(want):
                return False
            if key in _VITAL_TESTS:
                name, test = _VITAL_TESTS[key]
                value = self._vital(name)
                if value is None or not test(value, want):
                    return False
            if key == "weeks_pregnant_at_least" and not ((w := self._weeks("weeks_pregnant")) is not None
                                                         and w >= want):
                return False
            if key == "weeks_postpartum_below" and not ((w := self._weeks("weeks_postpartum")) is not None
                                                        and w < want):
                return False
            if key == "loading_tolerated" and self._tolerated() != want:
                return False
            if key == "pelvic_girdle_pain" and not (self.pregnancy and self.pregnancy.pelvic_girdle_pain) == want:
                return False
        return True

    def measured(self, rule: dict[str, Any]) -> str:
        """The recorded values a vital-sign rule read, for its reason."""
        keys = {k for t in rule.get("triggers", []) for k in t if k in _VITAL_TESTS}
        if not keys or not self.vitals:
            return ""
        v = self.vitals
        parts = []
        if v.get("systolic_mmhg") is not None:
            parts.append(f"blood pressure {v['systolic_mmhg']}/{v['diastolic_mmhg']} mm Hg")
        if v.get("heart_rate_bpm") is not None:
            parts.append(f"heart rate {v['heart_rate_bpm']}/min")
        if v.get("spo2_percent") is not None:
            parts.append(f"SpO2 {v['spo2_percent']:g}%")
        return " Recorded at rest: " + ", ".join(parts) + "."

    def fires(self, rule: dict[str, Any]) -> bool:
        if not any(self.holds(t) for t in rule.get("triggers", [])):
            return False
        return not any(self.holds(u) for u in rule.get("unless", []))


_ALTERNATIVE_TEXT = {
    "isometrics": "Pain-free, submaximal isometrics (holding still) for the hip extensors.",
    "positioning": "Positioning changes that reduce symptoms and compensation, e.g. knee bent to bias gluteus "
                   "maximus, supported or lying positions.",
    "reduced_range": "Reduced range-of-motion tasks that stay inside the active limits.",
    "adjacent_region": "Adjacent-region conditioning within limits: trunk, the other leg, knee and ankle, upper body.",
    "monitoring": "Exertional testing or training only with appropriate monitoring.",
}


def _alternatives(kinds: list[str], blocked: set[str], limits: Limits) -> list[Alternative]:
    lib = data.exercises()
    out = []
    for kind in kinds:
        fits: list[str] = []
        if not limits.block_all:
            for ex in lib.values():
                if ex.id in blocked:
                    continue
                if kind == "isometrics" and ex.tags.contraction == "isometric":
                    fits.append(ex.id)
                elif kind == "positioning" and ex.tags.knee == "flexed" and ex.demands.weight_bearing != "full" \
                        and "protect" in ex.phases:
                    fits.append(ex.id)
                elif kind == "reduced_range" and ex.tags.contraction != "isometric" and "restore" in ex.phases \
                        and ex.demands.load == "bodyweight" and ex.demands.impact == "none":
                    fits.append(ex.id)
        out.append(Alternative(kind=kind, description=_ALTERNATIVE_TEXT[kind], exercises=fits[:6],
                               sources=["hipext_seed"]))
    return out


def screen(case: Case, *, today: dt.date) -> Screening:
    """Decide what must not be done before anything is interpreted or prescribed."""
    ctx = _Context(case, today)
    findings: list[ScreeningFinding] = []
    parts: list[tuple[str, dict[str, Any]]] = []
    alt_kinds: list[str] = []
    procedure_matched = False
    all_rules = data.rules()
    for rule in [r for r in all_rules if not r.get("fallback")] + [r for r in all_rules if r.get("fallback")]:
        if rule.get("fallback") and procedure_matched:
            continue
        if not ctx.fires(rule):
            continue
        if rule.get("precautions") or rule.get("fallback"):
            procedure_matched = True
            limits, finding = postop_limits(rule, case, today)
            findings.append(finding)
            if limits:
                parts.append((rule["id"], limits))
        else:
            limits = dict(rule.get("limits") or {})
            detail = describe({k: v for k, v in limits.items() if k != "block_all"})
            action = rule["action"] + (f" Active limits: {detail}." if detail and not limits.get("block_all") else "")
            findings.append(ScreeningFinding(rule=rule["id"], decision=rule["decision"], action=action,
                                             reason=rule["reason"] + ctx.measured(rule),
                                             sources=list(rule["sources"]), level=rule["level"],
                                             max_phase=rule.get("max_phase"), plain=rule.get("plain", "")))
            parts.append((rule["id"], limits))
        if findings[-1].decision != "proceed":
            alt_kinds += [k for k in rule.get("alternatives", []) if k not in alt_kinds]
    decision = max((f.decision for f in findings), key=DECISION_ORDER.index, default="proceed")
    active = merge(parts)
    if decision in ("defer", "refer", "refer_urgent") and not active.block_all:
        active = active.model_copy(update={"block_all": True})

    lib = data.exercises()
    blocked_ex = {ex.id for ex in lib.values() if violations(ex.demands, active)}
    tests = data.test_demands()
    safe = data.nonphysical_tests()
    any_limit = active.block_all or any(
        getattr(active, n) is not None for n in Limits.model_fields if n not in ("block_all", "supervised", "why"))
    blocked_t: set[str] = set()
    for tid in evidence.load().protocols:
        if tid in safe:
            continue
        if tid in tests:
            if violations(tests[tid], active):
                blocked_t.add(tid)
        elif any_limit:  # a test with no declared demands is blocked whenever any limit is active
            blocked_t.add(tid)
    shared = set(lib) & (set(evidence.load().protocols) | set(tests))
    by_id_only = 0
    for sid in shared:  # one id, two meanings: block both so no output can be ambiguous
        if sid in blocked_ex or sid in blocked_t:
            by_id_only += (sid not in blocked_ex)
            blocked_ex.add(sid)
            blocked_t.add(sid)

    if decision == "defer":
        alt_kinds = [k for k in ("positioning", "adjacent_region") if k not in alt_kinds] + alt_kinds
        alt_kinds = [k for k in alt_kinds if k in ("positioning", "adjacent_region")]
    if decision in ("refer", "refer_urgent"):
        alt_kinds = []
    alternatives = _alternatives(alt_kinds, blocked_ex, active)

    rules_text = ", ".join(f.rule for f in findings if f.decision != "proceed") or "none"
    summary = {
        "proceed": "Proceed: no screening rule limits testing or exercise.",
        "modify": f"Modify: testing and exercise stay inside the limits set by {rules_text}.",
        "defer": f"Defer: hip extensor testing and exercise wait until medically stable ({rules_text}).",
        "refer": f"Refer: medical assessment first; nothing physical is tested or prescribed ({rules_text}).",
        "refer_urgent": f"Urgent referral: same-day medical assessment; nothing tested or prescribed ({rules_text}).",
    }[decision]
    summary += f" {len(blocked_ex)} of {len(lib)} library exercises and {len(blocked_t)} tests are blocked."
    if by_id_only:
        summary += (f" {by_id_only} exercise(s) are blocked only because they share an id with a blocked test; "
                    "the clinician may still judge them safe.")
    sources: list[str] = []
    for f in findings:
        sources += [s for s in f.sources if s not in sources]
    acting = [f for f in findings if f.decision != "proceed"]
    max_phase: Phase | None = None
    for f in acting:
        max_phase = stricter_phase(max_phase, f.max_phase)
    by_id = {r["id"]: r for r in all_rules}
    stopped = sorted({c for f in acting for c in by_id.get(f.rule, {}).get("stops", [])})
    return Screening(
        decision=decision, findings=findings, blocked_tests=sorted(blocked_t), blocked_exercises=sorted(blocked_ex),
        alternatives=alternatives, limits=active, summary=summary, sources=sources, max_phase=max_phase,
        stopped_considerations=stopped)
