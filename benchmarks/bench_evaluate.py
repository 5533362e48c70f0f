"""Time `hipext evaluate` on a 10-visit case, interpreter start included. Target: under 1 s.

Run: .venv/bin/python benchmarks/bench_evaluate.py [--runs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def ten_visit_case() -> dict:
    case = yaml.safe_load((ROOT / "examples" / "athlete-hamstring.yaml").read_text())
    base = case["visits"][-1]
    visits = []
    for i in range(10):
        visit = yaml.safe_load(yaml.safe_dump(base))
        visit["date"] = (dt.date(2026, 6, 1) + dt.timedelta(weeks=2 * i)).isoformat()
        for m in visit["measurements"]:
            if "trials_n" in m:
                m["trials_n"] = [round(x * (0.8 + 0.02 * i), 1) for x in m["trials_n"]]
        visit["measurements"].append({"test": "chair_stand_30s", "reps": 14 + i % 3})
        visit["measurements"].append({"test": "five_times_sit_to_stand", "time_s": 9.5 - 0.1 * i})
        visits.append(visit)
    case["visits"] = visits
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten-visits.yaml"
        case = ten_visit_case()
        path.write_text(yaml.safe_dump(case, sort_keys=False))
        n_measurements = sum(len(v["measurements"]) for v in case["visits"])
        cmd = [str(Path(sys.executable).with_name("hipext")), "evaluate", str(path)]
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.exit(proc.stderr.decode())
    print(f"hipext evaluate, 10 visits, {n_measurements} measurements, JSON, interpreter start included")
    print(f"  runs {args.runs}: min {min(times):.3f} s, median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
