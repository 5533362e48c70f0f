"""Facts about a case that several care steps read: goals, involved side, irritability, deficits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hipext import evidence
from hipext.care import data
from hipext.care.models import Screening
from hipext.care.screening import norm
from hipext.care.stages import DAILY, goal_activity
from hipext.core.case import Case
from hipext.core.evaluation import Finding, Result

HAMSTRING_WORDS = ("hamstring", "posterior_thigh")
STRENGTH_KINDS = ("hhd", "isokinetic")


@dataclass
class CaseFacts:
    case: Case
    results: list[Result]
    findings: list[Finding]
    screening: Screening
    today: dt.date
    side: str | None = None
    activity: dict[str, Any] = field(default_factory=dict)
    sporty: bool = False
    hamstring_case: bool = False
    hamstring_irritable: bool = False
    gluteal_irritable: bool = False
    hamstring_deficit: bool = False
    gluteal_deficit: bool = False
    function_deficit: bool = False
    stairs_goal: bool = False
    walking_goal: bool = False
    sit_to_stand_goal: bool = False
    lumbar_substitution: bool = False
    latest_nprs: float | None = None
    strength_lsis: list[tuple[Result, float]] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)

    @property
    def latest(self) -> list[Result]:
        """Results of the most recent date, not blocked by screening."""
        if not self.results:
            return []
        last = max(r.date for r in self.results)
        blocked = set(self.screening.blocked_tests)
        return [r for r in self.results if r.date == last and r.test not in blocked]


def worse_than_norm(r: Result) -> bool:
    proto = evidence.load().protocols.get(r.test)
    if proto is None or r.norm.status is None:
        return False
    return (r.norm.status == "below" and proto.better == "higher") or (
        r.norm.status == "above" and proto.better == "lower")


def symmetry_percent(r: Result, side: str | None) -> float | None:
    """LSI of the involved side; with no involved side, the weaker side as a percentage of the stronger."""
    if side in ("left", "right"):
        return r.lsi_percent if r.side == side else None
    if r.asymmetry_percent is not None:
        return 100.0 - r.asymmetry_percent
    return None


def involved(r: Result, side: str | None) -> bool:
    return r.side is None or side in (None, "both", "none") or r.side == side


def facts(case: Case, results: list[Result], findings: list[Finding], screening: Screening,
          today: dt.date) -> CaseFacts:
    h = case.history
    f = CaseFacts(case=case, results=results, findings=findings, screening=screening, today=today)
    f.rules = {x.rule for x in screening.findings if x.decision != "proceed"}
    f.side = h.involved_side if h.involved_side in ("left", "right") else None
    goals = " ".join(norm(g) for g in case.patient.goals)
    f.activity = goal_activity(case)
    f.sporty = f.activity["id"] != DAILY
    f.stairs_goal = "stair" in goals or "climb" in goals
    f.walking_goal = any(w in goals for w in ("walk", "hike", "shops", "shopping"))
    f.sit_to_stand_goal = any(w in goals for w in ("chair", "stand_up", "get_up", "standing_up", "toilet"))
    terms = " ".join(norm(t) for t in h.conditions + h.presentation)
    procedure = norm(h.surgery.procedure) if h.surgery else ""
    f.hamstring_case = any(w in terms or w in procedure for w in HAMSTRING_WORDS)
    pain_zone = data.pain_model()["model"]
    f.hamstring_irritable = "acute_hamstring_strain" in f.rules or "proximal_hamstring_repair" in f.rules or (
        f.hamstring_case and screening.limits.hamstring_effort is not None)
    f.gluteal_irritable = "acute_gluteal_strain" in f.rules
    latest_visit = case.latest_visit
    pains = [m.value for m in (latest_visit.measurements if latest_visit else [])
             if m.test == "nprs" and m.value is not None]
    f.latest_nprs = max(pains) if pains else None
    if f.hamstring_case and f.latest_nprs is not None and f.latest_nprs > pain_zone["safe_max"]:
        f.hamstring_irritable = True
    f.lumbar_substitution = bool(latest_visit and "lumbar_extension_substitution" in latest_visit.observations)
    lsi_min = data.lsi()["min_percent"]
    protocols = evidence.load().protocols
    seen: set[tuple[str, str | None]] = set()
    for r in f.latest:
        proto = protocols.get(r.test)
        if proto is None:
            continue
        sym = symmetry_percent(r, f.side)
        key = (r.test, r.context)
        if sym is not None and key not in seen:
            seen.add(key)
            if proto.kind in STRENGTH_KINDS:
                f.strength_lsis.append((r, sym))
            if sym < lsi_min:
                if proto.bias == "gluteus_maximus":
                    f.gluteal_deficit = True
                elif proto.bias == "hamstrings" or (proto.kind in STRENGTH_KINDS and proto.knee_angle_deg == 0):
                    f.hamstring_deficit = True
                elif proto.bias == "hip_extensors":
                    f.gluteal_deficit = True
        if proto.bias == "gluteus_maximus" and worse_than_norm(r):
            f.gluteal_deficit = True
        if proto.bias == "whole_limb" and worse_than_norm(r):
            f.function_deficit = True
    return f
