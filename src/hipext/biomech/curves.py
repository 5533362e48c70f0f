"""Hill-type muscle curves, vectorised over arrays of shape (N, M) (poses x muscles).

Two sets: the De Groote et al. (2016) analytic curves (constants in ``degroote2016_curves.yaml``) and the
model's own curves sampled from OpenSim at compile time (``TableCurves``), which reproduce OpenSim's
Millard2012EquilibriumMuscle for that model. Normalised fibre velocity is negative when shortening and
-1 at the maximum shortening velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hipext.biomech._data import load_yaml


class DeGrooteCurves:
    """De Groote et al. 2016 curves as implemented in OpenSim's DeGrooteFregly2016Muscle."""

    name = "degroote2016"

    def __init__(self) -> None:
        d = load_yaml("degroote2016_curves.yaml")
        a = d["active_force_length"]
        self.b1, self.b2, self.b3, self.b4 = (np.asarray(a[k], dtype=float) for k in ("b1", "b2", "b3", "b4"))
        fv = d["force_velocity"]
        self.d1, self.d2, self.d3, self.d4 = (float(fv[k]) for k in ("d1", "d2", "d3", "d4"))
        p = d["passive_force_length"]
        self.kpe, self.e0, self.lmin = float(p["kpe"]), float(p["e0"]), float(p["min_norm_fiber_length"])
        t = d["tendon_force_length"]
        self.c1, self.c2, self.c3 = float(t["c1"]), float(t["c2"]), float(t["c3"])
        self.kt = float(np.log((1.0 + self.c3) / self.c1) / t["strain_at_one_norm_force"])
        self.min_norm_fiber_length = self.lmin

    def active_fl(self, lm: np.ndarray) -> np.ndarray:
        out = np.zeros_like(lm)
        for b1, b2, b3, b4 in zip(self.b1, self.b2, self.b3, self.b4, strict=True):
            out += b1 * np.exp(-0.5 * (lm - b2) ** 2 / (b3 + b4 * lm) ** 2)
        return out

    def passive_fl(self, lm: np.ndarray) -> np.ndarray:
        e_min = np.exp(self.kpe * (self.lmin - 1.0) / self.e0)
        f = (np.exp(self.kpe * (lm - 1.0) / self.e0) - e_min) / (np.exp(self.kpe) - e_min)
        return np.clip(f, 0.0, None)

    def fv(self, v: np.ndarray) -> np.ndarray:
        z = self.d2 * np.clip(v, -1.0, 1.0) + self.d3
        return self.d1 * np.log(z + np.sqrt(z * z + 1.0)) + self.d4

    def tendon_fl(self, lt: np.ndarray) -> np.ndarray:
        return np.clip(self.c1 * np.exp(self.kt * (lt - self.c2)) - self.c3, 0.0, None)


def interp_uniform(table: np.ndarray, x0: float, dx: float, x: np.ndarray) -> np.ndarray:
    """Linear interpolation in per-muscle tables (M, G) on one uniform grid; x has shape (..., M); clamped."""
    g = table.shape[1]
    s = np.clip((x - x0) / dx, 0.0, g - 1.000001)
    i = s.astype(np.int64)
    f = s - i
    flat = table.ravel()
    base = np.arange(table.shape[0]) * g
    k = base + i
    return flat[k] * (1.0 - f) + flat[k + 1] * f


@dataclass
class TableCurves:
    """The model's own curves sampled from OpenSim (one table per muscle)."""

    grids: dict[str, np.ndarray]
    tables: dict[str, np.ndarray]
    min_fiber_length_m: np.ndarray
    name: str = "model"

    def _lookup(self, key: str, grid: str, x: np.ndarray) -> np.ndarray:
        gr = self.grids[grid]
        return interp_uniform(self.tables[key], float(gr[0]), float(gr[1] - gr[0]), x)

    def active_fl(self, lm: np.ndarray) -> np.ndarray:
        return self._lookup("active_fl", "fiber_length_norm", lm)

    def passive_fl(self, lm: np.ndarray) -> np.ndarray:
        return self._lookup("passive_fl", "fiber_length_norm", lm)

    def fv(self, v: np.ndarray) -> np.ndarray:
        return self._lookup("fv", "fiber_velocity_norm", v)

    def tendon_fl(self, lt: np.ndarray) -> np.ndarray:
        out = self._lookup("tendon_fl", "tendon_length_norm", lt)
        return np.where(lt < 1.0, 0.0, out)
