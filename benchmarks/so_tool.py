"""OpenSim's own StaticOptimization tool (AnalyzeTool) on the hip extensor problem, for bench_static_optimisation.

The model is reduced to the benchmark's 12 muscles; every free coordinate gets a reserve actuator: 1 N m on hip
flexion and knee (the residuals hipext uses), practically free ones (1e4) elsewhere, so the tool solves the same
min sum a^2 problem about hip flexion and knee. The kinematics file holds the trial's right hip and knee angles;
the other coordinates stay at their defaults, and there are no ground forces, so the moments the tool balances are
those of its own inverse dynamics: hipext is given exactly those (muscle moments + hip and knee reserves, recovered
from the tool's output).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

RESIDUAL_OPTIMAL = {"hip_flexion_r": 1.0, "knee_angle_r": 1.0}
FREE_OPTIMAL = 1.0e4


def _write_sto(path: Path, time_s: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    lines = ["coordinates", "version=1", f"nRows={len(time_s)}", f"nColumns={len(names) + 1}", "inDegrees=no",
             "endheader", "\t".join(["time", *names])]
    for i, t in enumerate(time_s):
        lines.append("\t".join([f"{t:.6f}", *(f"{columns[n][i]:.10f}" for n in names)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_sto(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    text = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(text) if ln.strip() == "endheader") + 1
    head = text[start].split("\t")
    rows = np.array([[float(v) for v in ln.split("\t")] for ln in text[start + 1:] if ln.strip()])
    return rows[:, 0], {h.strip(): rows[:, j] for j, h in enumerate(head) if j}


def run_static_optimization_tool(*, leg: Any, time_s: np.ndarray, poses_rad: np.ndarray,
                                 out_dir: Path) -> dict[str, Any] | None:
    """Run the tool on the trial; None (with a printed reason) when this OpenSim build cannot."""
    osim = leg.osim
    model = osim.Model(str(leg.path))
    forces = model.updForceSet()
    for i in reversed(range(forces.getSize())):
        if forces.get(i).getName() not in leg.muscles:
            forces.remove(i)
    cs = model.getCoordinateSet()
    for i in range(cs.getSize()):
        c = cs.get(i)
        if c.getName().endswith("_beta") or c.get_locked():
            continue  # the patella coupler's dependent coordinate and locked ones get no actuator
        act = osim.CoordinateActuator(c.getName())
        act.setName(f"reserve_{c.getName()}")
        act.setOptimalForce(RESIDUAL_OPTIMAL.get(c.getName(), FREE_OPTIMAL))
        act.setMinControl(-float("inf"))
        act.setMaxControl(float("inf"))
        model.addForce(act)
    model.finalizeConnections()
    model_path = out_dir / "reduced.osim"
    model.printToXML(str(model_path))

    knee = poses_rad[:, 3] * leg.knee_sign
    cols = {"hip_flexion_r": poses_rad[:, 0], "hip_adduction_r": poses_rad[:, 1], "hip_rotation_r": poses_rad[:, 2],
            "knee_angle_r": knee}
    if leg.coupled:
        cols["knee_angle_r_beta"] = knee
    kin = out_dir / "kinematics.sto"
    _write_sto(kin, time_s, cols)

    tool = osim.AnalyzeTool()
    tool.setName("so")
    tool.setModelFilename(str(model_path))
    tool.setCoordinatesFileName(str(kin))
    tool.setLowpassCutoffFrequency(-1)
    tool.setInitialTime(float(time_s[0]))
    tool.setFinalTime(float(time_s[-1]))
    tool.setResultsDir(str(out_dir))
    so = osim.StaticOptimization()
    so.setStartTime(float(time_s[0]))
    so.setEndTime(float(time_s[-1]))
    so.setUseModelForceSet(True)
    so.setActivationExponent(2)
    so.setUseMusclePhysiology(True)
    so.setConvergenceCriterion(1e-8)
    so.setMaxIterations(200)
    tool.updAnalysisSet().cloneAndAppend(so)
    reduced = osim.Model(str(model_path))  # the tool keeps a pointer: keep the object alive
    state = reduced.initSystem()
    tool.setModel(reduced)
    c0 = time.process_time()
    try:
        tool.setStatesFromMotion(state, osim.Storage(str(kin)), False)
        tool.run()
    except RuntimeError as exc:
        print(f"   StaticOptimization tool failed: {exc}")
        return None
    cpu_s = time.process_time() - c0

    t_act, act = _read_sto(out_dir / "so_StaticOptimization_activation.sto")
    _, force = _read_sto(out_dir / "so_StaticOptimization_force.sto")
    q = np.column_stack([np.interp(t_act, time_s, poses_rad[:, k]) for k in range(4)])
    qd = np.column_stack([np.gradient(q[:, k], t_act) for k in range(4)])
    ma = leg.sample_fast(q, coordinates=(0, 3))["moment_arms_m"]
    muscle_force = np.column_stack([force[m] for m in leg.muscles])
    hip = (muscle_force * ma[:, :, 0]).sum(axis=1) + force["reserve_hip_flexion_r"]
    knee_m = (muscle_force * ma[:, :, 3]).sum(axis=1) + force["reserve_knee_angle_r"] * leg.knee_sign
    return {"poses_rad": q, "velocities_rad_s": qd, "moments_nm": np.column_stack([hip, knee_m]),
            "activations": np.column_stack([act[m] for m in leg.muscles]), "cpu_s": cpu_s}
