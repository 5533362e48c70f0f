"""Polynomial surrogates of muscle-tendon length and their analytic derivatives (moment arms).

Length of each muscle is a polynomial of total degree ``d`` in the scaled coordinates
``x = (q - centre) / half_range`` (q in rad). Moment arms are ``-dL/dq``, computed from derivative coefficients
prepared once, so one matrix product gives lengths and all moment arms for many poses.
"""

from __future__ import annotations

import itertools

import numpy as np


def exponents(n_vars: int, degree: int, *, capped: tuple[int, ...] = (), cap: int | None = None) -> np.ndarray:
    """Exponent tuples of all monomials of total degree <= ``degree``, graded order, shape (T, n_vars); with
    ``cap``, only those whose combined degree in the variables ``capped`` is <= ``cap``."""
    if n_vars < 1 or degree < 0:
        raise ValueError(f"n_vars, degree: got {n_vars}, {degree}; expected n_vars >= 1 and degree >= 0")
    limit = degree if cap is None else cap
    out = [e for e in itertools.product(range(degree + 1), repeat=n_vars)
           if sum(e) <= degree and sum(e[v] for v in capped) <= limit]
    out.sort(key=lambda e: (sum(e), tuple(-v for v in e)))
    return np.asarray(out, dtype=np.int64).reshape(-1, n_vars)


def recurrence(exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each monomial k > 0: the parent monomial index and the variable that multiplies it."""
    index = {tuple(e): k for k, e in enumerate(exps.tolist())}
    parent = np.zeros(len(exps), dtype=np.int64)
    var = np.zeros(len(exps), dtype=np.int64)
    for k, e in enumerate(exps.tolist()):
        if k == 0:
            continue
        v = next(i for i, p in enumerate(e) if p > 0)
        e2 = list(e)
        e2[v] -= 1
        parent[k] = index[tuple(e2)]
        var[k] = v
    return parent, var


def basis(x: np.ndarray, parent: np.ndarray, var: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Monomial values, shape (T, N), for scaled coordinates ``x`` of shape (n_vars, N)."""
    t, n = len(parent), x.shape[1]
    b = np.empty((t, n), dtype=x.dtype) if out is None else out[:, :n]
    b[0] = 1.0
    for k in range(1, t):
        np.multiply(b[parent[k]], x[var[k]], out=b[k])
    return b


def derivative_matrix(exps: np.ndarray, v: int) -> np.ndarray:
    """Matrix D (T, T) such that coefficients ``D @ c`` give d/dx_v of the polynomial with coefficients c."""
    index = {tuple(e): k for k, e in enumerate(exps.tolist())}
    d = np.zeros((len(exps), len(exps)))
    for k, e in enumerate(exps.tolist()):
        if e[v] > 0:
            e2 = list(e)
            e2[v] -= 1
            d[index[tuple(e2)], k] = e[v]
    return d


def fit_length_polynomial(
    *,
    x: np.ndarray,
    half_range_rad: np.ndarray,
    lengths_m: np.ndarray,
    moment_arms_m: np.ndarray,
    degree: int,
    capped: tuple[int, ...] = (),
    cap: int | None = None,
    derivative_weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (Hermite) fit of length and moment arms of one muscle.

    Parameters
    ----------
    x
        Scaled coordinates, shape (N, n_vars), in [-1, 1].
    half_range_rad
        Half ranges of the coordinates (rad), shape (n_vars,).
    lengths_m
        Muscle-tendon lengths (m), shape (N,).
    moment_arms_m
        Moment arms (m) about each coordinate, shape (N, n_vars); moment arm = -dL/dq.
    degree
        Total polynomial degree.
    capped, cap
        Variables (columns of ``x``) whose combined degree is at most ``cap`` (None: ``degree``).
    derivative_weight
        Weight (m per m/rad) of the moment-arm equations against the length equations.

    Returns
    -------
    (exponents, coefficients)
    """
    n_vars = x.shape[1]
    exps = exponents(n_vars, degree, capped=capped, cap=cap)
    parent, var = recurrence(exps)
    b = basis(np.ascontiguousarray(x.T), parent, var).T  # (N, T)
    rows = [b]
    rhs = [lengths_m]
    for v in range(n_vars):
        db = b @ derivative_matrix(exps, v)  # d(monomials)/dx_v expressed with the monomials below
        rows.append(derivative_weight * db / half_range_rad[v])
        rhs.append(derivative_weight * (-moment_arms_m[:, v]))
    a = np.vstack(rows)
    y = np.concatenate(rhs)
    scale = np.sqrt((a**2).sum(axis=0))
    scale[scale == 0] = 1.0
    coef = np.linalg.lstsq(a / scale, y, rcond=None)[0] / scale
    return exps, coef


def evaluate(exps: np.ndarray, coef: np.ndarray, x: np.ndarray, half_range_rad: np.ndarray) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """Lengths (N,) and moment arms (N, n_vars) of the polynomial ``coef`` over ``exps`` at scaled coordinates
    ``x`` (N, n_vars): the slow, plain evaluation the compiler checks fits with."""
    parent, var = recurrence(exps)
    b = basis(np.ascontiguousarray(x.T), parent, var).T
    mas = [-(b @ (derivative_matrix(exps, v) @ coef)) / half_range_rad[v] for v in range(x.shape[1])]
    return b @ coef, np.stack(mas, axis=1)
