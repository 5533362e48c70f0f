"""Benchmark: static optimisation of the hip extensors, hipext (vectorised numpy) against a per-frame OpenSim loop.

Run: .venv/bin/python benchmarks/bench_static_optimisation.py [--frames 200000] [--opensim-frames 66]

Task: the gait2392 walking example (kinematics + inverse dynamics shipped in /work/shared/data), right hip
flexion and knee flexion moments split among the 12 hip extensors of RajagopalLaiUhlrich2023 plus residual
actuators (min sum a^2 + sum (r / 1 N m)^2, 0 <= a <= 1, rigid tendon, force-length-velocity).

OpenSim side, on the same model and frames: per frame, set the state in OpenSim 4.6, take the moment arms from
``computeMomentArm`` and each muscle's force at full activation from ``calcInextensibleTendonActiveFiberForce``
(what OpenSim's StaticOptimization uses), then solve the same QP with scipy's SLSQP. For context the script
also prints the reference figure for OpenSim's own StaticOptimization tool (92-muscle gait2392, 12.5 frames/s).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hipext.biomech.model import HipExtensorModel  # noqa: E402
from hipext.biomech.opensim_bridge import OpenSimLeg  # noqa: E402
from hipext.biomech.static_optimisation import static_optimisation  # noqa: E402
from hipext.biomech.tasks import demand_curve  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
WALK = SHARED / "data" / "walking_gait2392"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--opensim-frames", type=int, default=66)
    args = ap.parse_args()

    model = HipExtensorModel.load()
    d = demand_curve(kinematics_path=WALK / "subject01_walk1_ik.mot",
                     moments_path=WALK / "subject01_walk1_inverse_dynamics.sto")
    q, _ = model.check_poses(d.poses_rad, out_of_range="clip")
    qd = np.stack([-d.hip_extension_velocity_rad_s, np.gradient(d.hip_adduction_rad, d.time_s),
                   np.gradient(d.hip_rotation_rad, d.time_s), d.knee_flexion_velocity_rad_s], axis=1)
    mom = np.stack([-d.hip_extension_moment_nm, d.knee_flexion_moment_nm], axis=1)
    n0 = len(q)

    # hipext: all frames at once (the walking cycle tiled to the requested number of frames)
    reps = max(1, args.frames // n0)
    qt, qdt, mt = np.tile(q, (reps, 1)), np.tile(qd, (reps, 1)), np.tile(mom, (reps, 1))
    static_optimisation(model=model, poses_rad=q, moments_nm=mom, joint_velocities_rad_s=qd, use_passive=False)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        res = static_optimisation(model=model, poses_rad=qt, moments_nm=mt, joint_velocities_rad_s=qdt,
                                  use_passive=False)
        best = min(best, time.perf_counter() - t)
    fps_np = len(qt) / best
    ours = static_optimisation(model=model, poses_rad=q, moments_nm=mom, joint_velocities_rad_s=qd,
                               use_passive=False)

    # OpenSim per frame + scipy SLSQP
    from scipy.optimize import minimize

    leg = OpenSimLeg.open(SHARED / "models" / model.provenance["model_file"], muscles=model.muscles)
    osim = leg.osim
    mus = [osim.Millard2012EquilibriumMuscle.safeDownCast(leg.muscle(n)) for n in model.muscles]
    n_os = min(args.opensim_frames, n0)
    acts = np.zeros((n_os, len(mus)))
    gains_os: list[np.ndarray] = []
    t0 = time.perf_counter()
    for i in range(n_os):
        leg.set_pose(q[i])
        speeds = (qd[i, 0], qd[i, 1], qd[i, 2], leg.knee_sign * qd[i, 3])
        for c, v in zip(leg.coords, speeds, strict=True):
            c.setSpeedValue(leg.state, float(v))
        for c in leg.coupled:
            c.setSpeedValue(leg.state, float(speeds[3]))
        leg.model.realizeVelocity(leg.state)
        g = np.empty((len(mus), 2))
        for j, mu in enumerate(mus):
            # calcInextensibleTendonActiveFiberForce is the force along the fibre; project it on the tendon
            # with the rigid-tendon pennation angle computed from OpenSim's path length.
            x = max(mu.getLength(leg.state) - mu.getTendonSlackLength(), 1e-6)
            h = mu.getOptimalFiberLength() * np.sin(mu.getPennationAngleAtOptimalFiberLength())
            f = mu.calcInextensibleTendonActiveFiberForce(leg.state, 1.0) * x / np.hypot(x, h)
            g[j, 0] = mu.computeMomentArm(leg.state, leg.coords[0]) * f
            g[j, 1] = leg.knee_sign * mu.computeMomentArm(leg.state, leg.coords[3]) * f

        def obj(a: np.ndarray, g: np.ndarray = g, m: np.ndarray = mom[i]) -> float:
            r = m - g.T @ a
            return float(a @ a + r @ r)

        def jac(a: np.ndarray, g: np.ndarray = g, m: np.ndarray = mom[i]) -> np.ndarray:
            return 2 * a - 2 * g @ (m - g.T @ a)

        s = minimize(obj, np.full(len(mus), 0.1), jac=jac, bounds=[(0, 1)] * len(mus), method="SLSQP",
                     options={"ftol": 1e-12, "maxiter": 200})
        acts[i] = s.x
        gains_os.append(g)
    t_os = time.perf_counter() - t0
    fps_os = n_os / t_os
    diff = ours["activations"][:n_os] - acts
    print(f"model: {model.provenance['model_file']} ({len(model.muscles)} hip extensors); task: gait2392 walking "
          f"example, {n0} frames; DOFs: hip flexion + knee flexion, residual actuators 1 N m")
    print(f"  hipext numpy, all frames at once: {fps_np:12,.0f} frames/s ({len(qt):,} frames)")
    print(f"  OpenSim 4.6 per frame + SLSQP:    {fps_os:12,.1f} frames/s ({n_os} frames)")
    print(f"  ratio: {fps_np / fps_os:,.0f}x")
    mm_os = np.stack([gains_os[i] * acts[i][:, None] for i in range(n_os)])
    dm = ours["muscle_moments_nm"][:n_os] - mm_os
    print(f"  activations, hipext vs OpenSim-per-frame: RMS difference {np.sqrt(np.mean(diff ** 2)):.4f}, "
          f"max {np.abs(diff).max():.3f}; muscle moments: RMS difference {np.sqrt(np.mean(dm ** 2)):.3f} N m, "
          f"max {np.abs(dm).max():.2f} N m (same QP; inputs differ by the surrogate error; the max activation "
          "difference is a muscle at its moment-arm crossover, where min sum a^2 is ill-conditioned)")
    print("  context: OpenSim's StaticOptimization tool on the full 92-muscle gait2392 walking example measured "
          "12.5 frames/s (80 ms/frame) in the project reference (different problem size: all DOFs, 92 muscles).")
    if os.environ.get("HIPEXT_BENCH_DEBUG"):
        k = int(np.argmax(np.abs(diff).max(axis=1)))
        print(k, mom[k], ours["activations"][k].round(3), acts[k].round(3))
        print(np.c_[gains_os[k], (ours["muscle_moments_nm"][k] / np.maximum(ours["activations"][k], 1e-9)[:, None])])
    print(f"  all frames converged: {bool(res['converged'].all())}")


if __name__ == "__main__":
    main()
