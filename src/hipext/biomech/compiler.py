"""Compile an OpenSim model's hip extensors into a fast numpy surrogate (``hipext model compile``).

Samples the muscles over hip flexion, adduction, rotation and knee flexion with OpenSim, fits polynomial surrogates
of muscle-tendon length whose analytic derivatives are the moment arms, checks them on held-out random poses
against OpenSim's own ``computeMomentArm``, and writes a compressed ``.npz`` plus a JSON provenance sidecar.

Each muscle gets the lowest polynomial degree, and each group the lowest cap on the combined degree in the
small-range coordinates (hip adduction and rotation, +-20 deg), whose errors on a separate validation sample stay
within a tolerance: the runtime's cost is its multiply-adds, and most muscles need far fewer than the worst one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from hipext.biomech import kernel, surrogate
from hipext.biomech.opensim_bridge import COORDINATES, OpenSimLeg, sha256_of

DEFAULT_RANGE_DEG = {
    "hip_flexion": (-30.0, 110.0),
    "hip_adduction": (-20.0, 20.0),
    "hip_rotation": (-20.0, 20.0),
    "knee_flexion": (0.0, 140.0),
}
FORMAT_VERSION = 2  # 2: per-muscle degrees (group<g>_degrees) and capped monomial sets; 1 still loads
SMALL_RANGE = ("hip_adduction", "hip_rotation")  # coordinates whose combined polynomial degree may be capped
# Default fit tolerance, RMS per muscle on the validation poses: the worst muscle of the model shipped with one degree
# per group (7 hip-only, 6 knee-crossing; gluteus maximus 1 on its held-out poses): per-muscle degrees lose no
# accuracy that mattered. A muscle that misses it even at the maximum degree keeps that fit's accuracy instead.
TOLERANCE_LENGTH_RMS_MM = 0.133
TOLERANCE_MA_RMS_MM = 0.47
CURVE_GRIDS = {
    "fiber_length_norm": np.linspace(0.0, 2.5, 1001),
    "fiber_velocity_norm": np.linspace(-1.0, 1.0, 801),
    "tendon_length_norm": np.linspace(0.95, 1.2, 501),
}
SOURCES = {"rajagopal": "rajagopal2016", "gait2392": "delp1990", "custom": "user_model"}


def _sample_poses(n: int, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latin hypercube with Chebyshev spacing (denser near the range ends, where polynomials need support)."""
    d = lo.size
    u = (np.argsort(rng.random((d, n)), axis=1).T + rng.random((n, d))) / n
    x = -np.cos(np.pi * u)
    return lo + (hi - lo) * (x + 1.0) / 2.0


def compile_model(
    *,
    model_path: str | Path,
    out_path: str | Path,
    muscles: tuple[str, ...] | None = None,
    range_deg: dict[str, tuple[float, float]] | None = None,
    n_samples: int = 4000,
    n_holdout: int = 500,
    n_validation: int = 500,
    degree_hip: int = 7,
    degree_knee: int = 6,
    tolerance_length_mm: float | None = None,
    tolerance_ma_mm: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample, fit and write a compiled model; returns the provenance dictionary.

    Parameters
    ----------
    model_path
        OpenSim ``.osim`` file.
    out_path
        Output ``.npz``; the provenance goes next to it as ``<name>.json``.
    muscles
        Muscle names; default list for the Rajagopal and gait2392 families.
    range_deg
        Fitted range per coordinate (deg), keys as in ``COORDINATES``.
    n_samples, n_holdout, n_validation
        Training poses, held-out random poses for the error figures and random poses the degrees are chosen on.
    degree_hip, degree_knee
        Maximum total polynomial degree for muscles that do not / do cross the knee.
    tolerance_length_mm, tolerance_ma_mm
        RMS error (mm) on the validation poses that the lowest degree and cap chosen must keep, per muscle (None:
        ``TOLERANCE_LENGTH_RMS_MM``, ``TOLERANCE_MA_RMS_MM``).
    """
    tolerance_length_mm = TOLERANCE_LENGTH_RMS_MM if tolerance_length_mm is None else tolerance_length_mm
    tolerance_ma_mm = TOLERANCE_MA_RMS_MM if tolerance_ma_mm is None else tolerance_ma_mm
    for name, count, low in (("n_samples", n_samples, 100), ("n_holdout", n_holdout, 10),
                             ("n_validation", n_validation, 10)):
        if int(count) < low:
            raise ValueError(f"{name}: got {count!r}; expected at least {low}")
    for name, deg in (("degree_hip", degree_hip), ("degree_knee", degree_knee)):
        if not 1 <= int(deg) <= 10:
            raise ValueError(f"{name}: got {deg!r}; expected 1 to 10")
    for name, tol in (("tolerance_length_mm", tolerance_length_mm), ("tolerance_ma_mm", tolerance_ma_mm)):
        if not float(tol) > 0:
            raise ValueError(f"{name}: got {tol!r}; expected a positive RMS error in mm")
    ranges: dict[str, tuple[float, float]] = dict(DEFAULT_RANGE_DEG)
    for k, v in (range_deg or {}).items():
        if k not in ranges:
            raise ValueError(f"range_deg: unknown coordinate {k!r}; expected one of {', '.join(COORDINATES)}")
        if not (len(v) == 2 and float(v[0]) < float(v[1])):
            raise ValueError(f"range_deg[{k}]: got {v!r}; expected (low, high) with low < high")
        ranges[k] = (float(v[0]), float(v[1]))
    model_path = Path(model_path)
    leg = OpenSimLeg.open(model_path, muscles=muscles)
    lo = np.deg2rad([ranges[c][0] for c in COORDINATES])
    hi = np.deg2rad([ranges[c][1] for c in COORDINATES])
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    rng = np.random.default_rng(seed)
    q = _sample_poses(int(n_samples), lo, hi, rng)
    train = leg.sample(q, progress=progress)
    qh = lo + (hi - lo) * rng.random((int(n_holdout), 4))
    held = leg.sample(qh, progress=progress)
    qv = lo + (hi - lo) * rng.random((int(n_validation), 4))
    valid = leg.sample(qv, progress=progress)

    crosses_knee = np.abs(train["moment_arms_m"][:, :, 3]).max(axis=0) > 1e-6
    arrays: dict[str, Any] = {
        "format_version": np.array(FORMAT_VERSION),
        "muscles": np.array(leg.muscles),
        "coordinates": np.array(COORDINATES),
        "range_low_rad": lo,
        "range_high_rad": hi,
    }
    groups, caps, validation = [], {}, {}
    tolerance = (float(tolerance_length_mm), float(tolerance_ma_mm))
    for gi, knee in enumerate((False, True)):
        idx = np.flatnonzero(crosses_knee == knee)
        if idx.size == 0:
            continue
        vars_ = np.array([0, 1, 2, 3] if knee else [0, 1, 2])
        fit = _GroupFit(vars_, centre, half, q, train, qv, valid)
        cap, degrees = fit.choose(idx, int(degree_knee if knee else degree_hip), tolerance)
        exps = surrogate.exponents(len(vars_), int(degrees.max()), capped=fit.capped, cap=cap)
        row = {tuple(e): k for k, e in enumerate(exps.tolist())}
        coefs = np.zeros((len(exps), idx.size))
        for m, (j, d) in enumerate(zip(idx, degrees, strict=True)):
            e_j, c_j = fit.fit(int(j), int(d), cap)
            coefs[[row[tuple(e)] for e in e_j.tolist()], m] = c_j
            validation[leg.muscles[j]] = dict(zip(("length_rms_mm", "ma_rms_mm"), fit.errors(int(j), int(d), cap),
                                                  strict=True))
        caps["knee_crossing_muscles" if knee else "hip_only_muscles"] = cap
        arrays[f"group{gi}_muscle_index"] = idx
        arrays[f"group{gi}_variables"] = vars_
        arrays[f"group{gi}_exponents"] = exps
        arrays[f"group{gi}_coefficients"] = coefs
        arrays[f"group{gi}_degrees"] = degrees
        groups.append(gi)
    muscle_degree = np.zeros(len(leg.muscles), dtype=np.int64)
    for g in groups:
        muscle_degree[arrays[f"group{g}_muscle_index"]] = arrays[f"group{g}_degrees"]
    arrays["groups"] = np.array(groups)
    params = leg.muscle_parameters()
    arrays.update({f"param_{k}": v for k, v in params.items()})
    tables = leg.curve_tables(CURVE_GRIDS)
    if tables is not None:
        arrays.update({f"grid_{k}": v for k, v in CURVE_GRIDS.items()})
        arrays.update({f"curve_{k}": v for k, v in tables.items()})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)

    # Held-out error against OpenSim, through the runtime that users will call.
    from hipext.biomech.model import HipExtensorModel

    rt = HipExtensorModel.load(out_path)
    lengths, mas = rt.lengths_and_moment_arms(poses_rad=qh)
    e_len = lengths - held["lengths_m"]
    e_ma = mas - held["moment_arms_m"]
    fit_error: dict[str, dict[str, float]] = {}
    for k_m, name in enumerate(leg.muscles):
        fit_error[name] = {
            "length_rms_mm": round(float(np.sqrt(np.mean(e_len[:, k_m] ** 2)) * 1e3), 4),
            "length_max_mm": round(float(np.abs(e_len[:, k_m]).max() * 1e3), 4),
            **{
                f"ma_{c}_rms_mm": round(float(np.sqrt(np.mean(e_ma[:, k_m, k] ** 2)) * 1e3), 4)
                for k, c in enumerate(COORDINATES)
            },
            "ma_max_mm": round(float(np.abs(e_ma[:, k_m]).max() * 1e3), 4),
        }
    osim = leg.osim
    provenance = {
        "source": "rajagopallaiuhlrich2023_osim" if "laiuhlrich" in model_path.name.lower()
        else SOURCES.get(leg.family, "user_model"),
        "level": "verified",
        "note": "Muscle parameters and curves read from the model file with the OpenSim API; surrogate coefficients "
        "fitted to OpenSim path lengths and moment arms (not clinical numbers).",
        "model_file": model_path.name,
        "model_sha256": sha256_of(model_path),
        "model_family": leg.family,
        "opensim_version": str(getattr(osim, "__version__", "unknown")),
        "compiled_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format_version": FORMAT_VERSION,
        "muscles": list(leg.muscles),
        "crosses_knee": {n: bool(k) for n, k in zip(leg.muscles, crosses_knee, strict=True)},
        "coordinates": list(COORDINATES),
        "knee_convention": "knee_flexion positive in flexion; ma_knee_flexion = -dL/d(knee_flexion), positive for a "
        "knee flexor"
        + ("; the model's knee_angle_r is negative in flexion and was converted" if leg.knee_sign < 0 else ""),
        "coupled_coordinates": [c.getName() for c in leg.coupled],
        "fitted_range_deg": {k: list(v) for k, v in ranges.items()},
        "muscle_parameters": {
            name: {
                "max_isometric_force_n": round(float(params["max_isometric_force_n"][j]), 4),
                "optimal_fiber_length_m": round(float(params["optimal_fiber_length_m"][j]), 6),
                "tendon_slack_length_m": round(float(params["tendon_slack_length_m"][j]), 6),
                "pennation_at_optimal_deg": round(float(np.rad2deg(params["pennation_at_optimal_rad"][j])), 3),
                "max_contraction_velocity_lopt_per_s": float(params["max_contraction_velocity_lopt_per_s"][j]),
                "rigid_tendon": bool(params["rigid_tendon"][j]),
                "muscle_class": str(params["muscle_class"][j]),
            }
            for j, name in enumerate(leg.muscles)
        },
        "sampling": {
            "design": "Latin hypercube with Chebyshev spacing",
            "n_samples": int(n_samples),
            "n_holdout_random": int(n_holdout),
            "seed": int(seed),
        },
        "polynomial_degree": {
            "maximum": {"hip_only_muscles": int(degree_hip), "knee_crossing_muscles": int(degree_knee)},
            "per_muscle": {m: int(d) for m, d in zip(leg.muscles, muscle_degree, strict=True)},
            "adduction_rotation_cap": caps,
            "rule": "per muscle the lowest degree, per group the cap on the combined degree in hip adduction and "
                    "rotation with the fewest multiply-adds, whose validation RMS errors stay within the tolerance "
                    "(or, for a muscle missing it at the maximum degree, within that fit's errors)",
            "tolerance_rms_mm": {"length": tolerance[0], "moment_arm": tolerance[1]},
            "validation_random_poses": int(n_validation),
            "validation_error": {m: validation[m] for m in leg.muscles},
            "multiply_adds_per_pose": kernel.Plan.build(rt._groups, rt.n_muscles, kernel.BLOCK, np.float64)
            .multiply_adds,
        },
        "curves": "sampled Millard2012 curves of each muscle" if tables is not None else "none (use degroote2016)",
        "fit_error_vs_opensim_holdout": fit_error,
        "fit_error_summary": {
            "length_rms_mm_max_over_muscles": max(v["length_rms_mm"] for v in fit_error.values()),
            "ma_rms_mm_max_over_muscles_and_coordinates": max(
                max(v[f"ma_{c}_rms_mm"] for c in COORDINATES) for v in fit_error.values()
            ),
        },
    }
    out_path.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return provenance


class _GroupFit:
    """Fits of one group's muscles at any degree and cap, with their errors on the validation poses (cached)."""

    def __init__(self, variables: np.ndarray, centre: np.ndarray, half: np.ndarray, q: np.ndarray,
                 train: dict[str, np.ndarray], qv: np.ndarray, valid: dict[str, np.ndarray]) -> None:
        self.vars, self.half = variables, half[variables]
        self.capped = tuple(k for k, v in enumerate(variables) if COORDINATES[v] in SMALL_RANGE)
        self.x = (q[:, variables] - centre[variables]) / self.half
        self.xv = (qv[:, variables] - centre[variables]) / self.half
        self.train, self.valid = train, valid
        self._fits: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, j: int, degree: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
        key = (j, degree, min(cap, degree))
        if key not in self._fits:
            self._fits[key] = surrogate.fit_length_polynomial(
                x=self.x, half_range_rad=self.half, lengths_m=self.train["lengths_m"][:, j],
                moment_arms_m=self.train["moment_arms_m"][:, j][:, self.vars], degree=degree, capped=self.capped,
                cap=key[2])
        return self._fits[key]

    def errors(self, j: int, degree: int, cap: int) -> tuple[float, float]:
        """Validation RMS (mm) of the length and of the worst moment arm."""
        lengths, mas = surrogate.evaluate(*self.fit(j, degree, cap), self.xv, self.half)
        e_ma = np.sqrt(np.mean((mas - self.valid["moment_arms_m"][:, j][:, self.vars]) ** 2, axis=0)).max()
        return (round(float(np.sqrt(np.mean((lengths - self.valid["lengths_m"][:, j]) ** 2)) * 1e3), 4),
                round(float(e_ma * 1e3), 4))

    def choose(self, muscles: np.ndarray, max_degree: int, tolerance: tuple[float, float]) -> tuple[int, np.ndarray]:
        """The cap and per-muscle degrees with the fewest multiply-adds per pose whose errors stay within
        ``tolerance``, or within the uncapped maximum-degree fit's errors for a muscle that misses it."""
        targets = [np.maximum(tolerance, self.errors(int(j), max_degree, max_degree)) for j in muscles]
        best: tuple[int, int, np.ndarray] | None = None
        for cap in range(max_degree, -1, -1):
            degrees = []
            for j, target in zip(muscles, targets, strict=True):
                d = next((d for d in range(1, max_degree + 1) if np.all(self.errors(int(j), d, cap) <= target)),
                         None)
                if d is None:
                    break
                degrees.append(d)
            else:
                size = [len(surrogate.exponents(len(self.vars), d, capped=self.capped, cap=cap))
                        for d in range(max_degree + 1)]
                cost = sum(size[d] + len(self.vars) * size[d - 1] for d in degrees)
                if best is None or cost < best[0]:
                    best = (cost, cap, np.asarray(degrees, dtype=np.int64))
        assert best is not None  # the maximum degree without a cap meets its own errors
        return best[1], best[2]
