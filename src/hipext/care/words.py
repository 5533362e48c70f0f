"""Case words and limit wording shared by screening and the care steps: normalised terms, and limits in words."""

from __future__ import annotations

import re
from typing import Any


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# Words that turn a recorded condition into a negative or past finding ("cauda_equina_ruled_out",
# "healed_stress_fracture", "history_of_septic_arthritis"); such entries do not trigger screening rules.
_NEGATING = {"no", "not", "ruled", "excluded", "resolved", "healed", "previous", "prior", "old", "history"}


def current(terms: list[str]) -> list[str]:
    return [t for t in terms if not _NEGATING & set(t.split("_"))]


def has_word(text: str, word: str) -> bool:
    """Whole-word match for short words (so 'tha' is not found in 'pathological'), substring for longer ones."""
    return word in text.split("_") if len(word) <= 4 else word in text


_POSITION_WORDS = {"supine": "lying flat on the back", "prone": "lying face down", "side_lying": "lying on the side",
                   "quadruped": "on hands and knees", "kneeling": "kneeling", "seated": "sitting",
                   "standing": "standing"}


def describe(limits: dict[str, Any]) -> str:
    words = {
        "hip_flexion_max_deg": lambda v: f"hip flexion no more than {v:g}°",
        "hip_adduction_max_deg": lambda v: "no hip adduction past neutral" if v == 0 else f"hip adduction up to {v:g}°",
        "hip_internal_rotation_max_deg": lambda v: "no hip internal rotation" if v == 0
        else f"internal rotation up to {v:g}°",
        "knee_flexion_min_deg": lambda v: f"knee kept bent at least {v:g}°",
        "hamstring_length": lambda v: "no hip flexion combined with knee extension (hamstrings not lengthened)"
        if v != "long" else None,
        "gluteal_length": lambda v: "no deep hip flexion under load (gluteals not lengthened)" if v != "long" else None,
        "eccentric": lambda v: "no eccentric loading" if v is False else None,
        "impact": lambda v: {"none": "no impact", "low": "low impact only (no sprinting or jumping)"}.get(v),
        "load": lambda v: "bodyweight only" if v == "bodyweight" else None,
        "balance": lambda v: {"none": "no standing balance tasks", "low": "stable, supported positions only"}.get(v),
        "weight_bearing": lambda v: {"none": "non-weight-bearing", "partial": "partial weight bearing"}.get(v),
        "hamstring_effort": lambda v: {"none": "no resisted hamstring work",
                                       "submaximal": "no maximal hamstring effort"}.get(v),
        "gluteal_effort": lambda v: {"none": "no resisted gluteal work",
                                     "submaximal": "no maximal gluteal effort"}.get(v),
        "effort": lambda v: "no maximal effort" if v == "submaximal" else None,
        "resisted": lambda v: "no resisted hip extension" if v is False else None,
        "supervised": lambda v: "supervised only" if v else None,
        "hip_extension_max_deg": lambda v: "no hip extension past neutral" if v == 0
        else f"hip extension up to {v:g}°",
        "hip_external_rotation_max_deg": lambda v: "no hip external rotation (leg turned out)" if v == 0
        else f"external rotation up to {v:g}°",
        "positions_excluded": lambda v: "not " + " or ".join(_POSITION_WORDS[p] for p in v),
        "abductor_load": lambda v: {"none": "no hip abductor work",
                                    "stabilising": "no active or resisted hip abduction exercise"}.get(v),
        "ischial_compression": lambda v: {
            "none": "no hip flexion under hamstring load", "low": "hamstring tendon compression kept low "
            "(little hip flexion under load, no hamstring stretching)",
            "moderate": "no deep hip flexion under hamstring load and no hamstring stretching"}.get(v),
        "lateral_hip_compression": lambda v: {
            "none": "no side-lying or single-leg loading of the outer hip",
            "low": "no hip adduction across the midline and no side-lying loading",
            "moderate": "no hip adduction across the midline"}.get(v),
        "single_leg_stance": lambda v: "no exercise standing on one leg" if v is False else None,
    }
    parts = [words[k](v) for k, v in limits.items() if k in words and v is not None]
    return "; ".join(p for p in parts if p)
