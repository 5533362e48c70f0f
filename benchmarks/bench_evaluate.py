"""Benchmark: `hipext evaluate` start to finish, and evaluation time against the number of visits.

Run: .venv/bin/python benchmarks/bench_evaluate.py [--runs 7] [--json]

1. `hipext evaluate` on a 10-visit case (a subprocess, interpreter start included) against `python -c "import
   pydantic, yaml"` (the floor any pydantic + YAML CLI pays), alternating, CPU time of each child (user + system)
   and wall time; goal: at most 1.5x the floor. Warm: the resident server answers; ALL its CPU is counted, the
   client's (RUSAGE_CHILDREN) plus the server's during the call (/proc/PID/task/*/schedstat before and after).
   Cold: no server (HIPEXT_NO_SERVER=1), the command in process as before. Also the server's start-up CPU and PSS.
2. `evaluate_case` in process at 1, 10, 100 and 1,000 visits, the sizes alternating in each round: CPU ms per
   visit; goal: linear (ms per visit at 1,000 visits within 10 % of that at 100).
3. An uncached evaluation as the web makes it: `evaluate_case` in process on each demo clinic case (warm process, no
   stored result); goal: at most 5 ms of CPU for the largest.

The children run with bytecode written (as an installed package has it: pip compiles at install), and the first
run of each fills the per-user data cache, as any first use does; the figures are of the runs after it.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
GOAL_CLI_RATIO = 1.5
GOAL_LINEARITY = 1.10
GOAL_UNCACHED_MS = 5.0
DEMO_DAY = dt.date(2026, 12, 1)


def ten_visit_case() -> dict:
    case = yaml.safe_load((ROOT / "examples" / "athlete-hamstring.yaml").read_text())
    base = case["visits"][-1]
    visits = []
    for i in range(10):
        visit = copy.deepcopy(base)
        visit["date"] = (dt.date(2026, 10, 27) + dt.timedelta(weeks=2 * i)).isoformat()  # after the onset
        for m in visit["measurements"]:
            if "trials_n" in m:
                m["trials_n"] = [round(x * (0.8 + 0.02 * i), 1) for x in m["trials_n"]]
        visit["measurements"].append({"test": "chair_stand_30s", "reps": 14 + i % 3})
        visit["measurements"].append({"test": "five_times_sit_to_stand", "time_s": 9.5 - 0.1 * i})
        visits.append(visit)
    case["visits"] = visits
    return case


def n_visit_case(n: int) -> dict:
    case = ten_visit_case()
    last, first = case["visits"][-1], dt.date(2010, 1, 4)
    case["visits"] = [dict(copy.deepcopy(last), date=(first + dt.timedelta(days=7 * i)).isoformat())
                      for i in range(n)]
    case["history"]["onset"]["date"] = (first - dt.timedelta(days=7)).isoformat()  # a consistent case: onset first
    return case


CONSOLE_SCRIPT = """import sys
from hipext.resident.client import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""  # what pip writes for the `hipext` entry point (the installed script may predate the entry point's change)
SETTLE_S = 0.05  # after a warm call, before reading the server's CPU: it collects the request's garbage after replying


def child_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU s of the child, wall s)."""
    r0, w0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(proc.stderr.decode()[-2000:])
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), wall


def process_cpu_s(pid: int) -> float:
    """CPU time of every thread of a process so far: the scheduler's nanosecond count (/proc/PID/task/*/schedstat),
    not /proc/PID/stat's 10 ms ticks."""
    return sum(int((t / "schedstat").read_text().split()[0]) for t in Path(f"/proc/{pid}/task").iterdir()) / 1e9


def process_ticks_s(pid: int) -> float:
    """utime + stime from /proc/PID/stat (clock ticks): a coarse cross-check of ``process_cpu_s``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(cmd: list[str], env: dict[str, str], run_dir: Path) -> int:
    """The first call (no server): runs in process and starts the server; its pid once it serves."""
    child_cpu(cmd, env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (run_dir / "server.sock").exists() and (run_dir / "server.pid").exists():
            return int((run_dir / "server.pid").read_text())
        time.sleep(0.05)
    sys.exit("the resident server did not start")


def server_status(script: Path, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, str(script), "server", "status"], capture_output=True, text=True,
                          env=env).stdout


def main() -> None:
    ap = _bench.parser(__doc__)
    ap.add_argument("--runs", type=int, default=7, help="alternating runs of each command")
    args = ap.parse_args()
    report = _bench.Report("evaluate: CLI start to finish, and cost per visit")

    # The children run with .pyc files (as installed) and this tree's source, each with its own server directory.
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "HIPEXT_NO_SERVER")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), base.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="hx") as tmp:
        run_dir = Path(tmp) / "run"
        warm_env = dict(base, HIPEXT_RUNTIME_DIR=str(run_dir), HIPEXT_SERVER_IDLE_S="120")
        cold_env = dict(warm_env, HIPEXT_NO_SERVER="1")
        path = Path(tmp) / "ten-visits.yaml"
        case = ten_visit_case()
        path.write_text(yaml.safe_dump(case, sort_keys=False))
        script = Path(tmp) / "hipext"
        script.write_text(CONSOLE_SCRIPT)
        outs = {k: Path(tmp) / f"{k}.json" for k in ("cold", "warm")}
        hipext = [sys.executable, str(script), "evaluate", str(path), "--out"]
        floor = [sys.executable, "-c", "import pydantic, yaml"]
        # For reference only: what the CLI's own framework costs before any hipext code (a model class, Typer).
        framework = [sys.executable, "-c", "import yaml, typer\nfrom pydantic import BaseModel\n"
                     "class M(BaseModel):\n    x: int = 0\nM()"]
        cmds = {"cold": (hipext + [str(outs["cold"])], cold_env), "warm": (hipext + [str(outs["warm"])], warm_env),
                "floor": (floor, base), "framework": (framework, base)}
        child_cpu(*cmds["cold"])  # the first run fills the per-user data cache (and .pyc files), as any first use does
        pid = start_server(*cmds["warm"], run_dir)
        status = server_status(script, warm_env)
        child_cpu(*cmds["warm"])  # the server's first request
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        server_cpu: list[float] = []
        ticks0 = process_ticks_s(pid)
        try:
            for i in range(args.runs):
                order = list(cmds)[i % len(cmds):] + list(cmds)[:i % len(cmds)]
                for name in order:
                    if name == "warm":
                        s0 = process_cpu_s(pid)
                        runs[name].append(child_cpu(*cmds[name]))
                        time.sleep(SETTLE_S)
                        server_cpu.append(process_cpu_s(pid) - s0)
                    else:
                        runs[name].append(child_cpu(*cmds[name]))
            ticks = process_ticks_s(pid) - ticks0
            served = server_status(script, warm_env)
        finally:
            subprocess.run([sys.executable, str(script), "server", "stop"], capture_output=True, env=warm_env)
        same_document = outs["cold"].read_bytes() == outs["warm"].read_bytes()
    if f"pid {pid}," not in served or f" {args.runs + 1} request(s) served" not in served:
        sys.exit(f"the warm calls were not all served by the server: {served}")
    client = [c for c, _ in runs["warm"]]
    total = [c + s for c, s in zip(client, server_cpu, strict=True)]
    cpu = {k: min(c for c, _ in v) for k, v in runs.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
    n_meas = sum(len(v["measurements"]) for v in case["visits"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report.figure(f"hipext evaluate, warm (server running), 10 visits, {n_meas} measurements: client + server CPU, "
                  "best run", min(total) * 1e3, "ms",
                  note=f"median {statistics.median(total) * 1e3:.1f} ms; client best {min(client) * 1e3:.1f} ms, "
                  f"server best {min(server_cpu) * 1e3:.1f} ms (scheduler ns; /proc stat ticks over all runs: "
                  f"{ticks / args.runs * 1e3:.0f} ms per call); median wall {wall['warm'] * 1e3:.0f} ms; "
                  f"load average {load}")
    report.figure("hipext evaluate, cold (no server: in process, as before), CPU best run", cpu["cold"] * 1e3, "ms",
                  note=f"{cpu['cold'] / cpu['floor']:.2f}x the floor: the first call after an idle exit, and every "
                  f"call with HIPEXT_NO_SERVER=1; median wall {wall['cold'] * 1e3:.0f} ms")
    report.figure('python -c "import pydantic, yaml" (CPU, best run)', cpu["floor"] * 1e3, "ms",
                  note=f"median wall {wall['floor'] * 1e3:.0f} ms")
    report.figure("reference: yaml + typer + one pydantic model class (CPU, best run)", cpu["framework"] * 1e3,
                  "ms", note=f"{cpu['framework'] / cpu['floor']:.2f}x the floor before any hipext code; "
                  f"median wall {wall['framework'] * 1e3:.0f} ms")
    start_cpu = float(status.split("start-up CPU ")[1].split(" ms")[0])
    pss = status.split("memory (PSS) ")[1].split(",")[0]
    report.figure("resident server: start-up CPU (imports, evidence, warm-up evaluation; once per idle period)",
                  start_cpu, "ms", note=f"memory (PSS) {pss} after start-up; paid after a cold call, not waited for")
    report.check("warm and cold calls write the same document", float(same_document), "", limit="identical",
                 ok=same_document)
    ratio = min(total) / cpu["floor"]
    report.figure("hipext evaluate warm (client + server CPU) / import pydantic, yaml", ratio, "x",
                  goal=f"<= {GOAL_CLI_RATIO}x", met=ratio <= GOAL_CLI_RATIO)

    from hipext.app import evaluate_case
    from hipext.core.case import Case

    evaluate_case(Case.model_validate(n_visit_case(2)))
    # Sizes alternate within each round (the same machine load for each), each timed over about the same work.
    reps = {1: 100, 10: 20, 100: 10, 1000: 1}
    cases = {n: Case.model_validate(n_visit_case(n)) for n in reps}
    t = _bench.alternate({str(n): lambda n=n: [evaluate_case(cases[n]) for _ in range(reps[n])] for n in reps},
                         max(4, args.rounds))
    per_visit = {}
    for n in reps:
        ms = t[str(n)].best_cpu_s / reps[n] * 1e3
        per_visit[n] = ms / n
        report.figure(f"evaluate_case, {n:,} visit(s)", ms, "ms", note=f"{ms / n:.2f} ms per visit")
    lin = per_visit[1000] / per_visit[100]
    report.figure("linearity: ms per visit at 1,000 / at 100 visits", lin, "x", goal=f"<= {GOAL_LINEARITY}",
                  met=lin <= GOAL_LINEARITY)

    from hipext.caseio import parse_case
    from hipext.web.demo import demo_cases

    demo = [parse_case(c) for c in demo_cases(DEMO_DAY)]
    for c in demo:
        evaluate_case(c, as_of=DEMO_DAY)  # a warm worker (one warm-up evaluation), but no stored result
    t = _bench.alternate({c.patient.id: lambda c=c: [evaluate_case(c, as_of=DEMO_DAY) for _ in range(10)]
                          for c in demo}, max(3, args.rounds))
    uncached = {c.patient.id: t[c.patient.id].best_cpu_s / 10 * 1e3 for c in demo}
    for c in demo:
        n_meas = sum(len(v.measurements) for v in c.visits)
        report.figure(f"uncached evaluate_case, demo {c.patient.id} ({len(c.visits)} visits, {n_meas} measurements)",
                      uncached[c.patient.id], "ms", note="CPU, best of the rounds (10 evaluations each)")
    worst = max(uncached.values())
    report.figure("uncached evaluation, largest demo case (CPU)", worst, "ms", goal=f"<= {GOAL_UNCACHED_MS:g} ms",
                  met=worst <= GOAL_UNCACHED_MS)
    report.emit(args.json)


if __name__ == "__main__":
    main()
