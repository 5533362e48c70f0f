"""Measurement arithmetic: trial summaries, torque, normalisation and side-to-side comparison. Pure functions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

# Standard gravity (m/s^2), a defined constant used to express body mass as body weight.
STANDARD_GRAVITY = 9.80665


def summarize_trials(trials: Sequence[float]) -> tuple[float, float, float | None]:
    """Best, mean and coefficient of variation (%) of repeated maximal trials.

    The best trial is the reported value, as in hand-held dynamometry practice; the CV is None for a single trial.
    """
    if not trials:
        raise ValueError("trials: got an empty list; expected at least one trial")
    best = max(trials)
    mean = statistics.fmean(trials)
    cv = sample_sd(trials) / mean * 100 if len(trials) > 1 and mean > 0 else None
    return best, mean, cv


def sample_sd(values: Sequence[float]) -> float:
    """``statistics.stdev`` of finite ints and floats, the same float to the last bit, several times faster.

    The standard library computes the exact sample variance with Fractions and then its correctly rounded square
    root; this computes the same exact variance with integers (every float is an integer over a power of two, so
    the largest denominator is a common one) and hands the same reduced fraction to the same root. Anything else
    (Decimals, numpy numbers, inf, nan) goes to ``statistics.stdev`` itself.
    """
    root = getattr(statistics, "_float_sqrt_of_frac", None)
    if root is None or len(values) < 2 or not all(
            type(v) is int or (type(v) is float and math.isfinite(v)) for v in values):
        return statistics.stdev(values)
    ratios = [v.as_integer_ratio() for v in values]
    common = max(den for _, den in ratios)
    xs = [num * (common // den) for num, den in ratios]
    n = len(xs)
    num, den = n * sum(x * x for x in xs) - sum(xs) ** 2, n * (n - 1) * common * common
    g = math.gcd(num, den)
    return float(root(num // g, den // g))


def torque_nm(*, force_n: float, lever_arm_m: float) -> float:
    """Joint torque (N m) from the force at the pad and its distance from the joint centre."""
    return force_n * lever_arm_m


def per_kg(value: float, body_mass_kg: float) -> float:
    return value / body_mass_kg


def percent_body_weight(force_n: float, body_mass_kg: float) -> float:
    """Force as % of body weight (mass x standard gravity)."""
    return force_n / (body_mass_kg * STANDARD_GRAVITY) * 100


def lsi_percent(*, involved: float, uninvolved: float, better: Literal["higher", "lower"] = "higher") -> float:
    """Limb symmetry index: involved / uninvolved x 100, so below 100 always means the involved side is worse.

    For tests where lower is better (times), the ratio is inverted so the reading stays the same.
    """
    if involved <= 0 or uninvolved <= 0:
        raise ValueError(f"LSI needs positive values; got involved={involved}, uninvolved={uninvolved}")
    ratio = involved / uninvolved if better == "higher" else uninvolved / involved
    return ratio * 100


def asymmetry_percent(a: float, b: float) -> float:
    """(larger - smaller) / larger x 100: side-to-side difference when no single side is involved."""
    hi, lo = max(a, b), min(a, b)
    if hi <= 0:
        raise ValueError(f"asymmetry needs a positive value; got {a} and {b}")
    return (hi - lo) / hi * 100


_MMT_STEPS = {"-": -1 / 3, "": 0.0, "+": 1 / 3}


def mmt_ordinal(grade: str) -> float:
    """MRC grade as an ordinal number (4- < 4 < 4+), for ordering only: never for ratios or LSI."""
    base, mod = grade[0], grade[1:]
    return int(base) + _MMT_STEPS[mod]


def rounded(x: float | None, digits: int = 1) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x, digits)
