"""Words for a dose, computed from its typed values: the clinician's wording and the patient's plain version.

Nothing here is a clinical number: every value comes from the dose; only unit arithmetic (60 s in a minute) is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the models import this module for their computed wording
    from hipext.care.models import Dose, PrescribedExercise

SECONDS_PER_MINUTE = 60  # unit conversion


def _words() -> dict[str, Any]:
    from hipext.care import data  # lazy: data imports the models, which import this module

    return dict(data.education()["dose"])


def duration(seconds: int) -> str:
    """'45 seconds', '2 minutes', '1 minute 30 seconds'."""
    minutes, rest = divmod(seconds, SECONDS_PER_MINUTE)
    parts = []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if rest or not minutes:
        parts.append(f"{rest} second{'s' if rest != 1 else ''}")
    return " ".join(parts)


def load(d: Dose) -> str:
    if d.load_kind == "bodyweight":
        return "Body weight"
    if d.load_kg is not None:
        return f"{d.load_kg:g} kg" + (f" (about a {d.load_rm} RM load)" if d.load_rm else "")
    if d.load_change_percent is not None:
        return f"Weight used last time {d.load_change_percent:+g}%"
    if d.load_rm is not None:
        return f"{d.load_rm} RM: a weight lifted about {d.load_rm} times"
    return "Light external load, moved fast"


def effort(d: Dose) -> str:
    if d.effort_max is not None:
        return f"Effort at most {d.effort_max}/10"
    if d.fast:
        return "Fast, high-quality repetitions; stop when speed or form drops"
    if d.reps_in_reserve is not None:
        return f"Stop each set with {d.reps_in_reserve} repetitions in reserve"
    return "Comfortable pace: able to talk"


def rest(d: Dose) -> str:
    return f"{duration(d.rest_s)} between sets" if d.rest_s is not None else "As needed"


def frequency(d: Dose) -> str:
    return f"{d.sessions_per_week} sessions a week"


def _volume(d: Dose) -> str:
    if d.minutes is not None:
        return f"{d.sets} x {d.minutes} min"
    if d.hold_s is not None:
        return f"{d.sets} x {d.reps} holds of {d.hold_s} s"
    return f"{d.sets} x {d.reps}"


def summary(d: Dose) -> str:
    """The whole dose on one line for a clinician: volume, load, tempo, effort, rest, frequency."""
    parts = [_volume(d), load(d)]
    if d.tempo_lowering_s is not None:
        parts.append(f"{d.tempo_lowering_s} s lowering")
    parts += [effort(d), rest(d), frequency(d)]
    return "; ".join(parts)


def plain(d: Dose) -> str:
    """The dose in the patient's words: no percentages of a maximum, no rating-scale names, each unit once."""
    w = _words()
    sets_word = "set" if d.sets == 1 else "sets"
    if d.minutes is not None:
        parts = [w["walk"].format(minutes=d.minutes), w["walk_effort"]]
    else:
        if d.hold_s is not None:
            parts = [w["holds"].format(sets=d.sets, sets_word=sets_word, reps=d.reps, hold=duration(d.hold_s))]
        else:
            parts = [w["sets_reps"].format(sets=d.sets, sets_word=sets_word, reps=d.reps)]
        if d.load_kind == "external":
            if d.load_kg is not None:
                parts.append(w["weight_kg"].format(kg=f"{d.load_kg:g}"))
            elif d.load_change_percent is not None:
                key = "weight_heavier" if d.load_change_percent > 0 else "weight_lighter"
                parts.append(w[key].format(percent=f"{abs(d.load_change_percent):g}"))
            elif d.load_rm is not None:
                parts.append(w["weight_rm"].format(rm=d.load_rm))
            else:
                parts.append(w["weight_light"])
        if d.tempo_lowering_s is not None:
            parts.append(w["tempo"].format(seconds=d.tempo_lowering_s))
        if d.effort_max is not None:
            parts.append(w["effort_cap"].format(n=d.effort_max))
        elif d.fast:
            parts.append(w["fast"])
        elif d.reps_in_reserve is not None:
            parts.append(w["reserve"].format(n=d.reps_in_reserve))
        if d.rest_s is not None and d.sets > 1:
            parts.append(w["rest"].format(time=duration(d.rest_s)))
    parts.append(w["frequency"].format(n=d.sessions_per_week))
    text = ", ".join(p for p in parts if p)
    return text[0].upper() + text[1:] + "."


def instructions(ex: PrescribedExercise) -> str:
    """Dose and how, as the patient reads them; exercises needing the therapist say so."""
    parts = [plain(ex.dose)]
    if ex.how:
        parts.append(ex.how.strip())
    if ex.supervision == "with_therapist":
        parts.append(_words()["with_therapist"])
    return " ".join(parts)


def exercise_text(ex: PrescribedExercise) -> str:
    return f"{ex.name}: {instructions(ex)}"
