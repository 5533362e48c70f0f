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

import functools
from typing import Any

import numpy as np

from hipext.biomech.model import HipExtensorModel

COORD_INDEX = {"hip_flexion": 0, "hip_adduction": 1, "hip_rotation": 2, "knee_flexion": 3}


def solve_bounded_min_norm(
    *, gains: np.ndarray, targets: np.ndarray, residual_weight: float, max_iterations: int | None = None,
    engine: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve min |a|^2 + rho |M - G a|^2 s.t. 0 <= a <= 1 for many frames.

    The compiled solver (numba; ``engine='auto'`` or ``'compiled'``) runs the same primal active-set method frame
    by frame: each frame stops as soon as it has converged, and the k x k systems (k = 1 or 2 joint moments) are
    solved in closed form. ``engine='numpy'`` runs it for all frames at once with numpy (the slower reference).

    Parameters
    ----------
    gains
        G, shape (N, m, k): moment (N m) each muscle makes about each coordinate at full activation.
    targets
        M, shape (N, k): moments (N m) the muscles should make.
    residual_weight
        rho (1/(N m)^2): cost of a squared residual moment relative to a squared activation.
    max_iterations
        Active-set iterations (default 4 m + 20); frames not finished are flagged in ``converged``.

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
    iterations = 4 * m + 20 if max_iterations is None else int(max_iterations)
    if engine not in ("auto", "compiled", "numpy"):
        raise ValueError(f"engine: got {engine!r}; expected 'auto', 'compiled' or 'numpy'")
    solver = _compiled_solver() if engine != "numpy" else None
    if engine == "compiled" and solver is None:
        raise ValueError("engine: 'compiled' needs numba (pip install numba); expected 'auto' or 'numpy'")
    if solver is not None:
        a = np.zeros((n, m))
        converged = np.zeros(n, dtype=bool)
        solver(np.ascontiguousarray(g), np.ascontiguousarray(mvec), float(residual_weight), iterations, a, converged)
        return a, mvec - np.einsum("nmk,nm->nk", g, a), converged
    # Primal active-set method (Nocedal & Wright, Algorithm 16.3), run for all frames at once. Start from the
    # feasible point a = 0 with every lower bound in the working set.
    lower = np.ones((n, m), dtype=bool)
    upper = np.zeros((n, m), dtype=bool)
    a = np.zeros((n, m))
    eye = np.eye(k) / residual_weight
    converged = np.zeros(n, dtype=bool)
    for _ in range(iterations):
        free = ~(lower | upper)
        gf = g * free[:, :, None]
        rhs = mvec - np.einsum("nmk,nm->nk", g, upper.astype(float))
        mat = eye[None] + np.einsum("nmk,nml->nkl", gf, gf)
        lam = np.linalg.solve(mat, rhs[:, :, None])[:, :, 0]
        gl = np.einsum("nmk,nk->nm", g, lam)  # G_i^T lambda: the free solution, and the bound multipliers' sign
        target = np.where(free, gl, upper.astype(float))
        p = target - a
        # Ratio test along p for free variables that would leave [0, 1].
        with np.errstate(divide="ignore", invalid="ignore"):
            to_low = np.where(free & (p < -1e-15), -a / p, np.inf)
            to_up = np.where(free & (p > 1e-15), (1.0 - a) / p, np.inf)
        steps = np.minimum(to_low, to_up)
        alpha = np.minimum(1.0, steps.min(axis=1))
        active = ~converged
        a = np.where(active[:, None], a + alpha[:, None] * p, a)
        blocked = active & (alpha < 1.0)
        if blocked.any():
            rows = np.flatnonzero(blocked)
            j = np.argmin(steps[rows], axis=1)
            hits_low = to_low[rows, j] <= to_up[rows, j]
            lower[rows[hits_low], j[hits_low]] = True
            upper[rows[~hits_low], j[~hits_low]] = True
            a[rows[hits_low], j[hits_low]] = 0.0
            a[rows[~hits_low], j[~hits_low]] = 1.0
        # Frames that reached their subproblem minimum: release the bound with the most negative multiplier.
        reached = active & ~blocked
        score = np.where(lower, gl, -np.inf)  # > 0: the objective decreases by raising a_i from 0
        score = np.maximum(score, np.where(upper, 1.0 - gl, -np.inf))  # > 0: decreases by lowering from 1
        best = np.argmax(score, axis=1)
        best_score = score[np.arange(n), best]
        release = reached & (best_score > 1e-12)
        rows = np.flatnonzero(release)
        lower[rows, best[rows]] = False
        upper[rows, best[rows]] = False
        converged |= reached & ~release
        if converged.all():
            break
    a = np.clip(a, 0.0, 1.0)
    residual = mvec - np.einsum("nmk,nm->nk", g, a)
    return a, residual, converged


@functools.cache
def _compiled_solver() -> Any:
    """The per-frame primal active-set solver compiled with numba (None without numba); cached on disk."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(cache=True, nogil=True)
    def solve_frames(g, targets, rho, iterations, a, converged):  # pragma: no cover - compiled
        n, m, k = g.shape
        lower = np.empty(m, dtype=np.bool_)
        upper = np.empty(m, dtype=np.bool_)
        mat = np.empty((k, k))
        lam = np.empty(k)
        gl = np.empty(m)
        for f in range(n):
            lower[:] = True
            upper[:] = False
            a[f, :] = 0.0
            for _ in range(iterations):
                # (I / rho + G_free^T G_free) lambda = M - G_upper^T 1, k x k
                for r in range(k):
                    lam[r] = targets[f, r]
                    for c in range(k):
                        mat[r, c] = 1.0 / rho if r == c else 0.0
                for i in range(m):
                    if upper[i]:
                        for r in range(k):
                            lam[r] -= g[f, i, r]
                    elif not lower[i]:
                        for r in range(k):
                            for c in range(k):
                                mat[r, c] += g[f, i, r] * g[f, i, c]
                if k == 1:
                    lam[0] /= mat[0, 0]
                elif k == 2:  # closed form
                    det = mat[0, 0] * mat[1, 1] - mat[0, 1] * mat[1, 0]
                    l0 = (mat[1, 1] * lam[0] - mat[0, 1] * lam[1]) / det
                    lam[1] = (mat[0, 0] * lam[1] - mat[1, 0] * lam[0]) / det
                    lam[0] = l0
                else:
                    lam[:] = np.linalg.solve(mat, lam)
                alpha, block, block_low = 1.0, -1, False
                for i in range(m):
                    s = 0.0
                    for r in range(k):
                        s += g[f, i, r] * lam[r]
                    gl[i] = s
                    if not (lower[i] or upper[i]):  # ratio test along p = free solution - a
                        p = s - a[f, i]
                        if p < -1e-15 and -a[f, i] / p < alpha:
                            alpha, block, block_low = -a[f, i] / p, i, True
                        elif p > 1e-15 and (1.0 - a[f, i]) / p < alpha:
                            alpha, block, block_low = (1.0 - a[f, i]) / p, i, False
                for i in range(m):
                    if not (lower[i] or upper[i]):
                        a[f, i] += alpha * (gl[i] - a[f, i])
                if block >= 0:
                    lower[block], upper[block] = block_low, not block_low
                    a[f, block] = 0.0 if block_low else 1.0
                    continue
                # subproblem minimum reached: release the bound whose multiplier is most negative, if any
                best, best_score = -1, 1e-12
                for i in range(m):
                    score = gl[i] if lower[i] else (1.0 - gl[i] if upper[i] else -np.inf)
                    if score > best_score:
                        best, best_score = i, score
                if best < 0:
                    converged[f] = True
                    break
                lower[best], upper[best] = False, False
            for i in range(m):
                a[f, i] = min(max(a[f, i], 0.0), 1.0)

    return solve_frames


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
    _, inside = model.check_poses(q, out_of_range="extrapolate")
    lengths, mas = model.lengths_and_moment_arms(poses_rad=q, out_of_range="clip")
    qd = np.zeros_like(q) if joint_velocities_rad_s is None else np.asarray(joint_velocities_rad_s, dtype=float)
    if qd.shape != q.shape:
        raise ValueError(f"joint_velocities_rad_s: got shape {qd.shape}; expected {q.shape}")
    vmt = -np.einsum("nmj,nj->nm", mas, qd)
    if tendon == "rigid":
        f_active, f_passive = model.rigid_tendon_forces_n(lengths_m=lengths, mt_velocity_m_s=vmt, curves=curves)
    else:
        full = model.fiber_states(lengths_m=lengths, mt_velocity_m_s=vmt, curves=curves, tendon=tendon)
        cos_a = np.cos(full["pennation_rad"])
        f_active, f_passive = full["active_force_n"] * cos_a, full["passive_force_n"] * cos_a
    if not use_passive:
        f_passive = np.zeros_like(f_active)
    r = mas[:, :, [COORD_INDEX[c] for c in coordinates]]  # (N, m, k)
    gains = r * f_active[:, :, None]  # moments at full activation, along a rigid tendon
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


def split_hip_extension(
    *,
    model: HipExtensorModel,
    poses_rad: np.ndarray,
    hip_extension_moment_nm: np.ndarray | float,
    knee_flexion_moment_nm: np.ndarray | float | None = None,
    curves: str | None = None,
) -> dict[str, Any]:
    """Share each muscle takes of a submaximal hip extension moment, open or closed chain (isometric).

    Open chain (``knee_flexion_moment_nm=None``, e.g. prone hip extension): only the hip moment is prescribed;
    whatever the hamstrings do at the knee is taken by the shank's support. Closed chain (a knee moment given,
    typically negative = a knee extension moment as in a squat or in stance): the knee moment is prescribed
    too. The model holds the hip extensors only (no quadriceps), so in closed chain any hamstring knee flexion
    moment must be cancelled by the knee residual, which is costly: the hamstrings' share falls, as the
    antagonism at the knee suggests. Read the closed-chain numbers as a direction, not as magnitudes.

    Parameters
    ----------
    poses_rad
        (N, 4) poses in rad.
    hip_extension_moment_nm
        Hip extension moment (N m, positive = extension) the muscles should make.
    knee_flexion_moment_nm
        None for open chain; else the knee flexion moment (N m; negative = knee extension moment).

    Returns
    -------
    dict with share_percent (N, m) of the muscles' hip extension moment, activations (N, m), residuals_nm.
    """
    q = np.atleast_2d(np.asarray(poses_rad, dtype=float))
    n = q.shape[0]
    hip = np.broadcast_to(np.asarray(hip_extension_moment_nm, dtype=float), (n,))
    if knee_flexion_moment_nm is None:
        coords: tuple[str, ...] = ("hip_flexion",)
        moments = -hip[:, None]
    else:
        coords = ("hip_flexion", "knee_flexion")
        knee = np.broadcast_to(np.asarray(knee_flexion_moment_nm, dtype=float), (n,))
        moments = np.stack([-hip, knee], axis=1)
    r = static_optimisation(model=model, poses_rad=q, moments_nm=moments, coordinates=coords, curves=curves,
                            use_passive=False)
    ext = np.clip(-r["muscle_moments_nm"][:, :, 0], 0.0, None)
    tot = ext.sum(axis=1, keepdims=True)
    share = np.divide(100.0 * ext, tot, out=np.zeros_like(ext), where=tot > 0)
    return {"share_percent": share, "activations": r["activations"], "residuals_nm": r["residuals_nm"],
            "coordinates": coords}
