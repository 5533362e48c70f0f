"""Raw force-time traces: a `time_s` (or `time_ms`) column and one force column, one test and side per file.

Each repetition found in the trace is one trial (its peak force, net of the resting baseline); its onset, time to
peak, RFD and impulse are kept with the measurement, and the curve is returned for drawing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hipext.core.case import DeviceMetrics
from hipext.core.errors import Problem
from hipext.importers import force_time as ft
from hipext.importers import measurements as M
from hipext.importers.models import DeviceImport, ImportOptions, TraceView
from hipext.importers.table import Table

TIME_COLUMNS = ["time_s", "time_ms"]
FORCE_COLUMNS = [f"force_{u}" for u in M.FORCE_UNITS]
MAX_POINTS_DRAWN = 2000


def columns_present(table: Table) -> bool:
    return any(table.has(c) for c in TIME_COLUMNS)


def _arrays(table: Table, time_col: str, force_col: str) -> tuple[np.ndarray, np.ndarray] | None:
    before = len(table.problems)
    times, forces, rows = [], [], []
    for n, cells in table.rows:
        t_cell = table.number(n, cells, time_col)
        f_cell = table.number(n, cells, force_col)
        if t_cell is not None and f_cell is not None:
            times.append(t_cell)
            forces.append(f_cell)
            rows.append(n)
    if len(table.problems) > before:
        return None
    t = np.asarray(times) / (1000 if time_col == "time_ms" else 1)
    f = np.asarray(forces) * M.FORCE_UNITS[force_col.removeprefix("force_")]
    backwards = np.flatnonzero(np.diff(t) <= 0)
    for i in backwards[:20]:
        table.problems.append(Problem(table.where(rows[i + 1], time_col), times[i + 1],
                                      f"a time after the previous row's {times[i]:g} (time must increase)"))
    if backwards.size > 20:
        table.problems.append(Problem(table.shown[time_col], f"{backwards.size - 20} more rows",
                                      "times that increase row by row"))
    if len(t) < 20:
        table.problems.append(Problem("(file)", f"{len(t)} samples", "a trace of at least 20 samples"))
    return None if len(table.problems) > before else (t, f)


def read(table: Table, data: bytes, name: str, options: ImportOptions) -> DeviceImport:
    out = DeviceImport(layout="force_time_trace", file_name=name, measurements=[])
    time_col = M.one_of(table, TIME_COLUMNS, "time")
    force_col = M.one_of(table, FORCE_COLUMNS, "force")
    rows = table.rows
    test = M.test_for(table, rows, options)
    side = M.setting(table, rows, "side", options.side, allowed=M.SIDES)
    lever = M.setting(table, rows, "lever_arm_m", options.lever_arm_m, kind="number")
    fixation = M.setting(table, rows, "fixation", options.fixation, allowed=M.FIXATIONS)
    device = M.setting(table, rows, "device", options.device)
    if time_col is None or force_col is None or test is None:
        return out
    arrays = _arrays(table, time_col, force_col)
    if arrays is None:
        return out
    trace = ft.Trace(*arrays)
    onset = options.onset or ft.Onset.default()
    reps = ft.analyse(trace, onset)
    if not reps:
        table.problems.append(Problem(f"column {table.shown[force_col]}", "no effort found",
                                      "a trace with at least one rise in force above its resting level"))
        return out
    numbers = [n for n, _ in rows]
    fields: dict[str, Any] = {"test": test, "side": side, "lever_arm_m": lever, "fixation": fixation,
                              "device": device, "trials_n": [r.peak_force_n for r in reps]}
    m = M.build(table, [numbers[0], numbers[-1]], fields, {"trials_n": force_col, "test": "test", "side": "side",
                                                          "lever_arm_m": "lever_arm_m", "fixation": "fixation"})
    if m is None:
        return out
    metrics = DeviceMetrics(
        source_file=name[-255:], source_sha256=M.sha256(data), layout="force_time_trace",
        repetition_count=len(reps), sample_rate_hz=round(trace.sample_rate_hz, 1), onset_method=onset.describe(),
        repetitions=reps)
    out.measurements.append(m.model_copy(update={"device_metrics": metrics}))
    step = -(-len(trace.time_s) // MAX_POINTS_DRAWN)  # ceiling division: never more points than that
    out.traces.append(TraceView(label=f"{test}, {side or 'no side'}", time_s=trace.time_s[::step].tolist(),
                                force_n=trace.force_n[::step].tolist(), repetitions=reps,
                                peaks=[(r.onset_s + r.time_to_peak_s,
                                        float(np.interp(r.onset_s + r.time_to_peak_s, *arrays))) for r in reps]))
    rate = trace.sample_rate_hz
    shortest = min(ft.settings()["rfd_windows_ms"]["values"])
    if rate * shortest / 1000 < ft.settings()["segmentation"]["min_samples_per_window"]:
        out.notes.append(f"Sampled at {rate:.0f} Hz: too few samples for RFD over 0-{shortest} ms, so it is left out.")
    out.notes.append(str(ft.settings()["measurement_error"]["statement"]).strip())
    return out
