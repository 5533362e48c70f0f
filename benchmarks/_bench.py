"""Shared by the benchmarks: alternating timed rounds (CPU and wall time), the machine, figures with goals, --json.

Every benchmark prints each figure with its goal and whether it is met; with ``--json`` it prints one JSON document
instead (machine, figures, checks), for `make bench` logs and for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_TMP = tempfile.TemporaryDirectory(prefix="hipext-bench-")


def single_core() -> None:
    """Pin BLAS to one thread (call before numpy is imported): figures are per core."""
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[v] = "1"


def model_with_only(model_path: Path, muscles: tuple[str, ...]) -> Path:
    """A copy of an OpenSim model whose force set holds only ``muscles`` (what a competent user studying these
    muscles does: the other forces cost time at every realisation and change none of these paths)."""
    tree = ET.parse(model_path)
    forces = tree.getroot().find(".//ForceSet/objects")
    if forces is None:
        raise ValueError(f"model: {model_path} has no ForceSet")
    for el in list(forces):
        if el.get("name") not in muscles:
            forces.remove(el)
    missing = set(muscles) - {el.get("name") for el in forces}
    if missing:
        raise ValueError(f"muscles: {sorted(missing)} not in {model_path.name}")
    out = Path(_TMP.name) / f"{model_path.stem}_only_{len(muscles)}_muscles.osim"
    tree.write(out)
    return out


def parser(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timed rounds per contender")
    return ap


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version()}
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info


@dataclass
class Timing:
    """CPU (process_time) and wall (perf_counter) seconds of each round."""

    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    @property
    def best_cpu_s(self) -> float:
        return min(self.cpu_s)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_s)

    @property
    def best_wall_s(self) -> float:
        return min(self.wall_s)


def alternate(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """Time each contender once per round, rotating the order every round (same process, same load)."""
    names = list(contenders)
    out = {n: Timing() for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            c0, w0 = time.process_time(), time.perf_counter()
            contenders[n]()
            out[n].cpu_s.append(time.process_time() - c0)
            out[n].wall_s.append(time.perf_counter() - w0)
    return out


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    checks: list[Figure] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def figure(self, name: str, value: float, unit: str, *, goal: str = "", met: bool | None = None,
               note: str = "") -> None:
        self.figures.append(Figure(name, float(value), unit, goal, met, note))

    def check(self, name: str, value: float, unit: str, *, limit: str, ok: bool, note: str = "") -> None:
        """An equality check of the contenders' outputs, made in the same run."""
        self.checks.append(Figure(name, float(value), unit, limit, bool(ok), note))

    def emit(self, as_json: bool) -> None:
        doc = {"benchmark": self.benchmark, "machine": machine(), **self.context,
               "figures": [asdict(f) for f in self.figures], "checks": [asdict(c) for c in self.checks]}
        if as_json:
            json.dump(doc, sys.stdout, indent=2)
            print()
            return
        m = doc["machine"]
        print(f"== {self.benchmark}  [{m['cpu']}, {m['cpus']} CPUs, load {m.get('load_average_1m', '?')}]")
        for k, v in self.context.items():
            print(f"   {k}: {v}")
        for f in self.figures:
            status = "" if f.met is None else ("  MET" if f.met else "  NOT MET")
            goal = f"  (goal {f.goal}){status}" if f.goal else ""
            print(f"   {f.name:<66} {fmt(f.value):>12} {f.unit:<10}{goal}")
            if f.note:
                print(f"      {f.note}")
        for c in self.checks:
            print(f"   check: {c.name:<59} {fmt(c.value):>12} {c.unit:<10}  (limit {c.goal})  "
                  f"{'OK' if c.met else 'FAILED'}")
            if c.note:
                print(f"      {c.note}")

    @property
    def ok(self) -> bool:
        return all(c.met for c in self.checks)


def fmt(v: float) -> str:
    if v == 0 or 1e-3 <= abs(v) < 1e7:
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:.3g}"
