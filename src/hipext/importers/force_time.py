"""Force-time traces: find each repetition, then its onset, peak, time to peak, rate of force development and impulse.

Pure numpy on arrays in SI units (s, N). The method settings come from `data/importers/force_time.yaml`, each with
its source: onset at 2.5 % of the baseline-to-peak amplitude (Andersen and Aagaard 2006) unless the user picks a
baseline-SD or fixed-newton threshold; RFD as the mean slope over 0-50, 0-100 and 0-200 ms from onset (Maffiuletti
et al. 2016). The trace is not filtered: filter on the device if it needs it, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from hipext.core.case import RepetitionMetrics

OnsetKind = Literal["percent_of_peak", "baseline_sd", "newtons"]


@cache
def settings() -> dict[str, Any]:
    from hipext.evidence import read_yaml

    return dict(read_yaml("importers/force_time.yaml"))


@dataclass(frozen=True)
class Onset:
    """How contraction onset is found: a threshold above the resting baseline."""

    kind: OnsetKind
    value: float

    @classmethod
    def default(cls) -> Onset:
        kind = settings()["onset"]["default"]
        return cls(kind, float(settings()["onset"]["methods"][kind]["percent"]))

    @classmethod
    def parse(cls, text: str) -> Onset:
        """'percent:2.5', 'sd:3' or 'newtons:10'; raises ValueError naming what was expected."""
        kinds = {"percent": "percent_of_peak", "sd": "baseline_sd", "newtons": "newtons"}
        name, _, number = text.partition(":")
        try:
            value = float(number)
        except ValueError:
            value = float("nan")
        if name not in kinds or not value > 0:
            raise ValueError(f"--onset: got {text!r}; expected percent:P, sd:K or newtons:N with a positive number "
                             "(default percent:2.5, Andersen and Aagaard 2006)")
        return cls(kinds[name], value)  # type: ignore[arg-type]

    def describe(self) -> str:
        unit = {"percent_of_peak": "% of the baseline-to-peak amplitude", "baseline_sd": " SD of the baseline",
                "newtons": " N"}[self.kind]
        source = settings()["onset"]["methods"][self.kind]["source"]
        return f"onset at baseline + {self.value:g}{unit} [{source}]"


@dataclass(frozen=True)
class Trace:
    time_s: np.ndarray
    force_n: np.ndarray

    @property
    def sample_rate_hz(self) -> float:
        return float(1 / np.median(np.diff(self.time_s)))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs in mask, stop exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def repetitions(trace: Trace) -> list[tuple[int, int]]:
    """Index ranges of the efforts in a trace: net force above a share of the largest, near runs merged."""
    seg = settings()["segmentation"]
    f = trace.force_n
    floor = float(np.percentile(f, seg["floor_percentile"]))  # resting level, robust to the efforts themselves
    top = float(f.max()) - floor
    if top <= 0:
        return []
    runs = _runs(f - floor > top * seg["repetition_threshold_percent"] / 100)
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and trace.time_s[start] - trace.time_s[merged[-1][1] - 1] < seg["merge_gap_s"]:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def _crossing(t: np.ndarray, f: np.ndarray, i: int, level: float) -> float:
    """Time at which the line from sample i-1 to i crosses `level` (sample i is the first above it)."""
    if i == 0 or f[i] == f[i - 1]:
        return float(t[i])
    return float(t[i - 1] + (level - f[i - 1]) / (f[i] - f[i - 1]) * (t[i] - t[i - 1]))


def analyse(trace: Trace, onset: Onset | None = None) -> list[RepetitionMetrics]:
    """Metrics of every repetition, in time order. Forces are net of each repetition's own resting baseline."""
    onset = onset or Onset.default()
    seg = settings()["segmentation"]
    windows = settings()["rfd_windows_ms"]["values"]
    t, f = trace.time_s, trace.force_n
    dt_s = 1 / trace.sample_rate_hz
    reps = repetitions(trace)
    out: list[RepetitionMetrics] = []
    for k, (start, stop) in enumerate(reps):
        previous_end = reps[k - 1][1] if k else 0
        quiet = (t >= t[start] - seg["baseline_window_s"]) & (t < t[start])
        quiet[:previous_end] = False
        base_samples = f[quiet] if quiet.any() else f[max(previous_end, start - 1):start + 1][:1]
        # Median and MAD: the window's last few samples are already the start of the rise, and must not lift it.
        baseline = float(np.median(base_samples))
        noise = float(1.4826 * np.median(np.abs(base_samples - baseline)))
        peak_i = start + int(np.argmax(f[start:stop]))
        peak = float(f[peak_i]) - baseline
        threshold = {"percent_of_peak": peak * onset.value / 100, "baseline_sd": noise * onset.value,
                     "newtons": onset.value}[onset.kind]
        level = baseline + threshold
        # Onset: walk back from the peak to the last sample at or below the threshold, then interpolate.
        below = np.flatnonzero(f[previous_end:peak_i + 1] <= level)
        first_above = previous_end + (int(below[-1]) + 1 if below.size else 0)
        t_on = _crossing(t, f, first_above, level)
        next_start = reps[k + 1][0] if k + 1 < len(reps) else len(t)
        after = np.flatnonzero(f[peak_i:next_start] <= level)
        end_i = peak_i + int(after[0]) if after.size else next_start - 1
        f_on = float(np.interp(t_on, t, f))
        rfd: dict[str, float | None] = {}
        for ms in windows:
            t_end = t_on + ms / 1000
            enough = ms / 1000 / dt_s >= seg["min_samples_per_window"]
            inside = t_end <= t[min(next_start, len(t)) - 1]
            rfd[f"0-{ms} ms"] = round((float(np.interp(t_end, t, f)) - f_on) / (ms / 1000), 1) \
                if enough and inside else None
        span = (t >= t_on) & (np.arange(len(t)) <= end_i)
        ts, fs = np.concatenate([[t_on], t[span]]), np.concatenate([[f_on], f[span]]) - baseline
        impulse = float(np.sum((fs[1:] + fs[:-1]) / 2 * np.diff(ts))) if ts.size > 1 else None
        out.append(RepetitionMetrics(
            peak_force_n=round(peak, 1), onset_s=round(t_on, 4), time_to_peak_s=round(float(t[peak_i]) - t_on, 4),
            rfd_n_per_s=rfd, impulse_n_s=round(impulse, 2) if impulse is not None else None))
    return out
