"""Which patients need the clinician's attention, from what they logged at home. Pure: logs, the case and a date in,
flags out; the thresholds are the pain-monitoring model's (data/care/pain_monitoring.yaml), never literals here.

- pain during a session above the model's acceptable level (the stop zone);
- pain the next morning worse than the person's baseline (the model: it must settle back to baseline by morning);
- fewer sessions done in the last 14 days than the program plans (the window the adherence view uses).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from hipext.care import data

WINDOW_DAYS = 14  # the adherence window shown on the patient's timeline (services.adherence)


@dataclass(frozen=True)
class Flag:
    kind: Literal["pain_stop", "morning_worse", "missed_sessions"]
    date: dt.date | None
    text: str


def baseline_pain(case: dict[str, Any]) -> float | None:
    """The person's usual pain: the latest `pain_baseline` of an exercise response, else the latest NPRS at rest,
    else the latest NPRS of any context. None when the case has none."""
    visits = sorted(case.get("visits", []), key=lambda v: str(v.get("date")))
    for v in reversed(visits):
        for r in reversed(v.get("exercise_responses", [])):
            if r.get("pain_baseline") is not None:
                return float(r["pain_baseline"])
    nprs = [(str(v.get("date")), m) for v in visits for m in v.get("measurements", []) if m.get("test") == "nprs"
            and m.get("value") is not None]
    for preferred in (True, False):
        for _, m in reversed(nprs):
            if not preferred or m.get("context") == "at_rest":
                return float(m["value"])
    return None


def flags(logs: list[Any], *, case: dict[str, Any], planned_per_week: float | None, today: dt.date,
          since: dt.date | None = None) -> list[Flag]:
    """Flags for one patient. `logs` have date, completed, pain_during, pain_next_morning (SessionLog rows);
    `since` is when the home program started (its link was made): sessions are not missed before it."""
    model = data.pain_model()["model"]
    stop_above = float(model["acceptable_max"])
    recent = [lg for lg in logs if 0 <= (today - lg.date).days < WINDOW_DAYS]
    out: list[Flag] = []
    for lg in sorted(recent, key=lambda lg: lg.date, reverse=True):
        if lg.pain_during is not None and lg.pain_during > stop_above:
            out.append(Flag("pain_stop", lg.date, f"Pain {lg.pain_during:g}/10 during the session on {lg.date}: "
                                                  f"above {stop_above:g}/10, the stop zone of the pain model."))
    base = baseline_pain(case)
    if base is not None:
        for lg in sorted(recent, key=lambda lg: lg.date, reverse=True):
            if lg.pain_next_morning is not None and lg.pain_next_morning > base:
                out.append(Flag("morning_worse", lg.date,
                                f"Next-morning pain {lg.pain_next_morning:g}/10 after {lg.date}, worse than the "
                                f"baseline {base:g}/10: it had not settled (pain model)."))
    days = min(WINDOW_DAYS, (today - since).days) if since else WINDOW_DAYS
    if planned_per_week and days > 0:
        planned = round(planned_per_week * days / 7, 1)
        done = sum(1 for lg in recent if lg.completed)
        if done < planned:
            out.append(Flag("missed_sessions", None, f"{done} of {planned:g} planned sessions done in the last "
                                                     f"{days} days."))
    return out
