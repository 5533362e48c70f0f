"""Static optimisation of the hip extensors, vectorised over frames.

For every frame: minimise the sum of squared activations of the modelled muscles plus weighted squared
residual (reserve) moments, subject to the muscles' force-length-velocity limits (0 <= a <= 1), so that muscle
moments plus residuals equal the joint moments (hip flexion and knee flexion by default). The modelled muscles
are the hip extensors only, so moments they cannot make (e.g. hip flexion in swing) go to the residuals; the
result splits the *extension* demand among the muscles.

The per-frame quadratic programme is solved for all frames at once with a primal active-set method: the
unconstrained solution has the closed form a = G^T lambda with (I/rho + G G^T) lambda = M, a k x k system per
frame (k = number of joint moments), solved with batched ``numpy.linalg.solve``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hipext.biomech.model import HipExtensorModel

COORD_INDEX = {"hip_flexion": 0, "hip_adduction": 1, "hip_rotation": 2, "knee_flexion": 3}


def solve_bounded_min_norm(
    *, gains: np.ndarray, targets: np.ndarray, residual_weight: float, max_iterations: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve min |a|^2 + rho |M - G a|^2 s.t. 0 <= a <= 1 for many frames.

    Parameters
    ----------
    gains
        G, shape (N, m, k): moment (N m) each muscle makes about each coordinate at full activation.
    targets
        M, shape (N, k): moments (N m) the muscles should make.
    residual_weight
        rho (1/(N m)^2): cost of a squared residual moment relative to a squared activation.

    Returns
    -------
    (activations (N, m), residuals (N, k), converged (N,) bool)
    """
    g = np.asarray(gains, dtype=float)
    mvec = np.asarray(targets, dtype=float)
    n, m, k = g.shape
    if mvec.shape != (n, k):
        raise ValueError(f"targets: got shape {mvec.shape}; expected {(n, k)}")
    if not residual_weight > 0:
        raise ValueError(f"residual_weight: got {residual_weight!r}; expected a positive number")
    lower = np.zeros((n, m), dtype=bool)
    upper = np.zeros((n, m), dtype=bool)
    eye = np.eye(k) / residual_weight
    converged = np.zeros(n, dtype=bool)
    a = np.zeros((n, m))
    for _ in range(max_iterations):
        free = ~(lower | upper)
        gf = g * free[:, :, None]
        rhs = mvec - np.einsum("nmk,nm->nk", g, upper.astype(float))
        mat = eye[None] + np.einsum("nmk,nml->nkl", gf, gf)
        lam = np.linalg.solve(mat, rhs[:, :, None])[:, :, 0]
        a_unc = np.einsum("nmk,nk->nm", g, lam)
        a = np.where(free, a_unc, upper.astype(float))
        viol_low = free & (a_unc < -1e-12)
        viol_up = free & (a_unc > 1 + 1e-12)
        primal_bad = (viol_low | viol_up).any(axis=1)
        # Fix the single worst violator per frame (robust against cycling).
        worst = np.argmax(np.where(viol_low, -a_unc, 0.0) + np.where(viol_up, a_unc - 1.0, 0.0), axis=1)
        rows = np.flatnonzero(primal_bad)
        w = worst[rows]
        lower[rows, w] |= viol_low[rows, w]
        upper[rows, w] |= viol_up[rows, w]
        # Dual check only where primal feasible: release bounds with the wrong multiplier sign.
        release = (~primal_bad)[:, None] & ((lower & (a_unc > 1e-12)) | (upper & (a_unc < 1 - 1e-12)))
        rel_any = release.any(axis=1)
        if rel_any.any():
            score = np.where(lower & release, a_unc, 0.0) + np.where(upper & release, 1.0 - a_unc, 0.0)
            rr = np.flatnonzero(rel_any)
            ww = np.argmax(score[rr], axis=1)
            lower[rr, ww] = False
            upper[rr, ww] = False
        converged = ~primal_bad & ~rel_any
        if converged.all():
            break
    a = np.clip(a, 0.0, 1.0)
    residual = mvec - np.einsum("nmk,nm->nk", g, a)
    return a, residual, converged


def static_optimisation(
    *,
    model: HipExtensorModel,
    poses_rad: np.ndarray,
    moments_nm: np.ndarray,
    coordinates: tuple[str, ...] = ("hip_flexion", "knee_flexion"),
    joint_velocities_rad_s: np.ndarray | None = None,
    curves: str | None = None,
    tendon: str = "rigid",
    residual_optimal_moment_nm: float = 1.0,
    use_passive: bool = True,
) -> dict[str, Any]:
    """Split joint moments among the model's muscles, frame by frame (vectorised).

    Parameters
    ----------
    model
        A ``HipExtensorModel``.
    poses_rad
        (N, 4) poses in rad.
    moments_nm
        (N, k) net joint moments (N m) about ``coordinates``, OpenSim sign (hip flexion moment negative when
        extending; knee flexion moment positive when flexing).
    coordinates
        Coordinates the moments are about.
    joint_velocities_rad_s
        (N, 4) coordinate velocities in rad/s (hip flexion rate positive when flexing); zero when None.
    curves, tendon
        Muscle curves and tendon model (see ``HipExtensorModel.fiber_states``); a rigid tendon by default, as in
        OpenSim's StaticOptimization.
    residual_optimal_moment_nm
        Optimal moment of the residual actuators: a residual of this size costs as much as one fully active
        muscle.
    use_passive
        Include passive fibre force (as OpenSim's StaticOptimization does with the model's force set).

    Returns
    -------
    dict with activations (N, m), muscle_forces_n (N, m), muscle_moments_nm (N, m, k), residuals_nm (N, k),
    converged (N,), coordinates.
    """
    q = np.asarray(poses_rad, dtype=float)
    mom = np.asarray(moments_nm, dtype=float)
    if mom.ndim == 1:
        mom = mom[:, None]
    unknown = [c for c in coordinates if c not in COORD_INDEX]
    if unknown:
        raise ValueError(f"coordinates: unknown {unknown}; expected some of {', '.join(COORD_INDEX)}")
    if q.ndim != 2 or q.shape[1] != 4 or mom.shape != (q.shape[0], len(coordinates)):
        raise ValueError(f"poses_rad, moments_nm: got shapes {q.shape} and {mom.shape}; "
                         f"expected (N, 4) and (N, {len(coordinates)})")
    if not np.isfinite(mom).all():
        raise ValueError("moments_nm: contains NaN or infinite values")
    if not residual_optimal_moment_nm > 0:
        raise ValueError(f"residual_optimal_moment_nm: got {residual_optimal_moment_nm!r}; expected > 0")
    q, inside = model.check_poses(q, out_of_range="clip")
    lengths, mas = model.lengths_and_moment_arms(poses_rad=q, out_of_range="extrapolate")
    qd = np.zeros_like(q) if joint_velocities_rad_s is None else np.asarray(joint_velocities_rad_s, dtype=float)
    if qd.shape != q.shape:
        raise ValueError(f"joint_velocities_rad_s: got shape {qd.shape}; expected {q.shape}")
    vmt = -np.einsum("nmj,nj->nm", mas, qd)
    full = model.fiber_states(lengths_m=lengths, mt_velocity_m_s=vmt, activation=1.0, curves=curves, tendon=tendon)
    cos_a = np.cos(full["pennation_rad"])
    f_active = full["active_force_n"] * cos_a  # along the tendon at a = 1 (rigid tendon)
    f_passive = full["passive_force_n"] * cos_a if use_passive else np.zeros_like(f_active)
    idx = [COORD_INDEX[c] for c in coordinates]
    r = mas[:, :, idx]  # (N, m, k)
    gains = r * f_active[:, :, None]
    targets = mom - np.einsum("nmk,nm->nk", r, f_passive)
    a, res, ok = solve_bounded_min_norm(gains=gains, targets=targets,
                                        residual_weight=1.0 / residual_optimal_moment_nm**2)
    forces = a * f_active + f_passive
    return {
        "coordinates": tuple(coordinates),
        "activations": a,
        "muscle_forces_n": forces,
        "muscle_moments_nm": r * forces[:, :, None],
        "residuals_nm": res,
        "converged": ok,
        "in_range": inside,
    }


def hip_extension_shares(result: dict[str, Any]) -> np.ndarray:
    """Each muscle's share (%) of the hip extension moment impulse over frames with a net extension moment."""
    k = result["coordinates"].index("hip_flexion")
    mm = result["muscle_moments_nm"][:, :, k]
    ext = np.clip(-mm, 0.0, None)
    total_ext_frames = -(mm.sum(axis=1)) > 0
    s = ext[total_ext_frames].sum(axis=0)
    return 100.0 * s / s.sum() if s.sum() > 0 else np.zeros(mm.shape[1])
