"""Benchmark: `hipext evaluate` start to finish, and evaluation time against the number of visits.

Run: .venv/bin/python benchmarks/bench_evaluate.py [--runs 7] [--json]

1. `hipext evaluate` on a 10-visit case (a subprocess, interpreter start included) against `python -c "import
   pydantic, yaml"` (the floor any pydantic + YAML CLI pays), alternating, CPU time of each child (user + system)
   and wall time; goal: at most 1.5x the floor.
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


def child_cpu(cmd: list[str]) -> tuple[float, float]:
    """(CPU s of the child, wall s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc files
    r0, w0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(proc.stderr.decode()[-2000:])
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), wall


def main() -> None:
    ap = _bench.parser(__doc__)
    ap.add_argument("--runs", type=int, default=7, help="alternating runs of each command")
    args = ap.parse_args()
    report = _bench.Report("evaluate: CLI start to finish, and cost per visit")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten-visits.yaml"
        case = ten_visit_case()
        path.write_text(yaml.safe_dump(case, sort_keys=False))
        hipext = [str(Path(sys.executable).with_name("hipext")), "evaluate", str(path), "--out", str(Path(tmp) / "o")]
        floor = [sys.executable, "-c", "import pydantic, yaml"]
        # For reference only: what the CLI's own framework costs before any hipext code (a model class, Typer).
        framework = [sys.executable, "-c", "import yaml, typer\nfrom pydantic import BaseModel\n"
                     "class M(BaseModel):\n    x: int = 0\nM()"]
        cmds = {"hipext": hipext, "floor": floor, "framework": framework}
        child_cpu(hipext)  # the first run fills the per-user data cache (and .pyc files), as any first use does
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for i in range(args.runs):
            order = list(cmds)[i % len(cmds):] + list(cmds)[:i % len(cmds)]
            for name in order:
                runs[name].append(child_cpu(cmds[name]))
    cpu = {k: min(c for c, _ in v) for k, v in runs.items()}
    wall = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
    n_meas = sum(len(v["measurements"]) for v in case["visits"])
    report.figure(f"hipext evaluate, 10 visits, {n_meas} measurements (CPU, best run)", cpu["hipext"] * 1e3, "ms",
                  note=f"median wall {wall['hipext'] * 1e3:.0f} ms")
    report.figure('python -c "import pydantic, yaml" (CPU, best run)', cpu["floor"] * 1e3, "ms",
                  note=f"median wall {wall['floor'] * 1e3:.0f} ms")
    report.figure("reference: yaml + typer + one pydantic model class (CPU, best run)", cpu["framework"] * 1e3,
                  "ms", note=f"{cpu['framework'] / cpu['floor']:.2f}x the floor before any hipext code; "
                  f"median wall {wall['framework'] * 1e3:.0f} ms")
    ratio = cpu["hipext"] / cpu["floor"]
    report.figure("hipext evaluate / import pydantic, yaml", ratio, "x", goal=f"<= {GOAL_CLI_RATIO}x",
                  met=ratio <= GOAL_CLI_RATIO)

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
