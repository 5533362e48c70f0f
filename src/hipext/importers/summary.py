"""Per-side summary: one row per test with each side's maximum force, average force, impulse and repetitions.

The fields are the ones VALD's external API gives per test and side (`leftMaxForce`, `leftAvgForce`,
`leftImpulse`, `leftTorque`, repetitions); the `--mapping vald-nordbord` and `vald-forceframe-*` presets map those
names to hipext's. Each side becomes one measurement whose single trial is the maximum force, with the average
force, impulse and repetition count kept beside it. When the file gives torque as well, the lever arm the device
used is torque / force.
"""

from __future__ import annotations

from typing import Any

from hipext.core.case import DeviceMetrics
from hipext.core.errors import Problem
from hipext.importers import measurements as M
from hipext.importers.models import DeviceImport, ImportOptions
from hipext.importers.table import Table

SIDES = ("left", "right")


def columns_present(table: Table) -> bool:
    return any(table.has(f"{s}_max_force_{u}") for s in SIDES for u in M.FORCE_UNITS)


def read(table: Table, data: bytes, name: str, options: ImportOptions) -> DeviceImport:
    out = DeviceImport(layout="per_side_summary", file_name=name, measurements=[])
    sides = [s for s in SIDES if options.side in (None, s)]
    for n, cells in table.rows:
        rows = [(n, cells)]
        test = M.test_for(table, rows, options)
        if test is None:
            continue
        M.check_position(table, rows, test)
        common = {
            "test": test,
            "fixation": M.setting(table, rows, "fixation", options.fixation, allowed=M.FIXATIONS),
            "device": M.setting(table, rows, "device", options.device),
        }
        for side in sides:
            unit_col = next((f"{side}_max_force_{u}" for u in M.FORCE_UNITS if table.has(f"{side}_max_force_{u}")),
                            None)
            if unit_col is None or not cells.get(unit_col, "").strip():
                continue  # a side not tested in this row
            unit = unit_col.rsplit("_", 1)[1]
            peak = table.number(n, cells, unit_col, positive=True)
            avg = table.number(n, cells, f"{side}_avg_force_{unit}", required=False, positive=True)
            impulse = table.number(n, cells, f"{side}_impulse_ns", required=False, positive=True)
            reps = table.number(n, cells, f"{side}_repetitions", required=False, positive=True)
            torque = table.number(n, cells, f"{side}_torque_nm", required=False, positive=True)
            if peak is None:
                continue
            lever = M.setting(table, rows, "lever_arm_m", options.lever_arm_m, kind="number")
            if lever is None and torque is not None:
                lever = round(torque / (peak * M.FORCE_UNITS[unit]), 3)
                out.notes.append(f"row {n}, {side}: lever arm {lever:g} m = torque / force, as the device set it.")
            if reps is not None and reps != int(reps):
                table.problems.append(Problem(table.where(n, f"{side}_repetitions"), reps, "a whole number"))
                continue
            fields: dict[str, Any] = {**common, "side": side, "lever_arm_m": lever, f"trials_{unit}": [peak]}
            m = M.build(table, [n], fields, {f"trials_{unit}": unit_col, "lever_arm_m": "lever_arm_m",
                                             "test": "test", "fixation": "fixation", "device": "device"})
            if m is None:
                continue
            metrics = DeviceMetrics(
                source_file=name[-255:], source_sha256=M.sha256(data), layout="per_side_summary",
                repetition_count=int(reps) if reps is not None else None,
                average_force_n=round(avg * M.FORCE_UNITS[unit], 1) if avg is not None else None,
                impulse_n_s=impulse)
            out.measurements.append(m.model_copy(update={"device_metrics": metrics}))
    if not out.measurements and not table.problems:
        table.problems.append(Problem("(file)", name, "at least one row with a left or right maximum force"))
    return out
