"""Benchmark: static optimisation of the hip extensors on ONE walking trial (66 frames, not tiled), hipext against
OpenSim 4.6 used competently, and against OpenSim's own StaticOptimization tool.

Run: .venv/bin/python benchmarks/bench_static_optimisation.py [--rounds 3] [--batch-frames 200000] [--json]

Task: the gait2392 walking example (kinematics + inverse dynamics in /work/shared/data), right hip flexion and knee
flexion moments split among the 12 hip extensors of RajagopalLaiUhlrich2023 plus two residual actuators:
min sum a^2 + sum (r / 1 N m)^2, 0 <= a <= 1, rigid tendon, force-length-velocity.

* hipext: ``static_optimisation`` on the trial, as a lab script calls it (one call per trial).
* OpenSim used competently, same model (its force set reduced to the 12 muscles: the other forces cost time at
  every realisation and change none of these paths; checked equal in this run) and frames: per frame set the state
  once, each muscle's force at full
  activation from ``calcInextensibleTendonActiveFiberForce`` (what the StaticOptimization tool uses), moment arms
  from lengthening speeds (one ``realizeVelocity`` per coordinate), then the bounded least-squares problem solved
  with scipy's ``lsq_linear`` (BVLS, an exact active-set method for this problem size).
* OpenSim's StaticOptimization tool (AnalyzeTool) on the same kinematics, on the same model reduced to the 12
  muscles, 1 N m reserves on hip flexion and knee, and strong (practically free) reserves on every other
  coordinate; hipext is then given the hip and knee moments the tool solved for, and the activations compared.

Both sides alternate in rounds in this process; CPU time (process_time) and wall time; each side's best round.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import _bench

_bench.single_core()

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hipext.biomech.model import HipExtensorModel  # noqa: E402
from hipext.biomech.opensim_bridge import OpenSimLeg  # noqa: E402
from hipext.biomech.static_optimisation import solve_bounded_min_norm, static_optimisation  # noqa: E402
from hipext.biomech.tasks import demand_curve  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
WALK = SHARED / "data" / "walking_gait2392"
GOAL_FAIR_RATIO = 100.0


def walking_trial(model: HipExtensorModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = demand_curve(kinematics_path=WALK / "subject01_walk1_ik.mot",
                     moments_path=WALK / "subject01_walk1_inverse_dynamics.sto")
    q, _ = model.check_poses(d.poses_rad, out_of_range="clip")
    qd = np.stack([-d.hip_extension_velocity_rad_s, np.gradient(d.hip_adduction_rad, d.time_s),
                   np.gradient(d.hip_rotation_rad, d.time_s), d.knee_flexion_velocity_rad_s], axis=1)
    mom = np.stack([-d.hip_extension_moment_nm, d.knee_flexion_moment_nm], axis=1)
    return d.time_s, q, qd, mom


class CompetentOpenSim:
    """Per-frame OpenSim API loop as a competent user writes it (see the module docstring)."""

    def __init__(self, leg: OpenSimLeg) -> None:
        self.leg = leg
        self.mus = [leg.osim.Millard2012EquilibriumMuscle.safeDownCast(leg.muscle(n)) for n in leg.muscles]
        self.h = np.array([mu.getOptimalFiberLength() * np.sin(mu.getPennationAngleAtOptimalFiberLength())
                           for mu in self.mus])
        self.lts = np.array([mu.getTendonSlackLength() for mu in self.mus])
        self.speeds = leg.osim.Vector(leg.state.getU())

    def gains(self, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """(N, m, 2) moments about hip flexion and knee flexion at full activation."""
        leg, state, model = self.leg, self.leg.state, self.leg.model
        units = leg.unit_speeds()
        speeds = self.speeds
        out = np.empty((len(q), len(self.mus), 2))
        f = np.empty(len(self.mus))
        for i in range(len(q)):
            leg.set_pose(q[i])
            for k in range(4):  # the frame's joint velocities (the knee's coupled coordinate follows the knee)
                speeds.set(_u_index(leg, k), float(qd[i, k] * (leg.knee_sign if k == 3 else 1.0)))
            speeds.set(_u_index(leg, 4), float(qd[i, 3] * leg.knee_sign))
            state.setU(speeds)
            model.realizeVelocity(state)
            for j, mu in enumerate(self.mus):
                x = max(mu.getLength(state) - self.lts[j], 1e-6)  # fibre force projected on the (rigid) tendon
                f[j] = mu.calcInextensibleTendonActiveFiberForce(state, 1.0) * x / np.hypot(x, self.h[j])
            for col, k in ((0, 0), (1, 3)):
                state.setU(units[k])
                model.realizeVelocity(state)
                sign = leg.knee_sign if k == 3 else 1.0
                for j, mu in enumerate(self.mus):
                    out[i, j, col] = -mu.getLengtheningSpeed(state) * sign * f[j]
        return out

    def solve(self, q: np.ndarray, qd: np.ndarray, mom: np.ndarray) -> np.ndarray:
        from scipy.optimize import lsq_linear

        g = self.gains(q, qd)
        m = g.shape[1]
        a = np.empty((len(q), m))
        top = np.eye(m)
        for i in range(len(q)):  # min |a|^2 + |M - G^T a|^2  ==  |[I; G^T] a - [0; M]|^2, 0 <= a <= 1
            r = lsq_linear(np.vstack([top, g[i].T]), np.concatenate([np.zeros(m), mom[i]]), bounds=(0.0, 1.0),
                           method="bvls", tol=1e-12)
            a[i] = r.x
        return a


def _u_index(leg: OpenSimLeg, k: int) -> int:
    """Index in the speed vector u of public coordinate k (4 = the knee's coupled coordinate)."""
    if not hasattr(leg, "_u_idx"):
        idx = []
        for vec_k in range(4):
            u = leg.unit_speeds()[vec_k]
            idx.append(next(i for i in range(u.size()) if u.get(i) == 1.0))
        knee = leg.unit_speeds()[3]
        coupled = [i for i in range(knee.size()) if knee.get(i) == 1.0 and i != idx[3]]
        idx.append(coupled[0] if coupled else idx[3])
        leg._u_idx = idx  # type: ignore[attr-defined]
    return leg._u_idx[k]  # type: ignore[attr-defined]


def main() -> None:
    ap = _bench.parser(__doc__)
    ap.add_argument("--batch-frames", type=int, default=200_000, help="frames for the (secondary) batch figure")
    ap.add_argument("--skip-tool", action="store_true", help="skip OpenSim's StaticOptimization tool")
    args = ap.parse_args()

    model = HipExtensorModel.load()
    time_s, q, qd, mom = walking_trial(model)
    n = len(q)
    osim_path = SHARED / "models" / model.provenance["model_file"]
    leg = OpenSimLeg.open(osim_path, muscles=model.muscles)
    peer = CompetentOpenSim(OpenSimLeg.open(_bench.model_with_only(osim_path, model.muscles), muscles=model.muscles))
    report = _bench.Report("static optimisation: one walking trial", context={
        "task": f"gait2392 walking example, {n} frames (one trial, not tiled); {model.n_muscles} hip extensors of "
                f"{model.provenance['model_file']}; hip flexion + knee flexion moments; residuals 1 N m",
    })

    def ours() -> dict:
        return static_optimisation(model=model, poses_rad=q, moments_nm=mom, joint_velocities_rad_s=qd,
                                   use_passive=False)

    ours()  # compile / load once
    reps = 50  # hipext is timed over 50 calls of the same trial per round (one call is below the clock's grain)

    def ours_rounds() -> None:
        for _ in range(reps):
            ours()

    t = _bench.alternate({"hipext": ours_rounds, "opensim": lambda: peer.solve(q, qd, mom)}, args.rounds)
    fps_ours = n * reps / t["hipext"].best_cpu_s
    fps_os = n / t["opensim"].best_cpu_s
    report.figure("hipext static_optimisation, one trial per call", fps_ours, "frames/s",
                  note=f"{t['hipext'].best_cpu_s / reps * 1e3:.2f} ms CPU per trial "
                       f"(wall {t['hipext'].best_wall_s / reps * 1e3:.2f} ms)")
    report.figure("OpenSim used competently (API loop + bounded least squares)", fps_os, "frames/s",
                  note=f"{t['opensim'].best_cpu_s * 1e3:.0f} ms CPU per trial "
                       f"(wall {t['opensim'].best_wall_s * 1e3:.0f} ms)")
    report.figure("FAIR RATIO static optimisation per trial: hipext / competent OpenSim", fps_ours / fps_os, "x",
                  goal=f">= {GOAL_FAIR_RATIO:,.0f}x", met=fps_ours / fps_os >= GOAL_FAIR_RATIO)

    # Same outputs, checked in this run.
    r = ours()
    a_os = peer.solve(q, qd, mom)
    diff = np.abs(r["activations"] - a_os)
    report.check("hipext vs OpenSim loop activations, RMS difference", float(np.sqrt(np.mean(diff ** 2))), "",
                 limit="0.05", ok=float(np.sqrt(np.mean(diff ** 2))) < 0.05,
                 note=f"max {diff.max():.3f}: inputs differ by the surrogate's moment-arm error; at a moment-arm "
                      "crossover min sum a^2 is ill-conditioned")
    g = peer.gains(q, qd)
    d_full = float(np.abs(g - CompetentOpenSim(leg).gains(q, qd)).max())
    report.check("OpenSim 12-muscle force set vs full model, gains max |diff|", d_full, "N m", limit="1e-9",
                 ok=d_full < 1e-9)
    a_ref, _, _ = solve_bounded_min_norm(gains=g, targets=mom, residual_weight=1.0)
    d_same = float(np.abs(a_ref - a_os).max())
    report.check("hipext solver vs scipy BVLS on the same gains, max |diff|", d_same, "", limit="1e-6",
                 ok=d_same < 1e-6)
    a_np, _, _ = solve_bounded_min_norm(gains=g, targets=mom, residual_weight=1.0, engine="numpy")
    d_np = float(np.abs(a_ref - a_np).max())
    report.check("compiled solver vs numpy reference, max |diff|", d_np, "", limit="1e-9", ok=d_np < 1e-9)
    report.check("all frames converged", float(r["converged"].mean() * 100), "%", limit="100 %",
                 ok=bool(r["converged"].all()))

    # Secondary: a large batch (frames of many trials at once), for labs.
    reps_b = max(1, args.batch_frames // n)
    qb, qdb, mb = np.tile(q, (reps_b, 1)), np.tile(qd, (reps_b, 1)), np.tile(mom, (reps_b, 1))
    tb = _bench.alternate({"batch": lambda: static_optimisation(model=model, poses_rad=qb, moments_nm=mb,
                                                                joint_velocities_rad_s=qdb, use_passive=False)}, 2)
    report.figure(f"hipext, {len(qb):,} frames in one call (batch of trials; not the headline)",
                  len(qb) / tb["batch"].best_cpu_s, "frames/s")

    if not args.skip_tool:
        from so_tool import run_static_optimization_tool

        with tempfile.TemporaryDirectory() as tmp:
            tool = run_static_optimization_tool(leg=leg, time_s=time_s, poses_rad=q, out_dir=Path(tmp))
        if tool is not None:
            nt = len(tool["poses_rad"])

            def ours_tool() -> dict:
                return static_optimisation(model=model, poses_rad=tool["poses_rad"], moments_nm=tool["moments_nm"],
                                           joint_velocities_rad_s=tool["velocities_rad_s"], use_passive=True)

            ours_tool()
            t_tool = _bench.alternate({"hipext": lambda: [ours_tool() for _ in range(reps)]}, args.rounds)
            fps_tool_ours = nt * reps / t_tool["hipext"].best_cpu_s
            report.figure("OpenSim StaticOptimization tool (AnalyzeTool, reduced model)", nt / tool["cpu_s"],
                          "frames/s", note=f"{tool['cpu_s']:.1f} s CPU for {nt} frames (states from the motion + "
                                           "the analysis; model building excluded); one run")
            report.figure("ratio hipext / StaticOptimization tool, same frames and moments",
                          fps_tool_ours / (nt / tool["cpu_s"]), "x")
            d = np.abs(ours_tool()["activations"] - tool["activations"])
            rms = float(np.sqrt(np.mean(d ** 2)))
            report.check("hipext vs StaticOptimization tool activations, RMS difference", rms, "", limit="0.05",
                         ok=rms < 0.05, note=f"max {d.max():.3f}; the tool keeps every activation >= 0.01 (Millard "
                                             "minimum activation) and solves all coordinates with IPOPT")

    report.emit(args.json)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
