"""Benchmark: hipext's compiled hip extensor model against OpenSim 4.6 on the same model and the same poses.

Run: .venv/bin/python benchmarks/bench_model.py [--opensim-poses 500] [--numpy-poses 1000000]
Single core: BLAS threads are pinned to 1 before numpy is imported.
Prints poses per second for lengths + moment arms of the hip extensors (OpenSim vs numpy), their ratio, the
accuracy against OpenSim, and the same for maximum isometric hip extension torque.
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

from hipext.biomech.model import COORDINATES, HipExtensorModel  # noqa: E402
from hipext.biomech.opensim_bridge import OpenSimLeg  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--opensim-poses", type=int, default=500)
    ap.add_argument("--numpy-poses", type=int, default=1_000_000)
    ap.add_argument("--force-poses", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--osim", type=Path, default=None,
                    help="Benchmark another .osim (e.g. Rajagopal2016.osim): compiled first into a temporary file.")
    ap.add_argument("--compile-samples", type=int, default=4000)
    args = ap.parse_args()

    if args.osim is None:
        model = HipExtensorModel.load()
    else:
        import tempfile

        from hipext.biomech.compiler import compile_model

        tmp = Path(tempfile.mkdtemp()) / (args.osim.stem + ".npz")
        t0 = time.perf_counter()
        compile_model(model_path=args.osim, out_path=tmp, n_samples=args.compile_samples, n_holdout=200,
                      progress=False)
        print(f"compiled {args.osim.name} in {time.perf_counter() - t0:.0f} s ({args.compile_samples} poses)")
        model = HipExtensorModel.load(tmp)
    prov = model.provenance
    osim_path = args.osim or SHARED / "models" / prov["model_file"]
    leg = OpenSimLeg.open(osim_path, muscles=model.muscles)
    rng = np.random.default_rng(args.seed)
    lo, hi = model.range_low_rad, model.range_high_rad
    q_os = lo + (hi - lo) * rng.random((args.opensim_poses, 4))
    q_np = lo + (hi - lo) * rng.random((args.numpy_poses, 4))
    q_np[: len(q_os)] = q_os
    print(f"model: {prov['model_file']} ({len(model.muscles)} hip extensors), OpenSim {prov['opensim_version']}, "
          f"compiled surrogate {model.path.name} ({model.path.stat().st_size / 1024:.0f} kB)")
    ranges = ", ".join(f"{c} {np.rad2deg(a):.0f}..{np.rad2deg(b):.0f} deg"
                       for c, a, b in zip(COORDINATES, lo, hi, strict=True))
    print(f"poses: random, inside the fitted range {ranges}")

    # --- OpenSim: lengths + moment arms (reference protocol: hip flexion MA of all, + knee MA of hamstrings)
    knee_cross = [bool(prov["crosses_knee"][m]) for m in model.muscles]

    def opensim_reference_protocol() -> None:
        mus = [leg.muscle(n) for n in model.muscles]
        for i in range(len(q_os)):
            leg.set_pose(q_os[i])
            for j, mu in enumerate(mus):
                mu.getLength(leg.state)
                mu.computeMomentArm(leg.state, leg.coords[0])
                if knee_cross[j]:
                    mu.computeMomentArm(leg.state, leg.coords[3])

    t_os_ref = best_of(opensim_reference_protocol, 2)
    t0 = time.perf_counter()
    ref = leg.sample(q_os)  # lengths + moment arms about all four coordinates
    t_os_full = time.perf_counter() - t0

    model.lengths_and_moment_arms(poses_rad=q_np[:10000])
    t_np = best_of(lambda: model.lengths_and_moment_arms(poses_rad=q_np), 3)
    lengths, mas = model.lengths_and_moment_arms(poses_rad=q_os)

    n_os, n_np = len(q_os), len(q_np)
    ps_os_ref, ps_os_full, ps_np = n_os / t_os_ref, n_os / t_os_full, n_np / t_np
    print("\nLengths + moment arms of the hip extensors (one core)")
    print(f"  OpenSim, lengths + hip-flexion MA (+ knee MA of hamstrings): {ps_os_ref:12,.0f} poses/s "
          f"({n_os} poses)")
    print(f"  OpenSim, lengths + MA about all 4 coordinates:               {ps_os_full:12,.0f} poses/s")
    print(f"  hipext numpy, lengths + MA about all 4 coordinates:          {ps_np:12,.0f} poses/s ({n_np:,} poses)")
    print(f"  ratio numpy / OpenSim: {ps_np / ps_os_ref:,.0f}x (reference protocol), "
          f"{ps_np / ps_os_full:,.0f}x (all 4 coordinates)")

    e_len = (lengths - ref["lengths_m"]) * 1e3
    e_ma = (mas - ref["moment_arms_m"]) * 1e3
    print(f"\nAccuracy against OpenSim on the {n_os} OpenSim poses (mm)")
    head = "".join(f"{'MA ' + c[:9] + ' RMS':>22}" for c in COORDINATES)
    print(f"  {'muscle':<14}{'len RMS':>9}{'len max':>9}{head}{'MA max':>9}")
    for j, mname in enumerate(model.muscles):
        rms_ma = np.sqrt(np.mean(e_ma[:, j] ** 2, axis=0))
        print(f"  {mname:<14}{np.sqrt(np.mean(e_len[:, j] ** 2)):9.3f}{np.abs(e_len[:, j]).max():9.3f}"
              + "".join(f"{v:22.3f}" for v in rms_ma) + f"{np.abs(e_ma[:, j]).max():9.2f}")
    print(f"  worst per-muscle RMS: length {np.sqrt(np.mean(e_len ** 2, axis=0)).max():.3f} mm, "
          f"moment arm {np.sqrt(np.mean(e_ma ** 2, axis=0)).max():.3f} mm")

    # --- Maximum isometric hip extension torque
    qf = q_os[: args.force_poses]
    t0 = time.perf_counter()
    forces = leg.isometric_forces(qf)
    t_os_force = time.perf_counter() - t0
    tau_os = (np.clip(-ref["moment_arms_m"][: len(qf), :, 0], 0, None) * forces).sum(axis=1)
    nf = min(n_np, 200_000)
    model.hip_extension_torque(poses_rad=q_np[:1000])
    t_np_force = best_of(lambda: model.hip_extension_torque(poses_rad=q_np[:nf]), 2)
    tau_np = model.hip_extension_torque(poses_rad=qf)["total_nm"]
    rel = (tau_np / tau_os - 1) * 100
    print("\nMaximum isometric hip extension torque (a = 1, compliant tendons solved to equilibrium)")
    print(f"  OpenSim equilibrateMuscles + realizeDynamics: {len(qf) / t_os_force:10,.0f} poses/s")
    print(f"  hipext numpy (model curves, equilibrium):    {nf / t_np_force:10,.0f} poses/s "
          f"-> {nf / t_np_force / (len(qf) / t_os_force):,.0f}x")
    print(f"  error vs OpenSim: mean |e| {np.abs(rel).mean():.2f} %, max |e| {np.abs(rel).max():.2f} % "
          f"(torque range {tau_os.min():.0f}..{tau_os.max():.0f} N m)")
    tau_dg = model.hip_extension_torque(poses_rad=qf, curves="degroote2016")["total_nm"]
    rel_dg = (tau_dg / tau_os - 1) * 100
    print(f"  with De Groote 2016 curves instead: mean |e| {np.abs(rel_dg).mean():.1f} %, "
          f"max |e| {np.abs(rel_dg).max():.1f} %")


if __name__ == "__main__":
    main()
