"""The static optimisation solver: the compiled per-frame solver gives the numpy reference's and scipy's answers."""

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from hipext.biomech.static_optimisation import solve_bounded_min_norm


@pytest.mark.parametrize("k", [1, 2, 3])
def test_compiled_solver_equals_numpy_reference_and_scipy(k):
    rng = np.random.default_rng(k)
    n, m = 300, 12
    g = rng.normal(0, 40, (n, m, k))
    targets = rng.normal(0, 150, (n, k))  # some frames saturate muscles at 1, some need residuals
    a_c, r_c, ok_c = solve_bounded_min_norm(gains=g, targets=targets, residual_weight=0.5, engine="compiled")
    a_n, r_n, ok_n = solve_bounded_min_norm(gains=g, targets=targets, residual_weight=0.5, engine="numpy")
    assert ok_c.all() and ok_n.all()
    np.testing.assert_allclose(a_c, a_n, atol=1e-9)
    np.testing.assert_allclose(r_c, r_n, atol=1e-7)
    assert ((a_c == 1.0).any(axis=1)).any() and ((a_c == 0.0).any(axis=1)).any()
    for i in range(0, n, 10):  # slow reference: bounded least squares |[I; sqrt(rho) G^T] a - [0; sqrt(rho) M]|^2
        s = np.sqrt(0.5)
        ref = lsq_linear(np.vstack([np.eye(m), s * g[i].T]), np.concatenate([np.zeros(m), s * targets[i]]),
                         bounds=(0.0, 1.0), method="bvls", tol=1e-12).x
        np.testing.assert_allclose(a_c[i], ref, atol=1e-6)


def test_unknown_engine_is_named():
    with pytest.raises(ValueError, match="engine"):
        solve_bounded_min_norm(gains=np.zeros((1, 2, 1)), targets=np.zeros((1, 1)), residual_weight=1.0, engine="x")
