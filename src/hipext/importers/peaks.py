"""Per-trial peaks: one row per trial (test, side, trial, force or torque, lever arm, position, fixation, device).

Rows of the same test, side and (for isokinetic tests) speed and mode become one measurement with its trials in
trial order. Force stays in the unit the file used (N, lbf or kgf), as a typed measurement would; torque becomes
force through the lever arm for hand-held tests, and force becomes torque for isokinetic ones.
"""

from __future__ import annotations

from typing import Any

from hipext import evidence
from hipext.core.errors import Problem
from hipext.importers import measurements as M
from hipext.importers.models import DeviceImport, ImportOptions
from hipext.importers.table import Table, grouped

FORCE_COLUMNS = [f"force_{u}" for u in M.FORCE_UNITS] + ["torque_nm"]


def read(table: Table, data: bytes, name: str, options: ImportOptions) -> DeviceImport:
    value_column = M.one_of(table, FORCE_COLUMNS, "force or torque")
    out = DeviceImport(layout="per_trial_peaks", file_name=name, measurements=[])
    if value_column is None:
        return out
    keys = [k for k in ("test", "side", "velocity_deg_s", "mode") if table.has(k)]
    for _, rows in grouped(table.rows, *keys):
        numbers = [n for n, _ in rows]
        test = M.test_for(table, rows, options)
        side = M.setting(table, rows, "side", options.side, allowed=M.SIDES)
        lever = M.setting(table, rows, "lever_arm_m", options.lever_arm_m, kind="number")
        fields: dict[str, Any] = {
            "test": test, "side": side, "lever_arm_m": lever,
            "fixation": M.setting(table, rows, "fixation", options.fixation, allowed=M.FIXATIONS),
            "device": M.setting(table, rows, "device", options.device),
            "velocity_deg_s": M.setting(table, rows, "velocity_deg_s", options.velocity_deg_s, kind="number"),
            "mode": M.setting(table, rows, "mode", options.mode, allowed=M.MODES),
        }
        if test is None or (table.has("side") and side is None):
            _trials(table, rows)  # still check every cell of the group
            continue
        M.check_position(table, rows, test)
        trials, trial_rows = _trials(table, rows)
        if not trials:
            continue
        columns = {"lever_arm_m": "lever_arm_m", "fixation": "fixation", "device": "device", "side": "side",
                   "velocity_deg_s": "velocity_deg_s", "mode": "mode", "test": "test"}
        target = _trial_field(test, value_column)
        if value_column == "torque_nm" and target != "trials_nm":  # hand-held test exported as torque
            if not lever:
                table.problems.append(Problem(f"{M.rows_label(numbers)}, column {table.shown[value_column]}",
                                              "torque without a lever arm", "a lever_arm_m column or --lever-arm "
                                              "to turn torque into the force this test records"))
                continue
            trials = [t / lever for t in trials]
            out.notes.append(f"{M.rows_label(numbers)}: torque divided by the {lever:g} m lever arm gives force.")
        elif value_column != "torque_nm" and target == "trials_nm":  # isokinetic test exported as force
            if not lever:
                table.problems.append(Problem(f"{M.rows_label(numbers)}, column {table.shown[value_column]}",
                                              "force without a lever arm", "torque_nm, or a lever arm to turn "
                                              "force into the torque this test records"))
                continue
            trials = [t * M.FORCE_UNITS[value_column.removeprefix("force_")] * lever for t in trials]
            fields["lever_arm_m"] = None  # isokinetic measurements record torque only
        fields[target] = [round(t, 3) for t in trials]
        columns[target] = value_column
        m = M.build(table, numbers, fields, columns, item_rows=trial_rows)
        if m is not None:
            out.measurements.append(m.model_copy(update={"device_metrics": _metrics(data, name, len(trials))}))
    return out


def _trial_field(test: str, value_column: str) -> str:
    """Which case field the trials go to: what the protocol requires, in the unit of the file where it can."""
    proto = evidence.load().protocols.get(test)
    needs = " ".join(proto.requires) if proto else ""
    if "trials_nm" in needs:
        return "trials_nm"
    return "trials_n" if value_column == "torque_nm" else f"trials_{value_column.removeprefix('force_')}"


def _trials(table: Table, rows: list[tuple[int, dict[str, str]]]) -> tuple[list[float], list[int]]:
    """The group's readable trials in trial order, and the row each came from (bad cells become problems)."""
    value_column = next(c for c in FORCE_COLUMNS if table.has(c))
    numbered: list[tuple[float, int, float]] = []
    seen: dict[float, int] = {}
    for i, (n, cells) in enumerate(rows):
        trial = table.number(n, cells, "trial", required=False, positive=True) if table.has("trial") else None
        value = table.number(n, cells, value_column, positive=True)
        key = trial if trial is not None else float(i + 1)
        if trial is not None and trial in seen:
            table.problems.append(Problem(table.where(n, "trial"), cells.get("trial"),
                                          f"a trial number not used before for this test and side (row {seen[trial]})"))
        seen.setdefault(key, n)
        if value is not None:
            numbered.append((key, n, value))
    numbered.sort()
    return [v for _, _, v in numbered], [n for _, n, _ in numbered]


def _metrics(data: bytes, name: str, count: int) -> Any:
    from hipext.core.case import DeviceMetrics

    return DeviceMetrics(source_file=name[-255:], source_sha256=M.sha256(data), layout="per_trial_peaks",
                         repetition_count=count)
