"""Post-operative limits: the procedure's default precautions by time since surgery, the early post-operative
weeks, then the surgeon's explicit restrictions, which override defaults of the same kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hipext.care import data
from hipext.care.limits import merge
from hipext.care.models import PHASE_ORDER, Phase, ScreeningFinding
from hipext.care.words import describe, norm
from hipext.core.case import Case, Restriction

# How a surgeon's restriction in the case file maps onto demand limits (case vocabulary, not clinical numbers).
_WEIGHT_BEARING = {
    "none": "none", "nwb": "none", "non_weight_bearing": "none", "non_weightbearing": "none",
    "toe_touch": "partial", "ttwb": "partial", "tdwb": "partial", "touch_down": "partial", "partial": "partial",
    "pwb": "partial", "partial_weight_bearing": "partial", "full": "full", "fwb": "full", "wbat": "full",
    "as_tolerated": "full", "weight_bearing_as_tolerated": "full",
}
_RELEASING = ("false", "no", "allowed", "lifted", "none")


def restriction_limits(r: Restriction) -> dict[str, Any]:
    """Limit mapping for one surgeon's restriction; value False / 'allowed' lifts a default of that kind."""
    v = r.value
    text = norm(v) if isinstance(v, str) else v
    if r.kind == "knee_extension_with_hip_flexion":  # value says whether the combination is allowed
        lifted = text is True or text in ("allowed", "yes", "true")
    else:  # no_* kinds: value False / 'lifted' / 'allowed' means the surgeon allows it
        lifted = text is False or text in _RELEASING
    if r.kind.endswith("_max_deg"):
        return {r.kind: float(v)} if isinstance(v, (int, float)) and not isinstance(v, bool) else {}
    if r.kind == "weight_bearing":
        key = norm(str(v)) if v is not None else "partial"
        return {"weight_bearing": _WEIGHT_BEARING.get(key, "partial")}
    table: dict[str, dict[str, Any]] = {
        "knee_extension_with_hip_flexion": {"hamstring_length": "neutral"},
        "no_resisted_hamstring": {"hamstring_effort": "none"},
        "no_resisted_hip_extension": {"resisted": False, "hamstring_effort": "none", "gluteal_effort": "none"},
        "no_eccentric": {"eccentric": False},
        "no_impact": {"impact": "none"},
        "no_maximal_testing": {"effort": "submaximal", "hamstring_effort": "submaximal",
                               "gluteal_effort": "submaximal"},
        "no_prone": {"positions_excluded": ["prone"]},
    }
    mapping = table[r.kind]
    if lifted:
        return {k: None for k in mapping}  # surgeon allows it: removes the default
    return dict(mapping)



def _weeks(days: int) -> str:
    return f"{days / 7:.1f}".rstrip("0").rstrip(".")


def postop_limits(rule: dict[str, Any], case: Case, today: dt.date) -> tuple[dict[str, Any], ScreeningFinding]:
    """Limits and finding for a post-operative rule: defaults by time since surgery, then the surgeon's orders."""
    s = case.history.surgery
    assert s is not None
    days = (today - s.date).days
    sources = list(rule["sources"])
    level = rule["level"]
    if days < 0:
        return {}, ScreeningFinding(
            rule=rule["id"], decision="proceed", action="Surgery is planned, not done; re-screen after it.",
            reason=f"Surgery date {s.date} is after {today}.", sources=sources, level=level)
    week = days / 7
    defaults: dict[str, Any] = {}
    when = ""
    rec = data.precautions().get(rule.get("precautions", ""))
    if rec is not None and "phases" in rec:
        sources.append(rec["source"])
        for ph in rec["phases"]:
            if ph["from_week"] <= week < ph["until_week"]:
                defaults = dict(ph["limits"])
                sources.append(ph["source"])
                level = ph["level"]
                when = f"{ph['name']}, week {_weeks(days)} after surgery"
        if not defaults:
            when = f"week {_weeks(days)}: past the example protocol phases"
    elif rec is not None:
        weeks = s.restrictions_weeks if s.restrictions_weeks is not None else rec["default_weeks"]
        basis = "surgeon's stated period" if s.restrictions_weeks is not None else "default period, upper end"
        sources.append(rec["source"])
        end = s.date + dt.timedelta(weeks=weeks)
        if week < weeks:
            defaults = dict(rec["limits"])
            when = f"week {_weeks(days)} of {weeks} ({basis}), until {end}"
        else:
            when = f"week {_weeks(days)}: past the {weeks}-week precaution period ({basis}); some surgeons keep them"
    early = data.precautions().get("early_postoperative")
    early_phase = None
    if early is not None and week < early["until_week"]:
        extra = early["unlisted_limits"] if rec is None and not s.restrictions else {}
        defaults = merge([("procedure", defaults), ("early", early["limits"]), ("unlisted", extra)]).model_dump(
            exclude_none=True, exclude={"why", "block_all", "supervised"})
        sources.append(early["source"])
        early_phase = early.get("max_phase")
        when += ("; " if when else "") + f"early post-operative weeks (to week {early['until_week']:g})"
    # The surgeon's explicit restrictions override defaults of the same kind.
    explicit: dict[str, Any] = {}
    for r in s.restrictions:
        if r.until is not None:
            active = today <= r.until
        elif s.restrictions_weeks is not None:
            active = week < s.restrictions_weeks
        else:
            active = True
        if active:
            explicit.update(restriction_limits(r))
    merged = {**defaults, **explicit}
    merged = {k: v for k, v in merged.items() if v is not None}
    if explicit:
        when += ("; " if when else "") + "surgeon's restrictions applied"
    if not merged:
        horizon = _longest_default_weeks()
        if rec is None and not s.restrictions and week >= horizon:
            return {}, ScreeningFinding(
                rule=rule["id"], decision="proceed",
                action="No restrictions recorded; confirm with the surgeon that none remain.",
                reason=(f"Surgery ('{s.procedure}') was {_weeks(days)} weeks ago, beyond the longest default "
                        f"precaution period in hipext's evidence files ({horizon:g} weeks)."),
                sources=sources, level=level)
        if rec is None and not s.restrictions:
            return {}, ScreeningFinding(
                rule=rule["id"], decision="modify",
                action="Obtain the surgeon's restrictions before loading the operated region.",
                reason=f"{rule['reason']} No restrictions are recorded for '{s.procedure}'.",
                sources=sources, level=level, max_phase=rule.get("max_phase"))
        return {}, ScreeningFinding(
            rule=rule["id"], decision="proceed",
            action="No post-operative limits are active; confirm with the surgeon.",
            reason=f"{rule['name']}: {when}.", sources=sources, level=level)
    action = rule["action"]
    if rec is None and not s.restrictions:
        action = "Obtain the surgeon's restrictions; until they are entered, conservative early limits apply."
    return merged, ScreeningFinding(
        rule=rule["id"], decision="modify",
        action=f"{action} Active limits: {describe(merged)}.",
        reason=f"{rule['reason']} ({when}).", sources=sorted(set(sources), key=sources.index), level=level,
        max_phase=stricter_phase(early_phase, rule.get("max_phase")))


def stricter_phase(a: Phase | None, b: Phase | None) -> Phase | None:
    """The lower of two phase ceilings (None: no ceiling)."""
    caps = [p for p in (a, b) if p is not None]
    return min(caps, key=PHASE_ORDER.index) if caps else None


def _longest_default_weeks() -> float:
    weeks = [0.0]
    for rec in data.precautions().values():
        weeks.append(rec.get("default_weeks", 0))
        weeks += [ph["until_week"] for ph in rec.get("phases", [])]
    return max(weeks)
