"""Home sessions the patient logs through their link: each exercise's own entry (done, pain during, pain next
morning), the session as a whole, and the summaries the clinic reads (adherence, the follow-up form's prefill).

A rating belongs to what it was given for: an exercise's pain is that exercise's; a whole-session rating belongs to
no single exercise and is never copied into one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hipext.store.models import SessionLog

PAIN_HELP = "a number from 0 (no pain) to 10 (worst pain)"


def pain(raw: str | None, name: str, errors: dict[str, list[str]]) -> float | None:
    """A 0-10 pain rating typed by the patient; a bad one is named at its field."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        v = float(raw)
    except ValueError:
        v = -1
    if not 0 <= v <= 10:
        errors[name] = [PAIN_HELP]
        return None
    return v


def exercise_entries(form: dict[str, str], exercise_ids: list[str], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Each home exercise's entry from the log form (`ex.<id>.done`, `.pain_during`, `.pain_next_morning`); an
    exercise the patient said nothing about is left out."""
    out: dict[str, Any] = {}
    for ex in exercise_ids:
        pre = f"ex.{ex}."
        during = pain(form.get(pre + "pain_during"), pre + "pain_during", errors)
        morning = pain(form.get(pre + "pain_next_morning"), pre + "pain_next_morning", errors)
        done = form.get(pre + "done")
        if during is None and morning is None and done is None:
            continue
        out[ex] = {"completed": done in ("yes", "on"), "pain_during": during, "pain_next_morning": morning}
    return out


def worst(entries: dict[str, Any], field: str) -> float | None:
    """The highest rating of one kind across a session's exercises (the session's own summary)."""
    values = [e[field] for e in entries.values() if e.get(field) is not None]
    return max(values) if values else None


def adherence(logs: list[SessionLog], today: dt.date, planned_per_week: float | None) -> dict[str, Any]:
    last14 = [lg for lg in logs if (today - lg.date).days < 14 and lg.completed]
    done = len(last14)
    percent = round(100 * done / (2 * planned_per_week)) if planned_per_week else None
    weeks: dict[str, int] = {}
    for lg in logs:
        if lg.completed:
            wk = (lg.date - dt.timedelta(days=lg.date.weekday())).isoformat()
            weeks[wk] = weeks.get(wk, 0) + 1
    return {
        "done_14d": done,
        "planned_per_week": planned_per_week,
        "percent": percent,
        "weeks": weeks,
        "total": len(logs),
    }


def since(logs: list[SessionLog], day: dt.date | None) -> dict[str, Any]:
    """The patient's home sessions after `day` (the last visit): the session summary shown above the follow-up table
    and, per exercise, its own highest pains and the sessions it was done in (to prefill its row)."""
    recent = [lg for lg in logs if day is None or lg.date > day]
    if not recent:
        return {}
    during = [lg.pain_during for lg in recent if lg.pain_during is not None]
    morning = [lg.pain_next_morning for lg in recent if lg.pain_next_morning is not None]
    per: dict[str, dict[str, Any]] = {}
    for lg in recent:
        for ex, e in (lg.exercises_json or {}).items():
            mine = per.setdefault(ex, {"pain_during": None, "pain_next_morning": None, "sessions_done": 0})
            mine["sessions_done"] += 1 if e.get("completed") else 0
            for f in ("pain_during", "pain_next_morning"):
                if e.get(f) is not None:
                    mine[f] = max(mine[f], e[f]) if mine[f] is not None else e[f]
    return {
        "pain_during": max(during) if during else None,
        "pain_next_morning": max(morning) if morning else None,
        "sessions_done": sum(1 for lg in recent if lg.completed),
        "count": len(recent),
        "exercises": per,
    }
