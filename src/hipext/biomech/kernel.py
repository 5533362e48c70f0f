"""The lengths-and-moment-arms kernel: polynomial basis, two small matrix products, results written in place.

One muscle group shares one polynomial basis in its scaled coordinates ``x = (q - centre) / half_range``. The
monomials are ordered so that each degree is built from the previous one by a few contiguous, broadcast
multiplications (``Basis.steps``), and graded, so the derivative polynomials (one degree lower) use a prefix of
the same basis. Lengths are ``w_len @ basis``; moment arms ``w_der @ basis[:t_der]``, one row per (muscle,
coordinate) the group's polynomial depends on; coordinates a muscle does not cross are never computed (their
moment arms are exactly zero).

Two implementations produce the same numbers: ``evaluate_numpy`` (always available) and a fused kernel compiled
with numba (``evaluate_fused``), which keeps each block of poses in cache and calls BLAS once per block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK = 256  # poses per block of the compiled kernel: the basis (T x BLOCK) stays in the L2 cache
NUMPY_BLOCK = 4096  # larger blocks for numpy, whose cost is per call


@dataclass(frozen=True)
class Basis:
    """Monomials of total degree <= ``degree`` in ``n_vars`` variables, in construction order.

    ``exponents`` (T, n_vars); ``steps`` (S, 4) rows (dst, src, count, var): basis[dst:dst+count] =
    basis[src:src+count] * x[var]; ``n_below`` = number of monomials of degree < ``degree``.
    """

    exponents: np.ndarray
    steps: np.ndarray
    n_below: int

    @classmethod
    def build(cls, n_vars: int, degree: int) -> Basis:
        # A monomial's lead is its first variable with a positive exponent (n_vars for the constant). Each degree
        # is kept sorted by lead, so "monomials of the previous degree with lead >= v" is a contiguous suffix and
        # x_v times that suffix is the next contiguous block (with lead v).
        levels = [[(0,) * n_vars]]
        leads = [[n_vars]]
        starts = [0]
        steps = []
        for _ in range(degree):
            prev, prev_leads, start = levels[-1], leads[-1], starts[-1] + len(levels[-1])
            cur: list[tuple[int, ...]] = []
            cur_leads: list[int] = []
            for v in range(n_vars):
                first = next(i for i, lead in enumerate(prev_leads) if lead >= v)
                steps.append((start + len(cur), starts[-1] + first, len(prev) - first, v))
                for e in prev[first:]:
                    e2 = list(e)
                    e2[v] += 1
                    cur.append(tuple(e2))
                    cur_leads.append(v)
            levels.append(cur)
            leads.append(cur_leads)
            starts.append(start)
        exps = np.asarray([e for level in levels for e in level], dtype=np.int64).reshape(-1, n_vars)
        return cls(exps, np.asarray(steps, dtype=np.int64).reshape(-1, 4), int(starts[-1]))


@dataclass(frozen=True)
class Group:
    """One group's prepared arrays for a given dtype."""

    muscle_index: np.ndarray  # (mg,) output muscle of each length row
    variables: np.ndarray  # (nv,) coordinates the polynomials depend on
    centre: np.ndarray  # (nv,)
    inv_half: np.ndarray  # (nv,)
    steps: np.ndarray
    w_len: np.ndarray  # (mg, T)
    w_der: np.ndarray  # (mg * nv, t_der), rows muscle-major: row j * nv + k is muscle j about variables[k]
    der_offset: np.ndarray  # (mg * nv,) where each derivative row goes in a pose's (M * 4) moment arms
    zero_offset: np.ndarray  # moment arms of the group's muscles about coordinates they do not cross: 0

    @property
    def n_terms(self) -> int:
        return self.w_len.shape[1]

    def astype(self, dtype: Any) -> Group:
        f = functools.partial(np.ascontiguousarray, dtype=dtype)
        return Group(self.muscle_index, self.variables, f(self.centre), f(self.inv_half), self.steps,
                     f(self.w_len), f(self.w_der), self.der_offset, self.zero_offset)


def basis_block(x: np.ndarray, steps: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Monomial values (T, n) into ``out`` for scaled coordinates ``x`` (nv, n)."""
    out[0] = 1.0
    for dst, src, cnt, v in steps.tolist():
        np.multiply(out[src:src + cnt], x[v], out=out[dst:dst + cnt])
    return out


def evaluate_numpy(groups: list[Group], q: np.ndarray, lengths: np.ndarray, mas: np.ndarray, *, clip: bool) -> int:
    """Lengths (N, M) and moment arms (N, M, 4) of poses ``q`` (N, 4), written into the given arrays.

    ``clip`` clamps the scaled coordinates to the fitted range. Returns the number of non-finite pose values
    (the outputs are then meaningless).
    """
    n, dtype = q.shape[0], lengths.dtype
    bad = int(q.size - np.count_nonzero(np.isfinite(q)))
    for g in groups:
        b = np.empty((g.n_terms, min(n, NUMPY_BLOCK)), dtype=dtype)
        for s in range(0, n, NUMPY_BLOCK):
            e = min(n, s + NUMPY_BLOCK)
            x = (q[s:e, g.variables].T - g.centre[:, None]) * g.inv_half[:, None]
            if clip:
                np.clip(x, -1.0, 1.0, out=x)
            bb = basis_block(x, g.steps, b[:, : e - s])
            lengths[s:e, g.muscle_index] = (g.w_len @ bb).T
            flat = mas[s:e].reshape(e - s, -1)
            flat[:, g.der_offset] = (g.w_der @ bb[: g.w_der.shape[1]]).T
            flat[:, g.zero_offset] = 0.0
    return bad


@functools.cache
def fused() -> Any:
    """The numba-compiled block kernel, or None when numba is not installed (compiled once, cached on disk)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency; kept optional for exotic platforms
        return None

    @numba.njit(cache=True, nogil=True)
    def group_kernel(q, clip, variables, centre, inv_half, steps, w_len_t, w_der_t, len_offset, der_offset,
                     zero_offset, lengths, mas, b, y_len, y_der):  # pragma: no cover - compiled
        n, n_vars, block, t_der = q.shape[0], variables.shape[0], b.shape[1], w_der_t.shape[0]
        x = np.empty((n_vars, block), dtype=b.dtype)
        bad = 0
        for s in range(0, n, block):
            cnt = min(block, n - s)
            for v in range(n_vars):
                for p in range(block):  # a short last block repeats its last pose
                    val = q[s + min(p, cnt - 1), variables[v]]
                    if not np.isfinite(val):
                        bad += 1
                    xv = (val - centre[v]) * inv_half[v]
                    x[v, p] = min(max(xv, -1.0), 1.0) if clip else xv
            b[0, :] = 1.0
            for i in range(steps.shape[0]):
                dst, src, k, v = steps[i, 0], steps[i, 1], steps[i, 2], steps[i, 3]
                for r in range(k):
                    for p in range(block):
                        b[dst + r, p] = b[src + r, p] * x[v, p]
            # pose-major products: each pose's results are one contiguous row, written straight to the outputs
            np.dot(b.T, w_len_t, y_len)
            np.dot(b[:t_der].T, w_der_t, y_der)
            for p in range(cnt):
                row_len, row_ma = lengths[s + p], mas[s + p].ravel()
                for r in range(len_offset.shape[0]):
                    row_len[len_offset[r]] = y_len[p, r]
                for r in range(der_offset.shape[0]):
                    row_ma[der_offset[r]] = y_der[p, r]
                for r in range(zero_offset.shape[0]):
                    row_ma[zero_offset[r]] = 0.0
        return bad

    return group_kernel


def evaluate_fused(kernel: Any, groups: list[Group], q: np.ndarray, lengths: np.ndarray, mas: np.ndarray, *,
                   clip: bool) -> int:
    """As ``evaluate_numpy``, with the compiled kernel (one call per group over all poses)."""
    dtype, bad = lengths.dtype, 0
    block = min(BLOCK, -(-q.shape[0] // 8) * 8)  # a short batch is not padded to a whole block
    for g in groups:
        b = np.empty((g.n_terms, block), dtype=dtype)
        y_len = np.empty((block, g.w_len.shape[0]), dtype=dtype)
        y_der = np.empty((block, g.w_der.shape[0]), dtype=dtype)
        bad = kernel(q, clip, g.variables, g.centre, g.inv_half, g.steps, g.w_len.T, g.w_der.T, g.muscle_index,
                     g.der_offset, g.zero_offset, lengths, mas, b, y_len, y_der)
    return int(bad)
