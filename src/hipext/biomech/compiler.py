"""Compile an OpenSim model's hip extensors into a fast numpy surrogate (``hipext model compile``).

Samples the muscles over hip flexion, adduction, rotation and knee flexion with OpenSim, fits polynomial surrogates
of muscle-tendon length whose analytic derivatives are the moment arms, checks them on held-out random poses
against OpenSim's own ``computeMomentArm``, and writes a compressed ``.npz`` plus a JSON provenance sidecar.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from hipext.biomech import surrogate
from hipext.biomech.opensim_bridge import COORDINATES, OpenSimLeg, sha256_of

DEFAULT_RANGE_DEG = {
    "hip_flexion": (-30.0, 110.0),
    "hip_adduction": (-20.0, 20.0),
    "hip_rotation": (-20.0, 20.0),
    "knee_flexion": (0.0, 140.0),
}
FORMAT_VERSION = 1
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
    degree_hip: int = 7,
    degree_knee: int = 6,
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
    n_samples, n_holdout
        Training poses and held-out random poses for the error figures.
    degree_hip, degree_knee
        Total polynomial degree for muscles that do not / do cross the knee.
    """
    for name, count, low in (("n_samples", n_samples, 100), ("n_holdout", n_holdout, 10)):
        if int(count) < low:
            raise ValueError(f"{name}: got {count!r}; expected at least {low}")
    for name, deg in (("degree_hip", degree_hip), ("degree_knee", degree_knee)):
        if not 1 <= int(deg) <= 10:
            raise ValueError(f"{name}: got {deg!r}; expected 1 to 10")
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

    crosses_knee = np.abs(train["moment_arms_m"][:, :, 3]).max(axis=0) > 1e-6
    arrays: dict[str, Any] = {
        "format_version": np.array(FORMAT_VERSION),
        "muscles": np.array(leg.muscles),
        "coordinates": np.array(COORDINATES),
        "range_low_rad": lo,
        "range_high_rad": hi,
    }
    groups = []
    for gi, knee in enumerate((False, True)):
        idx = np.flatnonzero(crosses_knee == knee)
        if idx.size == 0:
            continue
        vars_ = np.array([0, 1, 2, 3] if knee else [0, 1, 2])
        degree = degree_knee if knee else degree_hip
        x = (q[:, vars_] - centre[vars_]) / half[vars_]
        coefs = []
        for j in idx:
            exps, c = surrogate.fit_length_polynomial(
                x=x, half_range_rad=half[vars_], lengths_m=train["lengths_m"][:, j],
                moment_arms_m=train["moment_arms_m"][:, j][:, vars_], degree=degree,
            )
            coefs.append(c)
        arrays[f"group{gi}_muscle_index"] = idx
        arrays[f"group{gi}_variables"] = vars_
        arrays[f"group{gi}_exponents"] = exps
        arrays[f"group{gi}_coefficients"] = np.stack(coefs, axis=1)
        groups.append(gi)
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
                f"ma_{c}_rms_mm": round(float(np.sqrt(np.mean(e_ma[:, j, k] ** 2)) * 1e3), 4)
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
        "polynomial_degree": {"hip_only_muscles": int(degree_hip), "knee_crossing_muscles": int(degree_knee)},
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
