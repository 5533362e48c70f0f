"""Benchmark: hipext batch, trials per second serially and on a local Dask cluster, and hipext's per-trial hip
extensor static optimisation against OpenSim's own StaticOptimization tool.

Run: .venv/bin/python benchmarks/bench_batch.py [--trials 1000] [--workers 2] [--rounds 3] [--cli-rounds 2]
                                                [--opensim-trials 3] [--no-opensim] [--json out.json]

1. Batch. ``--trials`` walking trials: the shared gait2392 walking example (kinematics + inverse dynamics), each
   with its moments scaled (x0.8-1.2) and Gaussian noise added (SD 2 % of each column's peak), written as
   ``.mot``/``.sto`` pairs. Every trial runs ``analyse_trial`` (the function of ``hipext model task``: read,
   align, check units, capacity and its share check, static optimisation of the 12 hip extensors). Rounds
   alternate serial, plain processes and the warm Dask cluster (``--rounds``; best and median reported); rows are
   checked equal between serial and Dask. Reported apart, and never hidden in the headline: the cluster's
   start-up (cluster, then each worker's imports, model and compiled kernel); a speed-up from CPU time (every CPU
   second of the cluster, client, scheduler and nannies included, over the cores: the figure for idle cores); the
   machine's ceiling at the moment (the same trials split evenly over plain processes, no Dask: under load, what
   any parallel run could get); and ``hipext batch`` end to end, serial against a local cluster, each a fresh
   process (``--cli-rounds``), start-up included. Wall-time figures are only meaningful on idle cores: the load
   average is printed with them.
2. OpenSim. The peer is OpenSim 4.6's StaticOptimization tool (AnalyzeTool) as a competent user runs it: the
   RajagopalLaiUhlrich2023 model reduced to the same 12 right hip extensors plus reserve actuators (10 N m on hip
   flexion and knee, as in hipext's run; 1000 on every other coordinate so it is free), the walking kinematics
   (filtered at 6 Hz by the tool) and ground reaction forces (scaled x0.8-1.2 with noise per trial), model loaded
   once, one tool run per trial, default optimiser settings. hipext gets the same trial: the kinematics the tool
   used and the hip and knee moments OpenSim's optimiser balanced at each frame (rebuilt from its solution with
   OpenSim's own moment arms). Outputs compared: every frame's 12 activations. Timed alternately per trial,
   wall and CPU.

Targets: local cluster >= 1.7x serial on 2 cores; hipext per trial >= 100x OpenSim's tool.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hipext.batch import collect, local_client, run_chunk, run_on_dask, run_serial  # noqa: E402
from hipext.biomech.tasks import read_storage  # noqa: E402
from hipext.biomech.trial import PersonSpec, TrialSpec, analyse_trial  # noqa: E402

SHARED = ROOT.parent / "shared" if (ROOT.parent / "shared").exists() else Path("/work/shared")
WALK = SHARED / "data" / "walking_gait2392"
TARGET_DASK = 1.7
TARGET_OPENSIM = 100.0
RESERVE_NM = 10.0
PERSON = {"sex": "male", "age": 30, "body_mass_kg": 72.6, "height_m": 1.8, "measured_torque_nm": 180.0,
          "test_hip_flexion_deg": 0.0, "test_knee_flexion_deg": 0.0}


def write_table_file(path: Path, columns: list[str], data: np.ndarray, *, title: str, in_degrees: str) -> None:
    head = [title, "version=1", f"nRows={len(data)}", f"nColumns={len(columns)}", f"inDegrees={in_degrees}",
            "endheader", "\t".join(columns)]
    body = ["\t".join(f"{v:.8f}" for v in row) for row in data]
    path.write_text("\n".join(head + body) + "\n")


def make_trials(n: int, root: Path, seed: int = 0) -> None:
    """n walking trials: shared kinematics, moments scaled and with noise."""
    rng = np.random.default_rng(seed)
    ik = (WALK / "subject01_walk1_ik.mot").read_text()
    mom = read_storage(WALK / "subject01_walk1_inverse_dynamics.sto")
    peaks = np.abs(mom.data[:, 1:]).max(axis=0)
    for i in range(n):
        d = mom.data.copy()
        d[:, 1:] = d[:, 1:] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.02, d[:, 1:].shape) * peaks
        (root / f"walk{i:04d}_ik.mot").write_text(ik)
        write_table_file(root / f"walk{i:04d}_inverse_dynamics.sto", list(mom.columns), d,
                         title="Inverse Dynamics Generalized Forces", in_degrees="no")


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _timed_chunk(items: list[Any]) -> tuple[int, float]:
    """``run_chunk`` in a plain process: rows made and the CPU seconds they took."""
    c = time.process_time()
    return len(run_chunk(items)), time.process_time() - c


def _verdict(value: float, goal: float) -> str:
    return "MET" if value >= goal else "NOT MET"


def _children_cpu() -> float:
    """CPU seconds of every finished child process and of the children it waited for (a CLI run and its
    Dask workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_cli(folder: Path, workers: int, rounds: int) -> dict[str, Any]:
    """End to end, as a user runs it: ``hipext batch FOLDER --serial`` against ``hipext batch FOLDER``
    (a local cluster started and stopped by the command), alternating, each a fresh process that also reads
    the trials and writes the table. This is the figure with the cluster's start-up in it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "hipext", "batch", str(folder), "--no-progress", "--sex", PERSON["sex"],
            "--age", str(PERSON["age"]), "--mass-kg", str(PERSON["body_mass_kg"]),
            "--height-m", str(PERSON["height_m"])]
    out: dict[str, list[tuple[float, float]]] = {"serial": [], "cluster": []}
    for _ in range(rounds):
        for mode, extra in (("serial", ["--serial"]), ("cluster", ["--workers", str(workers)])):
            c, w = _children_cpu(), time.perf_counter()
            subprocess.run([*base, *extra, "--out", str(folder.parent / f"cli_{mode}")], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            out[mode].append((time.perf_counter() - w, _children_cpu() - c))
    s, d = min(w for w, _ in out["serial"]), min(w for w, _ in out["cluster"])
    return {"cli_serial_wall_s": [w for w, _ in out["serial"]], "cli_serial_cpu_s": [c for _, c in out["serial"]],
            "cli_cluster_wall_s": [w for w, _ in out["cluster"]],
            "cli_cluster_cpu_s": [c for _, c in out["cluster"]], "cli_speedup": s / d}


def bench_batch(n: int, workers: int, rounds: int, cli_rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hipext-bench-batch-"))
    try:
        t = time.perf_counter()
        folder = tmp / "trials"
        folder.mkdir()
        make_trials(n, folder)
        print(f"wrote {n} walking trials in {time.perf_counter() - t:.1f} s ({folder})")
        items = collect([str(folder)], person=PERSON)
        assert len(items) == n and all(i.kind == "trial" for i in items)
        run_serial(items[:3])  # warm: modules imported, model loaded, the kernel's compiled code loaded

        # Start-up: the cluster, then each worker warmed the same way (imports, model, compiled kernel).
        w0, c0 = time.perf_counter(), time.process_time()
        client = local_client(workers)
        startup_cluster = time.perf_counter() - w0
        client.run(run_chunk, items[:3])
        startup = time.perf_counter() - w0
        startup_cpu = time.process_time() - c0 + float(sum(client.run(time.process_time).values()))

        def cpu_workers() -> float:
            return float(sum(client.run(time.process_time).values()))

        # The machine's ceiling at the moment: the same trials split evenly over plain worker processes (no
        # scheduler, no client, no chunking). On idle cores this is close to the core count; when other work
        # shares the cores it shows what any parallel run could get, and so what is Dask's own cost.
        plain = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=run_chunk, initargs=(items[:3],))
        halves = [items[k::workers] for k in range(workers)]
        list(plain.map(abs, range(4 * workers)))  # every process started and warmed
        serial_wall, serial_cpu, dask_wall, dask_cpu, client_cpu, loads = [], [], [], [], [], []
        plain_wall: list[float] = []
        plain_cpu: list[float] = []
        rows_s: list[dict[str, Any]] = []
        rows_d: list[dict[str, Any]] = []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            rows_s = run_serial(items)
            serial_wall.append(time.perf_counter() - w0)
            serial_cpu.append(time.process_time() - c0)
            w0 = time.perf_counter()
            done = list(plain.map(_timed_chunk, halves))
            plain_wall.append(time.perf_counter() - w0)
            plain_cpu.append(sum(c for _, c in done))
            assert sum(k for k, _ in done) == n
            c0, w0, m0 = cpu_workers(), time.perf_counter(), time.process_time()
            rows_d = run_on_dask(items, client)
            dask_wall.append(time.perf_counter() - w0)
            client_cpu.append(time.process_time() - m0)  # client, scheduler and nannies: all in this process
            dask_cpu.append(cpu_workers() - c0)
            loads.append(os.getloadavg()[0])
        info = client.scheduler_info()["workers"]
        plain.shutdown()
        client.close()
        client.cluster.close()
        assert _strip(rows_s) == _strip(rows_d), "serial and Dask rows differ"
        errors = sum(1 for r in rows_s if r["error"])
        cli = bench_cli(folder, workers, cli_rounds) if cli_rounds else {}
        s, d = min(serial_wall), min(dask_wall)
        cores = os.cpu_count() or 1
        # Every CPU second the cluster spent (workers, client, scheduler, nannies) spread over the cores: the wall
        # time the same work needs on otherwise idle cores. Under load, wall time measures our share of the CPU.
        cluster_cpu = [w + c for w, c in zip(dask_cpu, client_cpu, strict=True)]
        return {
            "trials": n, "workers": len(info), "cores": cores, "rounds": rounds,
            "errors": errors, "rows_equal": True,
            "serial_wall_s": serial_wall, "serial_cpu_s": serial_cpu,
            "dask_wall_s": dask_wall, "dask_worker_cpu_s": dask_cpu, "dask_client_cpu_s": client_cpu,
            "load_average_after_each_round": loads,
            "dask_startup_s": startup, "dask_startup_cluster_s": startup_cluster, "dask_startup_cpu_s": startup_cpu,
            "speedup_from_cpu_time": min(serial_cpu) / (min(cluster_cpu) / min(cores, len(info))),
            "serial_trials_per_s": n / s, "dask_trials_per_s": n / d,
            "dask_trials_per_s_with_startup": n / (d + startup),
            "speedup": s / d, "speedup_median": statistics.median(serial_wall) / statistics.median(dask_wall),
            "plain_processes_wall_s": plain_wall, "plain_processes_cpu_s": plain_cpu,
            "ceiling_speedup": s / min(plain_wall),
            "dask_share_of_ceiling": min(plain_wall) / d,
            "speedup_with_startup": s / (d + startup),
            "break_even_trials": (startup / (s / n - d / n)) if s > d else None,
            "speedup_target": TARGET_DASK, **cli,
            "load_average": os.getloadavg(),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------ OpenSim
class OpenSimSO:
    """OpenSim's StaticOptimization tool on the RajagopalLaiUhlrich2023 model reduced to hipext's 12 muscles."""

    def __init__(self, work: Path, muscles: tuple[str, ...]) -> None:
        import opensim as osim

        osim.Logger.setLevelString("off")
        self.osim = osim
        self.work = work
        self.muscles = muscles
        m = osim.Model(str(SHARED / "models" / "RajagopalLaiUhlrich2023.osim"))
        fs = m.getForceSet()
        for i in reversed(range(fs.getSize())):
            f = fs.get(i)
            if f.getConcreteClassName() == "CoordinateActuator" or (
                    f.getConcreteClassName().endswith("Muscle") and f.getName() not in muscles):
                fs.remove(i)
        for name in muscles:  # activations bounded 0..1, as in hipext
            mu = osim.Millard2012EquilibriumMuscle.safeDownCast(fs.get(name))
            mu.set_minimum_activation(0.0)
            mu.set_min_control(0.0)
        for c in m.getCoordinateSet():
            if c.getName().endswith("_beta"):  # patella coupler: dependent coordinate
                continue
            a = osim.CoordinateActuator(c.getName())
            a.setName(f"reserve_{c.getName()}")
            a.setOptimalForce(RESERVE_NM if c.getName() in ("hip_flexion_r", "knee_angle_r") else 1000.0)
            a.setMinControl(-np.inf)
            a.setMaxControl(np.inf)
            m.addForce(a)
        m.finalizeConnections()
        self.model_file = work / "rajagopal_hip_extensors_so.osim"
        m.printToXML(str(self.model_file))
        self.model = osim.Model(str(self.model_file))
        self.state = self.model.initSystem()
        self.kinematics = work / "walk_q.mot"
        self._write_kinematics()

    def _write_kinematics(self) -> None:
        """gait2392 coordinates as the Rajagopal model names them (knee flexion positive, patella coupler)."""
        st = read_storage(WALK / "subject01_walk1_ik.mot")
        cols = {c: st.column(c).copy() for c in st.columns[1:]}
        for s in "rl":
            cols[f"knee_angle_{s}"] = -cols[f"knee_angle_{s}"]
            cols[f"knee_angle_{s}_beta"] = cols[f"knee_angle_{s}"]
        names = list(cols)
        write_table_file(self.kinematics, ["time", *names], np.column_stack([st.column("time")] +
                                                                            [cols[c] for c in names]),
                         title="kinematics", in_degrees="yes")

    def grf(self, i: int, rng: np.random.Generator) -> Path:
        st = read_storage(WALK / "subject01_walk1_grf.mot")
        d = st.data.copy()
        force = [k for k, c in enumerate(st.columns) if "force_v" in c or "torque" in c]
        d[:, force] = d[:, force] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.01, (len(d), len(force))) * \
            np.abs(d[:, force]).max(axis=0)
        data = self.work / f"grf{i}.mot"
        write_table_file(data, list(st.columns), d, title="grf", in_degrees="yes")
        el = self.osim.ExternalLoads()
        for side, pre in (("r", ""), ("l", "1_")):
            ef = self.osim.ExternalForce()
            ef.setName(f"grf_{side}")
            ef.set_applied_to_body(f"calcn_{side}")
            ef.set_force_expressed_in_body("ground")
            ef.set_point_expressed_in_body("ground")
            ef.set_force_identifier(f"{pre}ground_force_v")
            ef.set_point_identifier(f"{pre}ground_force_p")
            ef.set_torque_identifier(f"{pre}ground_torque_")
            el.cloneAndAppend(ef)
        el.setDataFileName(str(data))
        xml = self.work / f"grf{i}.xml"
        el.printToXML(str(xml))
        return xml

    def setup(self, i: int, loads: Path, t0: float, t1: float) -> Path:
        osim = self.osim
        at = osim.AnalyzeTool()
        at.setName(f"so{i}")
        at.setModelFilename(str(self.model_file))
        at.setCoordinatesFileName(str(self.kinematics))
        at.setExternalLoadsFileName(str(loads))
        at.setLowpassCutoffFrequency(6.0)
        at.setInitialTime(t0)
        at.setFinalTime(t1)
        at.setResultsDir(str(self.work))
        so = osim.StaticOptimization()
        so.setStartTime(t0)
        so.setEndTime(t1)
        so.setUseModelForceSet(True)
        so.setActivationExponent(2)
        so.setUseMusclePhysiology(True)
        at.getAnalysisSet().cloneAndAppend(so)
        path = self.work / f"setup_so{i}.xml"
        at.printToXML(str(path))
        return path

    def load(self, setup: Path) -> Any:
        """The tool for one trial, its model and kinematics loaded (not timed: a script could keep it)."""
        return self.osim.AnalyzeTool(str(setup))

    def run(self, setup: Path) -> float:
        """One trial through OpenSim's tool; returns the wall time of ``run()`` alone."""
        tool = self.load(setup)
        t = time.perf_counter()
        tool.run()
        return time.perf_counter() - t

    def balanced_moments(self, i: int) -> Path:
        """The hip flexion and knee moments OpenSim's optimiser balanced at each frame: muscle forces times
        OpenSim's moment arms plus the reserve, written as an inverse-dynamics file for hipext."""
        f = read_storage(self.work / f"so{i}_StaticOptimization_force.sto")
        q = read_storage(self.kinematics)
        m, s = self.model, self.state
        cs = m.getCoordinateSet()
        hip, knee = cs.get("hip_flexion_r"), cs.get("knee_angle_r")
        out = []
        for k, t in enumerate(f.column("time")):
            for c in q.columns[1:]:
                v = np.interp(t, q.column("time"), q.column(c))
                cs.get(c).setValue(s, v if c.startswith("pelvis_t") else np.deg2rad(v), False)
            m.assemble(s)
            m.realizePosition(s)
            h = f.column("reserve_hip_flexion_r")[k]
            kn = f.column("reserve_knee_angle_r")[k]
            for name in self.muscles:
                mu = m.getMuscles().get(name)
                h += f.column(name)[k] * mu.computeMomentArm(s, hip)
                kn += f.column(name)[k] * mu.computeMomentArm(s, knee)
            out.append((t, h, kn))
        path = self.work / f"so{i}_balanced_moments.sto"
        write_table_file(path, ["time", "hip_flexion_r_moment", "knee_angle_r_moment"], np.array(out),
                         title="moments balanced by OpenSim StaticOptimization", in_degrees="no")
        return path

    def filtered_kinematics(self) -> Path:
        """The coordinates as the tool filtered them (pad, 6 Hz IIR low-pass), for hipext."""
        st = self.osim.Storage(str(self.kinematics))
        st.pad(st.getSize() // 2)
        st.lowpassIIR(6.0)
        st.setInDegrees(True)
        st.printResult(st, "walk_q_filtered", str(self.work), -1, ".mot")
        return self.work / "walk_q_filtered.mot"


def bench_opensim(k: int, rounds: int) -> dict[str, Any]:
    from hipext.biomech.model import HipExtensorModel

    model = HipExtensorModel.load()
    work = Path(tempfile.mkdtemp(prefix="hipext-bench-osim-"))
    try:
        rng = np.random.default_rng(1)
        peer = OpenSimSO(work, model.muscles)
        t0, t1 = 0.5, 1.6
        setups = [peer.setup(i, peer.grf(i, rng), t0, t1) for i in range(k)]
        peer.run(setups[0])  # the inputs hipext needs come from OpenSim's own solution
        kin = peer.filtered_kinematics()
        moments = []
        for i, stp in enumerate(setups):
            if i:
                peer.run(stp)
            moments.append(peer.balanced_moments(i))
        specs = [TrialSpec(name=f"so{i}", kinematics=kin, moments=m, side="r", residual_optimal_moment_nm=RESERVE_NM,
                           person=PersonSpec(**PERSON)) for i, m in enumerate(moments)]
        analyse_trial(specs[0])  # warm
        os_wall, os_cpu, hx_wall, hx_cpu = [], [], [], []
        diffs = []
        for _ in range(rounds):
            for i in range(k):
                tool = peer.load(setups[i])
                c, w = time.process_time(), time.perf_counter()
                tool.run()
                os_wall.append(time.perf_counter() - w)
                os_cpu.append(time.process_time() - c)
                del tool
                c, w = time.process_time(), time.perf_counter()
                res = analyse_trial(specs[i])
                hx_wall.append(time.perf_counter() - w)
                hx_cpu.append(time.process_time() - c)
                act_os = read_storage(work / f"so{i}_StaticOptimization_activation.sto")
                a_os = np.stack([act_os.column(mu) for mu in model.muscles], axis=1)
                a_hx = res.cycles[0].activations
                assert a_hx is not None
                n = min(len(a_os), len(a_hx))
                assert np.allclose(act_os.column("time")[:n], res.cycles[0].demand.time_s[:n], atol=1e-3)
                diffs.append(a_hx[:n] - a_os[:n])
        d = np.concatenate(diffs)
        frames = len(d) // (rounds * k)
        ratio_wall = statistics.median(os_wall) / statistics.median(hx_wall)
        ratio_cpu = statistics.median(os_cpu) / statistics.median(hx_cpu)
        return {
            "trials": k, "rounds": rounds, "frames_per_trial": frames, "muscles": len(model.muscles),
            "opensim_wall_s_per_trial": statistics.median(os_wall),
            "opensim_cpu_s_per_trial": statistics.median(os_cpu),
            "hipext_wall_s_per_trial": statistics.median(hx_wall),
            "hipext_cpu_s_per_trial": statistics.median(hx_cpu),
            "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu, "ratio_target": TARGET_OPENSIM,
            "activation_rms_difference": float(np.sqrt(np.mean(d ** 2))),
            "activation_max_difference": float(np.abs(d).max()),
            "activation_p95_abs_difference": float(np.percentile(np.abs(d), 95)),
            "load_average": os.getloadavg(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cli-rounds", type=int, default=2, help="end-to-end command runs per mode (0: none)")
    ap.add_argument("--opensim-trials", type=int, default=3)
    ap.add_argument("--no-opensim", action="store_true", help="the batch figures only")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    b = bench_batch(args.trials, args.workers, args.rounds, args.cli_rounds)
    print(f"batch of {b['trials']} walking trials (analyse_trial: demand, capacity check, 12-muscle static "
          f"optimisation), {b['errors']} errors, serial and Dask rows equal: {b['rows_equal']}; "
          f"{b['rounds']} rounds alternating, best of each; load average after each round "
          f"{', '.join(f'{x:.1f}' for x in b['load_average_after_each_round'])} on {b['cores']} cores")
    print(f"  serial:             {b['serial_trials_per_s']:8.1f} trials/s  (wall {min(b['serial_wall_s']):.2f} s, "
          f"CPU {min(b['serial_cpu_s']):.2f} s)")
    print(f"  Dask, {b['workers']} workers:    {b['dask_trials_per_s']:8.1f} trials/s  (wall "
          f"{min(b['dask_wall_s']):.2f} s, CPU {min(b['dask_worker_cpu_s']):.2f} s in the workers + "
          f"{min(b['dask_client_cpu_s']):.2f} s client, scheduler and nannies)")
    print(f"  cluster start-up (apart): {b['dask_startup_s']:.2f} s wall ({b['dask_startup_cluster_s']:.2f} s "
          f"the cluster, the rest each worker's imports, model and compiled kernel), {b['dask_startup_cpu_s']:.2f} s "
          "CPU; " + (f"it pays for itself after {b['break_even_trials']:.0f} trials" if b["break_even_trials"]
                       else "the warm cluster was not faster in this run"))
    print(f"  speed-up, warm cluster (start-up apart): {b['speedup']:.2f}x best wall, {b['speedup_median']:.2f}x "
          f"median (goal >= {TARGET_DASK}x on 2 cores): {_verdict(b['speedup'], TARGET_DASK)}")
    print(f"  the machine's ceiling now: the same trials split over {b['workers']} plain processes (no Dask): "
          f"{b['ceiling_speedup']:.2f}x serial; the warm cluster reached {100 * b['dask_share_of_ceiling']:.0f} % of "
          "it (on idle cores the ceiling is near the core count; under load it shows what any parallel run gets); "
          f"CPU of the trials in the plain processes {min(b['plain_processes_cpu_s']):.2f} s against "
          f"{min(b['serial_cpu_s']):.2f} s serially (two processes running at once slow each other)")
    print(f"  speed-up from CPU time (all the cluster's CPU over the cores; idle-machine figure): "
          f"{b['speedup_from_cpu_time']:.2f}x: {_verdict(b['speedup_from_cpu_time'], TARGET_DASK)}")
    print(f"  speed-up with the start-up counted: {b['speedup_with_startup']:.2f}x: "
          f"{_verdict(b['speedup_with_startup'], TARGET_DASK)}")
    if "cli_speedup" in b:
        print(f"  end to end, `hipext batch` serial vs local cluster (fresh process each, start-up, reading, "
              f"table): {min(b['cli_serial_wall_s']):.2f} s vs {min(b['cli_cluster_wall_s']):.2f} s wall "
              f"(CPU {min(b['cli_serial_cpu_s']):.2f} s vs {min(b['cli_cluster_cpu_s']):.2f} s): "
              f"{b['cli_speedup']:.2f}x: {_verdict(b['cli_speedup'], TARGET_DASK)}")
    result: dict[str, Any] = {"batch": b}
    if not args.no_opensim:
        o = bench_opensim(args.opensim_trials, args.rounds)
        result["opensim"] = o
        print(f"static optimisation per trial, {o['frames_per_trial']} frames x {o['muscles']} hip extensors, "
              f"{o['trials']} trials x {o['rounds']} rounds alternating:")
        print(f"  OpenSim 4.6 StaticOptimization tool: {o['opensim_wall_s_per_trial'] * 1000:9.1f} ms wall, "
              f"{o['opensim_cpu_s_per_trial'] * 1000:9.1f} ms CPU per trial")
        print(f"  hipext analyse_trial (whole trial):  {o['hipext_wall_s_per_trial'] * 1000:9.1f} ms wall, "
              f"{o['hipext_cpu_s_per_trial'] * 1000:9.1f} ms CPU per trial")
        print(f"  ratio: {o['ratio_wall']:.0f}x wall, {o['ratio_cpu']:.0f}x CPU (goal >= {TARGET_OPENSIM:.0f}x): "
              f"{_verdict(o['ratio_wall'], TARGET_OPENSIM)} (wall), {_verdict(o['ratio_cpu'], TARGET_OPENSIM)} (CPU)")
        print(f"  same outputs: activations differ by RMS {o['activation_rms_difference']:.4f}, 95th percentile "
              f"{o['activation_p95_abs_difference']:.3f}, max {o['activation_max_difference']:.3f} (surrogate "
              "geometry and finite-difference joint speeds against OpenSim's splines)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
