"""The lengths-and-moment-arms kernel: polynomial basis, small matrix products, results written in place.

One muscle group shares one polynomial basis in its scaled coordinates ``x = (q - centre) / half_range``. The
monomials are ordered so that each degree is built from the previous one by a few contiguous, broadcast
multiplications (``Basis.steps``), and graded, so a lower degree uses a prefix of the same basis: a muscle fitted at
degree d needs the monomials of degree <= d for its length and those of degree < d for its moment arms (the
derivatives). Lengths are ``w_len @ basis``; moment arms ``w_der @ basis[:t_der]``, one row per (muscle, coordinate)
the group's polynomial depends on; coordinates a muscle does not cross are never computed (their moment arms are
exactly zero).

Two implementations produce the same numbers: ``evaluate_numpy`` (always available) and a fused kernel compiled
with numba (``evaluate_fused``), which keeps each block of poses in cache, calls BLAS once per product (the rows of a
group that need the same prefix of its basis) and writes each pose's outputs once.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK = 64  # poses per block of the compiled kernel: small enough for single-threaded BLAS and an L2-resident basis
NUMPY_BLOCK = 4096  # larger blocks for numpy, whose cost is per call


@dataclass(frozen=True)
class Basis:
    """A set of monomials in ``n_vars`` variables, in construction order.

    ``exponents`` (T, n_vars); ``steps`` (S, 4) rows (dst, src, count, var): basis[dst:dst+count] =
    basis[src:src+count] * x[var]; ``n_upto[d]`` = number of monomials of degree <= d (the basis is graded: the
    monomials of a lower degree are a prefix).
    """

    exponents: np.ndarray
    steps: np.ndarray
    n_upto: np.ndarray

    @property
    def n_below(self) -> int:
        """Number of monomials below the top degree (what the derivatives need)."""
        return int(self.n_upto[-2]) if len(self.n_upto) > 1 else 0

    @classmethod
    def build(cls, n_vars: int, degree: int) -> Basis:
        """Every monomial of total degree <= ``degree``."""
        return cls.of(np.asarray([e for e in itertools.product(range(degree + 1), repeat=n_vars)
                                  if sum(e) <= degree]).reshape(-1, n_vars))

    @classmethod
    def of(cls, exponents: np.ndarray) -> Basis:
        """The monomials ``exponents`` (T, n_vars): the constant and, with each monomial, the one with its first
        positive exponent (its lead) lowered by one, e.g. a total degree set with some variables' degree capped."""
        n_vars = exponents.shape[1]
        wanted = {tuple(e) for e in exponents.tolist()}
        # Each degree is kept sorted by lead, so "monomials of the previous degree with lead >= v" is a contiguous
        # suffix and x_v times that suffix is the next contiguous block (with lead v), less any left out of the set.
        levels = [[(0,) * n_vars]]
        leads = [[n_vars]]
        starts = [0]
        made: list[tuple[int, int, int]] = []  # (dst, src, var) per monomial
        for _ in range(int(exponents.sum(axis=1).max())):
            prev, prev_leads, start = levels[-1], leads[-1], starts[-1] + len(levels[-1])
            cur: list[tuple[int, ...]] = []
            cur_leads: list[int] = []
            for v in range(n_vars):
                for i, (e, lead) in enumerate(zip(prev, prev_leads, strict=True)):
                    e2 = e[:v] + (e[v] + 1,) + e[v + 1:]
                    if lead >= v and e2 in wanted:
                        made.append((start + len(cur), starts[-1] + i, v))
                        cur.append(e2)
                        cur_leads.append(v)
            levels.append(cur)
            leads.append(cur_leads)
            starts.append(start)
        exps = [e for level in levels for e in level]
        if len(exps) != len(wanted) or (0,) * n_vars not in wanted:
            raise ValueError("exponents: expected the constant and, with each monomial, the one with its lead "
                             "exponent lowered")
        steps: list[list[int]] = []
        for dst, src, v in made:  # runs of consecutive monomials made from consecutive ones: one step each
            last = steps[-1] if steps else [0, 0, 0, -1]
            if last[3] == v and last[0] + last[2] == dst and last[1] + last[2] == src and src < last[0]:
                last[2] += 1  # (a run never reads what it writes)
            else:
                steps.append([dst, src, 1, v])
        return cls(np.asarray(exps, dtype=np.int64).reshape(-1, n_vars),
                   np.asarray(steps, dtype=np.int64).reshape(-1, 4), np.cumsum([len(level) for level in levels]))


@dataclass(frozen=True)
class Group:
    """One group's prepared arrays for a given dtype."""

    muscle_index: np.ndarray  # (mg,) output muscle of each length row
    degrees: np.ndarray  # (mg,) each muscle's polynomial degree: its coefficients beyond n_upto[degree] are zero
    n_upto: np.ndarray  # as ``Basis.n_upto``
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
        return dataclasses.replace(self, centre=f(self.centre), inv_half=f(self.inv_half), w_len=f(self.w_len),
                                   w_der=f(self.w_der))


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


@dataclass(frozen=True)
class Plan:
    """A model's groups packed for the compiled kernel, which makes a single pass over the poses.

    The groups' monomials are stacked in one basis. Product ``i`` multiplies basis rows ``k_start[i]`` to
    ``k_start[i] + k_count[i]`` of a block of poses by its weights (``weights[w_offset[i]:]`` as (k_count, n_rows))
    into columns ``col[i]`` to ``col[i] + n_rows[i]`` of the block's results (pose-major, ``n_cols`` per pose). A
    muscle fitted at degree d needs the monomials of degree <= d for its length and those of degree < d for its
    moment arms: each product gathers a group's rows that need the same prefix of its basis (the lengths of degree d
    and the moment arms of degree d + 1), so a lower degree costs only its own terms and the products stay as large
    as they can. Output value ``c`` of a pose (M lengths, then M * 4 moment arms) is its results column ``take[c]``;
    every structurally zero moment arm reads the last column, which is never written: nothing is computed for them.
    """

    centre: np.ndarray  # (4,): the groups share the model's fitted range
    inv_half: np.ndarray
    used: np.ndarray  # (4,) bool: coordinates some group depends on
    steps: np.ndarray  # (S, 4) as ``Basis.steps``, in stacked rows, var = coordinate index
    ones: np.ndarray  # stacked rows of the constant monomials
    k_start: np.ndarray
    k_count: np.ndarray
    n_rows: np.ndarray
    w_offset: np.ndarray
    weights: np.ndarray
    col: np.ndarray
    take: np.ndarray  # (M * 5,)
    n_basis: int
    n_cols: int
    block: int

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds per pose of the products (the basis and the output not counted)."""
        return int((self.k_count * self.n_rows).sum())

    @classmethod
    def build(cls, groups: list[Group], n_muscles: int, block: int, dtype: Any) -> Plan:
        centre, inv_half, used = np.zeros(4), np.ones(4), np.zeros(4, dtype=bool)
        steps, ones, products = [], [], []  # products: (k_start, weights (rows, k), output value of each row)
        base = 0
        for g in groups:
            centre[g.variables], inv_half[g.variables], used[g.variables] = g.centre, g.inv_half, True
            ones.append(base)
            steps += [(dst + base, src + base, cnt, int(g.variables[v])) for dst, src, cnt, v in g.steps.tolist()]
            # every row as (weights, output value, monomials it needs: a prefix of the basis)
            nv = len(g.variables)
            rows = [(g.w_len[j], int(g.muscle_index[j]), int(g.n_upto[d])) for j, d in enumerate(g.degrees)]
            rows += [(g.w_der[r], n_muscles + int(g.der_offset[r]), int(g.n_upto[g.degrees[r // nv] - 1]))
                     for r in range(len(g.der_offset))]
            for k in sorted({k for _, _, k in rows}):  # one product per prefix
                mine = [(w[:k], out) for w, out, k_row in rows if k_row == k]
                products.append((base, np.asarray([w for w, _ in mine]), np.asarray([out for _, out in mine])))
            base += g.n_terms
        n_rows = [w.shape[0] for _, w, _ in products]
        col = np.cumsum([0] + n_rows)
        take = np.full(n_muscles * 5, col[-1], dtype=np.int64)  # the zero column
        for (_, _, outs), at in zip(products, col, strict=False):
            take[outs] = at + np.arange(len(outs))
        i64 = functools.partial(np.asarray, dtype=np.int64)
        return cls(
            centre=centre.astype(dtype), inv_half=inv_half.astype(dtype), used=used, steps=i64(steps).reshape(-1, 4),
            ones=i64(ones), k_start=i64([k for k, _, _ in products]), k_count=i64([w.shape[1] for _, w, _ in products]),
            n_rows=i64(n_rows), w_offset=i64(np.cumsum([0] + [w.size for _, w, _ in products])[:-1]),
            weights=np.concatenate([np.ascontiguousarray(w.T).ravel() for _, w, _ in products]).astype(dtype),
            col=i64(col[:-1]), take=take, n_basis=base, n_cols=int(col[-1]) + 1, block=block,
        )


@functools.cache
def fused() -> Any:
    """The numba-compiled kernel, or None without numba or scipy (whose BLAS it calls); cached on disk."""
    try:
        import numba
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:  # pragma: no cover - both are dependencies; kept optional for exotic platforms
        return None

    @numba.njit(cache=True, nogil=True)
    def plan_kernel(q, clip, centre, inv_half, used, steps, ones, k_start, k_count, n_rows, w_offset, weights, col,
                    take, lengths, mas, b_flat, x_flat, z, gemm, ints, scalars, block):  # pragma: no cover - compiled
        n, n_len, n_basis, n_cols = q.shape[0], lengths.shape[1], b_flat.shape[0] // block, z.shape[0] // block
        mflat = mas.reshape(mas.shape[0], -1)
        bad = 0
        z[:] = 0.0  # the zero column is never written
        for s in range(0, n, block):
            cnt = min(block, n - s)
            width = min(block, -(-cnt // 8) * 8)  # a short last block is computed on its poses only (rounded up)
            b = b_flat[:n_basis * width].reshape(n_basis, width)
            x = x_flat[:4 * width].reshape(4, width)
            for v in range(4):
                if used[v]:
                    for p in range(width):  # the rounding repeats the last pose
                        val = q[s + min(p, cnt - 1), v]
                        if p < cnt and not np.isfinite(val):
                            bad += 1
                        xv = (val - centre[v]) * inv_half[v]
                        x[v, p] = min(max(xv, -1.0), 1.0) if clip else xv
            for i in range(ones.shape[0]):
                b[ones[i], :] = 1.0
            for i in range(steps.shape[0]):
                dst, sr, k, v = steps[i, 0], steps[i, 1], steps[i, 2], steps[i, 3]
                for r in range(k):
                    for p in range(width):
                        b[dst + r, p] = b[sr + r, p] * x[v, p]
            # BLAS (column-major) writes each product's rows straight into its columns of the pose-major results:
            # results^T[col:col+rows, :width] = weights^T (rows x k) @ basis rows (k x width)
            ints[0], ints[1], ints[4], ints[5] = 78, 84, width, n_cols  # 'N', 'T'
            for i in range(k_start.shape[0]):
                ints[2], ints[3] = n_rows[i], k_count[i]
                gemm(ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes, ints[4:].ctypes, ints[3:].ctypes,
                     scalars[0:].ctypes, weights[w_offset[i]:].ctypes, ints[2:].ctypes, b[k_start[i]:].ctypes,
                     ints[4:].ctypes, scalars[1:].ctypes, z[col[i]:].ctypes, ints[5:].ctypes)
            # each pose's outputs gathered from its results row and written once, in order
            for p in range(cnt):
                zr, row_len, row_ma = z[p * n_cols:(p + 1) * n_cols], lengths[s + p], mflat[s + p]
                for c in range(n_len):
                    row_len[c] = zr[take[c]]
                for c in range(row_ma.shape[0]):
                    row_ma[c] = zr[take[n_len + c]]
        return bad

    return plan_kernel


@functools.cache
def _gemm(dtype: np.dtype) -> Any:
    """scipy's BLAS ?gemm as a function pointer the compiled kernel calls (arguments by address, Fortran order)."""
    import ctypes

    from numba.extending import get_cython_function_address

    name = "dgemm" if dtype == np.float64 else "sgemm"
    return ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(
        get_cython_function_address("scipy.linalg.cython_blas", name))


def evaluate_fused(kernel: Any, plan: Plan, q: np.ndarray, lengths: np.ndarray, mas: np.ndarray, *,
                   clip: bool) -> int:
    """As ``evaluate_numpy``, with the compiled kernel and a plan made for ``lengths.dtype``."""
    dtype = lengths.dtype
    b, x = np.empty(plan.n_basis * plan.block, dtype=dtype), np.empty(4 * plan.block, dtype=dtype)
    z = np.empty(plan.n_cols * plan.block, dtype=dtype)
    ints, scalars = np.zeros(6, dtype=np.int32), np.array([1.0, 0.0], dtype=dtype)  # BLAS arguments; alpha, beta
    return int(kernel(q, clip, plan.centre, plan.inv_half, plan.used, plan.steps, plan.ones, plan.k_start,
                      plan.k_count, plan.n_rows, plan.w_offset, plan.weights, plan.col, plan.take, lengths, mas, b, x,
                      z, _gemm(dtype), ints, scalars, plan.block))


@functools.cache
def rigid_forces() -> Any:
    """Compiled ``HipExtensorModel.rigid_tendon_forces_n`` for the model's sampled curves (None without numba).

    Same arithmetic as the numpy path (``curves.interp_uniform`` on each table), one pass over (pose, muscle):
    for a single trial the numpy path is dominated by the cost of its many small array operations.
    """
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None

    @numba.njit(cache=True, nogil=True)
    def lookup(table, j, x0, dx, x):  # pragma: no cover - compiled
        s = min(max((x - x0) / dx, 0.0), table.shape[1] - 1.000001)
        i = int(s)
        f = s - i
        return table[j, i] * (1.0 - f) + table[j, i + 1] * f

    @numba.njit(cache=True, nogil=True)
    def forces(lengths, vmt, lts, lopt, f0, h, vmax, x_min, afl, pfl, fv, l0, dl, v0, dv, f_active,
               f_passive):  # pragma: no cover - compiled
        for n in range(lengths.shape[0]):
            for j in range(lengths.shape[1]):
                x = max(lengths[n, j] - lts[j], x_min[j])
                lf = np.sqrt(x * x + h[j] * h[j])
                cos_a = x / lf
                ln = lf / lopt[j]
                f0_cos = f0[j] * cos_a
                speed = lookup(fv, j, v0, dv, vmt[n, j] * cos_a / vmax[j])
                f_active[n, j] = f0_cos * lookup(afl, j, l0, dl, ln) * speed
                f_passive[n, j] = f0_cos * lookup(pfl, j, l0, dl, ln)

    return forces
