"""Runtime musculoskeletal model of the hip extensors (numpy only), vectorised over any number of poses.

Poses are arrays of shape (N, 4): hip flexion, hip adduction, hip rotation and knee flexion in rad (OpenSim's
conventions, except that knee flexion is always positive in flexion). Moment arms follow OpenSim's sign: moment
arm = -dL/dq, so a hip extensor has a negative hip-flexion moment arm and a knee flexor a positive knee-flexion
moment arm.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hipext.biomech import kernel, surrogate
from hipext.biomech._data import data_path
from hipext.biomech.curves import DeGrooteCurves, TableCurves, interp_uniform

COORDINATES = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion")
DEFAULT_MODEL_FILE = "rajagopal_lai_uhlrich2023_hip_extensors.npz"
FORMAT_VERSIONS = (1, 2)  # compiled files this runtime reads (1: one polynomial degree per group)
FUSED_MIN_POSES = 2048  # below this the numpy path is as fast and avoids importing numba
BISECTION_STEPS = 6
ILLINOIS_STEPS = 12
FIBER_CHUNK = 1024
ISOMETRIC_GRID = 8192
ISOMETRIC_TABLE_MIN_POSES = 1024
ISOMETRIC_SPAN_LOPT = 2.6  # the curves are sampled up to 2.5 optimal fibre lengths
OutOfRange = Literal["clip", "raise", "extrapolate"]
Engine = Literal["auto", "numpy", "fused"]


def _prepare_group(muscle_index: np.ndarray, variables: np.ndarray, exps: np.ndarray, coef: np.ndarray,
                   degrees: np.ndarray, centre: np.ndarray, half: np.ndarray) -> kernel.Group:
    """Re-express one group's fitted polynomials (exponents ``exps``, coefficients (T, mg), each muscle's degree)
    in the kernel's basis."""
    degree = int(degrees.max())
    if np.any(coef[exps.sum(axis=1)[:, None] > degrees[None, :]]):
        raise ValueError("model: a muscle has coefficients above its polynomial degree; expected a file written by "
                         "hipext model compile")
    basis = kernel.Basis.of(exps[exps.sum(axis=1) <= degree])
    old = {tuple(e): k for k, e in enumerate(exps.tolist())}
    perm = np.asarray([old[tuple(e)] for e in basis.exponents.tolist()])
    rows = []
    for j in range(len(muscle_index)):
        for k, v in enumerate(variables):
            d = surrogate.derivative_matrix(exps, k) @ coef[:, j]
            rows.append(-d[perm] / half[v])  # moment arm = -dL/dq
    w_der = np.asarray(rows)
    # The derivatives are one degree lower: their top-degree coefficients are zero and are not evaluated.
    assert not w_der[:, basis.n_below:].any()
    return kernel.Group(
        muscle_index=np.asarray(muscle_index, dtype=np.int64),
        degrees=np.asarray(degrees, dtype=np.int64),
        n_upto=basis.n_upto,
        variables=np.asarray(variables, dtype=np.int64),
        centre=np.ascontiguousarray(centre[variables]),
        inv_half=np.ascontiguousarray(1.0 / half[variables]),
        steps=basis.steps,
        w_len=np.ascontiguousarray(coef[perm].T),
        w_der=np.ascontiguousarray(w_der[:, : basis.n_below]),
        der_offset=np.asarray([4 * j + v for j in muscle_index for v in variables], dtype=np.int64),
        zero_offset=np.asarray([4 * j + v for j in muscle_index for v in range(4) if v not in variables],
                               dtype=np.int64),
    )


def _muscle_degrees(arrays: dict[str, np.ndarray], g: int) -> np.ndarray:
    """Each muscle's polynomial degree; files of format 1 fitted every muscle of a group at the group's degree."""
    if f"group{g}_degrees" in arrays:
        return np.asarray(arrays[f"group{g}_degrees"], dtype=np.int64)
    return np.full(len(arrays[f"group{g}_muscle_index"]), int(arrays[f"group{g}_exponents"].sum(axis=1).max()))


class HipExtensorModel:
    """A compiled hip extensor model: lengths, moment arms, fibre states, forces and torques.

    Load the shipped RajagopalLaiUhlrich2023 model with ``HipExtensorModel.load()`` or a compiled file with
    ``HipExtensorModel.load(path)``.
    """

    def __init__(self, arrays: dict[str, np.ndarray], provenance: dict[str, Any] | None = None,
                 path: Path | None = None) -> None:
        self.path = path
        self.provenance = provenance or {}
        self.muscles: tuple[str, ...] = tuple(str(m) for m in arrays["muscles"])
        self.range_low_rad = np.asarray(arrays["range_low_rad"], dtype=float)
        self.range_high_rad = np.asarray(arrays["range_high_rad"], dtype=float)
        centre = (self.range_low_rad + self.range_high_rad) / 2
        half = (self.range_high_rad - self.range_low_rad) / 2
        self._groups = [
            _prepare_group(arrays[f"group{g}_muscle_index"], arrays[f"group{g}_variables"],
                           arrays[f"group{g}_exponents"], arrays[f"group{g}_coefficients"],
                           _muscle_degrees(arrays, g), centre, half)
            for g in np.atleast_1d(arrays["groups"])
        ]
        self._typed_groups: dict[np.dtype, list[kernel.Group]] = {np.dtype(np.float64): self._groups}
        self._plans: dict[np.dtype, kernel.Plan] = {}
        self.max_isometric_force_n = np.asarray(arrays["param_max_isometric_force_n"], dtype=float)
        self.optimal_fiber_length_m = np.asarray(arrays["param_optimal_fiber_length_m"], dtype=float)
        self.tendon_slack_length_m = np.asarray(arrays["param_tendon_slack_length_m"], dtype=float)
        self.pennation_at_optimal_rad = np.asarray(arrays["param_pennation_at_optimal_rad"], dtype=float)
        self.max_contraction_velocity_lopt_per_s = np.asarray(
            arrays["param_max_contraction_velocity_lopt_per_s"], dtype=float)
        self.rigid_tendon = np.asarray(arrays["param_rigid_tendon"], dtype=bool)
        self._tables: TableCurves | None = None
        self._isometric: dict[tuple[str, str], np.ndarray] = {}
        self._limits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if "curve_active_fl" in arrays:
            self._tables = TableCurves(
                grids={k: arrays[f"grid_{k}"] for k in ("fiber_length_norm", "fiber_velocity_norm",
                                                        "tendon_length_norm")},
                tables={k: np.ascontiguousarray(arrays[f"curve_{k}"]) for k in ("active_fl", "passive_fl", "fv",
                                                                                  "tendon_fl")},
                min_fiber_length_m=np.asarray(arrays["curve_min_fiber_length_m"], dtype=float),
            )

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> HipExtensorModel:
        """Load a compiled model (``.npz`` with a ``.json`` provenance sidecar); default: the shipped model."""
        if path is None:
            return _default_model()
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"model: no such file {str(p)!r}; expected a compiled .npz (hipext model compile)")
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
            raise ValueError(f"model: {str(p)!r} is not a compiled hipext model ({exc})") from None
        if "muscles" not in arrays or "groups" not in arrays:
            raise ValueError(f"model: {str(p)!r} is not a compiled hipext model (missing arrays)")
        version = int(arrays.get("format_version", 1))
        if version not in FORMAT_VERSIONS:
            raise ValueError(f"model: {str(p)!r} has format {version}; expected one of "
                             f"{', '.join(map(str, FORMAT_VERSIONS))} (recompile it with this hipext: hipext model "
                             "compile)")
        side = p.with_suffix(".json")
        prov = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None
        return cls(arrays, prov, p)

    @property
    def n_muscles(self) -> int:
        return len(self.muscles)

    @property
    def default_curves(self) -> str:
        """'model' when the compiled file holds the model's own curves (matches OpenSim), else 'degroote2016'."""
        return "model" if self._tables is not None else "degroote2016"

    def curves(self, name: str | None = None) -> DeGrooteCurves | TableCurves:
        """Curve set by name: 'degroote2016', 'model' (the model's own curves sampled from OpenSim) or None
        for ``default_curves``."""
        name = self.default_curves if name is None else name
        if name == "degroote2016":
            return _degroote()
        if name == "model":
            if self._tables is None:
                raise ValueError("curves: got 'model' but this compiled model holds no sampled curves; "
                                 "expected 'degroote2016'")
            return self._tables
        raise ValueError(f"curves: got {name!r}; expected 'degroote2016' or 'model'")

    # ------------------------------------------------------------------ kinematics
    @staticmethod
    def _poses_array(poses_rad: Any) -> np.ndarray:
        """Poses as a C-contiguous float (N, 4) array (shape checked, values not)."""
        q = np.ascontiguousarray(poses_rad, dtype=float)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != 4:
            raise ValueError(f"poses_rad: got shape {np.shape(poses_rad)}; expected (N, 4) = hip flexion, "
                             "hip adduction, hip rotation, knee flexion in rad")
        return q

    def check_poses(self, poses_rad: Any, *, out_of_range: OutOfRange = "clip") -> tuple[np.ndarray, np.ndarray]:
        """Validate poses, shape (N, 4) rad; returns (poses to evaluate, in-range mask)."""
        q = self._poses_array(poses_rad)
        if not np.isfinite(q).all():
            raise ValueError("poses_rad: contains NaN or infinite values; expected finite angles in rad")
        tol = 1e-9
        inside = np.all((q >= self.range_low_rad - tol) & (q <= self.range_high_rad + tol), axis=1)
        if out_of_range == "raise" and not inside.all():
            bad = np.flatnonzero(~inside)
            raise ValueError(
                f"poses_rad: {bad.size} pose(s) outside the fitted range (first rows {bad[:5].tolist()}); expected "
                + ", ".join(f"{c} {np.rad2deg(lo):.0f} to {np.rad2deg(hi):.0f} deg" for c, lo, hi in
                            zip(COORDINATES, self.range_low_rad, self.range_high_rad, strict=True)))
        if out_of_range == "clip":
            q = np.clip(q, self.range_low_rad, self.range_high_rad)
        elif out_of_range not in ("raise", "extrapolate"):
            raise ValueError(f"out_of_range: got {out_of_range!r}; expected 'clip', 'raise' or 'extrapolate'")
        return q, inside

    def lengths_and_moment_arms(
        self,
        *,
        poses_rad: Any,
        out_of_range: OutOfRange = "clip",
        dtype: Any = np.float64,
        out: tuple[np.ndarray, np.ndarray] | None = None,
        engine: Engine = "auto",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Muscle-tendon lengths (N, M) in m and moment arms (N, M, 4) in m about the four coordinates.

        Parameters
        ----------
        poses_rad
            (N, 4) poses in rad (hip flexion, adduction, rotation, knee flexion).
        out_of_range
            'clip' (default) to the fitted range, 'raise', or 'extrapolate'.
        dtype
            float64 (default) or float32 (about 1.6 times as fast with the compiled kernel; within 5e-6 m of
            float64, measured about 1e-6 m, against a surrogate error of about 1e-4 m: ``benchmarks/bench_model.py``
            prints both).
        out
            Optional (lengths, moment_arms) arrays to write into: C-contiguous, shapes (N, M) and (N, M, 4), of
            ``dtype``; reuse them across calls to avoid allocating.
        engine
            'auto' (the compiled kernel for large batches, or whenever numba is already loaded), 'numpy' or
            'fused'.
        """
        q = self._poses_array(poses_rad)
        if out_of_range == "raise":
            self.check_poses(q, out_of_range="raise")
        elif out_of_range not in ("clip", "extrapolate"):
            raise ValueError(f"out_of_range: got {out_of_range!r}; expected 'clip', 'raise' or 'extrapolate'")
        if engine not in ("auto", "numpy", "fused"):
            raise ValueError(f"engine: got {engine!r}; expected 'auto', 'numpy' or 'fused'")
        n, dt = q.shape[0], np.dtype(dtype)
        if dt not in (np.float64, np.float32):
            raise ValueError(f"dtype: got {dt}; expected float64 or float32")
        if out is None:
            lengths, mas = np.empty((n, self.n_muscles), dtype=dt), np.empty((n, self.n_muscles, 4), dtype=dt)
        else:
            lengths, mas = out
            for name, arr, shape in (("lengths", lengths, (n, self.n_muscles)),
                                     ("moment arms", mas, (n, self.n_muscles, 4))):
                if arr.shape != shape or arr.dtype != dt or not arr.flags.c_contiguous:
                    raise ValueError(f"out: {name} array has shape {arr.shape}, dtype {arr.dtype}; expected a "
                                     f"C-contiguous {shape} array of {dt}")
        clip = out_of_range == "clip"
        # numba is imported for large batches only (or when already loaded): small calls stay light to start.
        wanted = engine == "fused" or (engine == "auto" and (n >= FUSED_MIN_POSES or "numba" in sys.modules))
        fused = kernel.fused() if wanted else None
        if engine == "fused" and fused is None:
            raise ValueError("engine: 'fused' needs numba and scipy (pip install numba scipy); expected 'auto' or "
                             "'numpy'")
        if fused is not None:
            bad = kernel.evaluate_fused(fused, self._plan(dt), q, lengths, mas, clip=clip)
        else:
            bad = kernel.evaluate_numpy(self._groups_as(dt), q, lengths, mas, clip=clip)
        if bad:
            raise ValueError(f"poses_rad: contains {bad} NaN or infinite value(s); expected finite angles in rad")
        return lengths, mas

    def _plan(self, dtype: np.dtype) -> kernel.Plan:
        if dtype not in self._plans:
            self._plans[dtype] = kernel.Plan.build(self._groups, self.n_muscles, kernel.BLOCK, dtype)
        return self._plans[dtype]

    def _groups_as(self, dtype: np.dtype) -> list[kernel.Group]:
        if dtype not in self._typed_groups:
            self._typed_groups[dtype] = [g.astype(dtype) for g in self._groups]
        return self._typed_groups[dtype]

    def lengths_m(self, *, poses_rad: Any, out_of_range: OutOfRange = "clip") -> np.ndarray:
        """Muscle-tendon lengths (N, M) in m."""
        return self.lengths_and_moment_arms(poses_rad=poses_rad, out_of_range=out_of_range)[0]

    def moment_arms_m(self, *, poses_rad: Any, out_of_range: OutOfRange = "clip") -> np.ndarray:
        """Moment arms (N, M, 4) in m about hip flexion, adduction, rotation and knee flexion."""
        return self.lengths_and_moment_arms(poses_rad=poses_rad, out_of_range=out_of_range)[1]

    # ------------------------------------------------------------------ muscle mechanics
    def _tendon_rigid(self, tendon: str) -> np.ndarray:
        if tendon == "model":
            return self.rigid_tendon
        if tendon == "rigid":
            return np.ones(self.n_muscles, dtype=bool)
        if tendon == "compliant":
            return np.zeros(self.n_muscles, dtype=bool)
        raise ValueError(f"tendon: got {tendon!r}; expected 'model', 'rigid' or 'compliant'")

    def fiber_states(
        self,
        *,
        lengths_m: np.ndarray,
        mt_velocity_m_s: np.ndarray | float = 0.0,
        activation: np.ndarray | float = 1.0,
        curves: str | None = None,
        tendon: str = "model",
    ) -> dict[str, np.ndarray]:
        """Fibre length, pennation and forces of every muscle, arrays (N, M).

        Parameters
        ----------
        lengths_m
            Muscle-tendon lengths (N, M) in m.
        mt_velocity_m_s
            Muscle-tendon lengthening velocity (N, M) in m/s (negative = shortening). The fibre velocity is
            taken as ``mt_velocity * cos(pennation)``: the tendon length is held at its equilibrium value
            (exact for a rigid tendon, a quasi-static approximation for a compliant one).
        activation
            Activation in [0, 1].
        curves
            'degroote2016', 'model' or None (``default_curves``: the model's own curves when compiled with
            them, which reproduce OpenSim; De Groote et al. 2016 otherwise).
        tendon
            'model' (as in the source model), 'rigid' or 'compliant' (equilibrium solved by bisection).

        Returns
        -------
        dict with fiber_length_m, pennation_rad, fiber_velocity_norm, tendon_force_n, active_force_n,
        passive_force_n (fibre forces along the fibre).
        """
        c = self.curves(curves)
        lmt = np.asarray(lengths_m, dtype=float)
        a = np.clip(np.broadcast_to(np.asarray(activation, dtype=float), lmt.shape), 0.0, 1.0)
        vmt = np.broadcast_to(np.asarray(mt_velocity_m_s, dtype=float), lmt.shape)
        if lmt.ndim == 2 and lmt.shape[0] > FIBER_CHUNK:
            # Work in cache-sized blocks of poses; the results are identical.
            parts = [self.fiber_states(lengths_m=lmt[s:s + FIBER_CHUNK], mt_velocity_m_s=vmt[s:s + FIBER_CHUNK],
                                       activation=a[s:s + FIBER_CHUNK], curves=curves, tendon=tendon)
                     for s in range(0, lmt.shape[0], FIBER_CHUNK)]
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        lopt, lts, f0 = self.optimal_fiber_length_m, self.tendon_slack_length_m, self.max_isometric_force_n
        h, vmax, x_min = self._fibre_limits(c)

        def along(x: np.ndarray) -> tuple[np.ndarray, ...]:
            lf = np.sqrt(x * x + h * h)
            cos_a = x / lf
            vn = vmt * cos_a / vmax
            ln = lf / lopt
            fa = a * c.active_fl(ln) * c.fv(vn)
            fp = c.passive_fl(ln)
            return lf, cos_a, vn, fa, fp

        rigid = self._tendon_rigid(tendon)
        x_rigid = np.maximum(lmt - lts, x_min)
        x = x_rigid.copy()
        if not rigid.all():
            x = np.where(rigid, x_rigid, self._solve_equilibrium(along, c, lmt, lts, x_min))
        lf, cos_a, vn, fa, fp = along(x)
        fibre_along = f0 * (fa + fp) * cos_a
        tendon_force = np.where(rigid, fibre_along, f0 * c.tendon_fl((lmt - x) / lts))
        return {
            "fiber_length_m": lf,
            "pennation_rad": np.arccos(np.clip(cos_a, -1, 1)),
            "fiber_velocity_norm": vn,
            "tendon_force_n": tendon_force,
            "active_force_n": f0 * fa,
            "passive_force_n": f0 * fp,
        }

    def _fibre_limits(self, c: DeGrooteCurves | TableCurves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per muscle: pennation height (m), maximum shortening speed (m/s), shortest fibre along the tendon (m)."""
        if c.name not in self._limits:  # constant per curve set; a single trial would pay for them at every call
            self._limits[c.name] = self._compute_fibre_limits(c)
        return self._limits[c.name]

    def _compute_fibre_limits(self, c: DeGrooteCurves | TableCurves) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lopt = self.optimal_fiber_length_m
        h = lopt * np.sin(self.pennation_at_optimal_rad)
        vmax = self.max_contraction_velocity_lopt_per_s * lopt
        if isinstance(c, TableCurves):
            lf_min = c.min_fiber_length_m
        else:
            lf_min = np.maximum(c.min_norm_fiber_length * lopt, h * 1.0001)
        return h, vmax, np.sqrt(np.maximum(lf_min**2 - h**2, 1e-12))

    def rigid_tendon_forces_n(
        self, *, lengths_m: np.ndarray, mt_velocity_m_s: np.ndarray, curves: str | None = None,
        engine: Engine = "auto",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Active force at full activation and passive force (N, M), along a rigid tendon.

        What static optimisation needs, without the rest of ``fiber_states`` (equal to its ``tendon='rigid'``
        forces times the cosine of pennation). With the model's sampled curves, ``engine`` 'auto' (compiled when
        numba is already loaded) or 'fused' computes the same numbers in one compiled pass.
        """
        if engine not in ("auto", "numpy", "fused"):
            raise ValueError(f"engine: got {engine!r}; expected 'auto', 'numpy' or 'fused'")
        c = self.curves(curves)
        h, vmax, x_min = self._fibre_limits(c)
        compiled = None
        if isinstance(c, TableCurves) and (engine == "fused" or (engine == "auto" and "numba" in sys.modules)):
            compiled = kernel.rigid_forces()
        if compiled is not None and isinstance(c, TableCurves):
            lmt = np.ascontiguousarray(lengths_m, dtype=float)
            vmt = np.ascontiguousarray(np.broadcast_to(mt_velocity_m_s, lmt.shape), dtype=float)
            f_active, f_passive = np.empty_like(lmt), np.empty_like(lmt)
            (l0, l1), (v0, v1) = (c.grids[k][:2] for k in ("fiber_length_norm", "fiber_velocity_norm"))
            compiled(lmt, vmt, self.tendon_slack_length_m, self.optimal_fiber_length_m, self.max_isometric_force_n,
                     h, vmax, x_min, c.tables["active_fl"], c.tables["passive_fl"], c.tables["fv"], float(l0),
                     float(l1 - l0), float(v0), float(v1 - v0), f_active, f_passive)
            return f_active, f_passive
        x = np.maximum(lengths_m - self.tendon_slack_length_m, x_min)
        lf = np.sqrt(x * x + h * h)
        cos_a = x / lf
        ln = lf / self.optimal_fiber_length_m
        f0_cos = self.max_isometric_force_n * cos_a
        return f0_cos * c.active_fl(ln) * c.fv(mt_velocity_m_s * cos_a / vmax), f0_cos * c.passive_fl(ln)

    @staticmethod
    def _solve_equilibrium(along: Any, c: Any, lmt: np.ndarray, lts: np.ndarray, x_min: np.ndarray) -> np.ndarray:
        """Fibre length along the tendon where fibre and tendon forces balance (compliant tendon).

        The residual (fibre force along the tendon minus tendon force) is <= 0 at the shortest fibre and >= 0
        when the tendon is slack; a few bisection steps shrink the bracket, then the Illinois variant of
        regula falsi converges superlinearly while staying inside it.
        """

        def resid(x: np.ndarray) -> np.ndarray:
            _, cos_a, _, fa, fp = along(x)
            return (fa + fp) * cos_a - c.tendon_fl((lmt - x) / lts)

        lo = np.broadcast_to(x_min, lmt.shape).copy()
        hi = np.maximum(lmt - lts, lo)
        r_lo, r_hi = resid(lo), resid(hi)
        done = r_lo >= 0  # fibres cannot get shorter: the shortest fibre is the answer
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            r = resid(mid)
            pos = r > 0
            hi, r_hi = np.where(pos, mid, hi), np.where(pos, r, r_hi)
            lo, r_lo = np.where(pos, lo, mid), np.where(pos, r_lo, r)
        side = np.zeros(lmt.shape, dtype=np.int8)
        x = 0.5 * (lo + hi)
        for _ in range(ILLINOIS_STEPS):
            den = r_hi - r_lo
            safe = np.abs(den) > 1e-300
            x = np.where(safe, hi - r_hi * (hi - lo) / np.where(safe, den, 1.0), 0.5 * (lo + hi))
            x = np.clip(x, lo, hi)
            r = resid(x)
            pos = r > 0
            # Illinois: when the same end moves twice running, halve the residual kept at the other end.
            r_lo = np.where(pos & (side == 1), 0.5 * r_lo, r_lo)
            r_hi = np.where(~pos & (side == -1), 0.5 * r_hi, r_hi)
            hi, r_hi = np.where(pos, x, hi), np.where(pos, r, r_hi)
            lo, r_lo = np.where(pos, lo, x), np.where(pos, r_lo, r)
            side = np.where(pos, 1, -1).astype(np.int8)
        return np.where(done, np.broadcast_to(x_min, lmt.shape), x)

    def isometric_tendon_force_n(self, *, lengths_m: np.ndarray, curves: str | None = None,
                                 tendon: str = "model") -> np.ndarray:
        """Tendon force (N, M) at full activation and zero velocity, for muscle-tendon lengths (N, M) in m.

        At full activation and zero speed the fibre-tendon equilibrium depends on each muscle's length alone, so it
        is solved once on a fine grid of lengths (``ISOMETRIC_GRID`` points from the tendon slack length to 2.6
        optimal fibre lengths beyond it) and interpolated: within 0.01 % of the maximum isometric force of solving
        ``fiber_states`` at every pose (tested), and far faster.
        """
        key = (self.curves(curves).name, tendon)
        if key not in self._isometric:
            s = np.linspace(0.0, ISOMETRIC_SPAN_LOPT, ISOMETRIC_GRID)[:, None]
            grid = self.tendon_slack_length_m + s * self.optimal_fiber_length_m
            force = self.fiber_states(lengths_m=grid, curves=curves, tendon=tendon)["tendon_force_n"]
            self._isometric[key] = np.ascontiguousarray(force.T)
        span = (np.asarray(lengths_m, dtype=float) - self.tendon_slack_length_m) / self.optimal_fiber_length_m
        return interp_uniform(self._isometric[key], 0.0, ISOMETRIC_SPAN_LOPT / (ISOMETRIC_GRID - 1), span)

    def hip_extension_torque(
        self,
        *,
        poses_rad: Any,
        hip_extension_velocity_rad_s: np.ndarray | float = 0.0,
        knee_flexion_velocity_rad_s: np.ndarray | float = 0.0,
        activation: np.ndarray | float = 1.0,
        curves: str | None = None,
        tendon: str = "model",
        out_of_range: OutOfRange = "clip",
    ) -> dict[str, np.ndarray]:
        """Maximum hip extension torque per muscle and in total, and each muscle's share.

        Parameters
        ----------
        poses_rad
            (N, 4) poses in rad.
        hip_extension_velocity_rad_s
            Hip extension angular velocity (rad/s): positive concentric for the extensors, negative eccentric.
        knee_flexion_velocity_rad_s
            Knee flexion angular velocity (rad/s).
        activation, curves, tendon
            See ``fiber_states``.

        Returns
        -------
        dict with ``per_muscle_nm`` (N, M; only muscles with an extensor moment arm count), ``total_nm`` (N,),
        ``share_percent`` (N, M), ``tendon_force_n`` (N, M), ``moment_arms_m`` (N, M, 4), ``lengths_m`` (N, M),
        ``in_range`` (N,).
        """
        q, inside = self.check_poses(poses_rad, out_of_range=out_of_range)
        lengths, mas = self.lengths_and_moment_arms(poses_rad=q, out_of_range="extrapolate")
        w_ext = np.broadcast_to(np.asarray(hip_extension_velocity_rad_s, dtype=float), (q.shape[0],))
        w_knee = np.broadcast_to(np.asarray(knee_flexion_velocity_rad_s, dtype=float), (q.shape[0],))
        isometric = np.ndim(activation) == 0 and float(activation) == 1.0 and not w_ext.any() and not w_knee.any()
        if isometric and q.shape[0] >= ISOMETRIC_TABLE_MIN_POSES:  # the table costs ~8k poses' solves to build
            force = self.isometric_tendon_force_n(lengths_m=lengths, curves=curves, tendon=tendon)
        else:
            # dL/dt = sum_j dL/dq_j qdot_j = -sum_j ma_j qdot_j ; hip flexion rate = -extension velocity
            vmt = mas[:, :, 0] * w_ext[:, None] - mas[:, :, 3] * w_knee[:, None]
            force = self.fiber_states(lengths_m=lengths, mt_velocity_m_s=vmt, activation=activation, curves=curves,
                                      tendon=tendon)["tendon_force_n"]
        per = np.clip(-mas[:, :, 0], 0.0, None) * force
        total = per.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total[:, None] > 0, 100.0 * per / total[:, None], 0.0)
        return {"per_muscle_nm": per, "total_nm": total, "share_percent": share,
                "tendon_force_n": force, "moment_arms_m": mas, "lengths_m": lengths,
                "in_range": inside}


@functools.cache
def _degroote() -> DeGrooteCurves:
    return DeGrooteCurves()


@functools.cache
def _default_model() -> HipExtensorModel:
    return HipExtensorModel.load(data_path(DEFAULT_MODEL_FILE))


def poses_from_degrees(
    *, hip_flexion_deg: Any, hip_adduction_deg: Any = 0.0, hip_rotation_deg: Any = 0.0, knee_flexion_deg: Any = 0.0
) -> np.ndarray:
    """Stack broadcast angle arrays (deg) into (N, 4) poses in rad."""
    arrs = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in
                                 (hip_flexion_deg, hip_adduction_deg, hip_rotation_deg, knee_flexion_deg)))
    return np.deg2rad(np.stack([a.ravel() for a in arrs], axis=1))
