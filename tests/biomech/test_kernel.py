"""The lengths-and-moment-arms kernel: same numbers on every path, written where the caller asks."""

import numpy as np
import pytest

from hipext.biomech import kernel, surrogate
from hipext.biomech.model import HipExtensorModel


@pytest.fixture(scope="module")
def model():
    return HipExtensorModel.load()


@pytest.fixture(scope="module")
def poses(model):
    rng = np.random.default_rng(12)
    lo, hi = model.range_low_rad, model.range_high_rad
    q = lo + (hi - lo) * rng.random((12 * kernel.BLOCK + 17, 4))  # a short last block too
    q[:20] = lo - 0.2 + (hi - lo + 0.4) * rng.random((20, 4))  # some outside the fitted range
    return q


@pytest.mark.parametrize(("n_vars", "degree", "cap"), [(1, 4, None), (3, 7, None), (4, 6, None), (3, 7, 4), (4, 5, 3),
                                                       (4, 5, 0)])
def test_basis_steps_build_every_monomial_once(n_vars, degree, cap):
    wanted = surrogate.exponents(n_vars, degree, capped=(1, 2)[: n_vars - 1], cap=cap)
    b = kernel.Basis.build(n_vars, degree) if cap is None else kernel.Basis.of(wanted)
    assert sorted(map(tuple, b.exponents.tolist())) == sorted(map(tuple, wanted.tolist()))
    degrees = b.exponents.sum(axis=1)
    assert (np.diff(degrees) >= 0).all() and (b.n_upto == np.cumsum(np.bincount(degrees))).all()  # graded
    assert (degrees[: b.n_below] < degree).all() and (degrees[b.n_below:] == degree).all()
    x = np.random.default_rng(0).uniform(-1, 1, (n_vars, 9))
    values = kernel.basis_block(x, b.steps, np.empty((len(b.exponents), 9)))
    expected = np.prod(x[None, :, :] ** b.exponents[:, :, None], axis=1)
    np.testing.assert_allclose(values, expected, rtol=1e-13, atol=1e-15)


def test_compiled_kernel_equals_numpy_and_the_fitted_polynomials(model, poses):
    for clip in ("clip", "extrapolate"):
        ln, mn = model.lengths_and_moment_arms(poses_rad=poses, out_of_range=clip, engine="numpy")
        lf, mf = model.lengths_and_moment_arms(poses_rad=poses, out_of_range=clip, engine="fused")
        np.testing.assert_allclose(lf, ln, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mf, mn, rtol=0, atol=1e-12)
    # the original fit, evaluated the slow way (monomials in the stored order), gives the same lengths
    z = np.load(model.path)
    q, _ = model.check_poses(poses[:50], out_of_range="clip")
    centre = (model.range_low_rad + model.range_high_rad) / 2
    half = (model.range_high_rad - model.range_low_rad) / 2
    for g in np.atleast_1d(z["groups"]):
        var, exps = z[f"group{g}_variables"], z[f"group{g}_exponents"]
        x = (q[:, var] - centre[var]) / half[var]
        mono = np.prod(x[:, None, :] ** exps[None], axis=2)
        np.testing.assert_allclose(model.lengths_m(poses_rad=q)[:, z[f"group{g}_muscle_index"]],
                                   mono @ z[f"group{g}_coefficients"], atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, kernel.BLOCK - 1, kernel.BLOCK, kernel.BLOCK + 1, 5 * kernel.BLOCK + 3])
def test_compiled_kernel_equals_numpy_for_any_batch_size_and_dtype(model, poses, n):
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        for clip in ("clip", "extrapolate"):
            ln, mn = model.lengths_and_moment_arms(poses_rad=poses[:n], out_of_range=clip, dtype=dtype, engine="numpy")
            lf, mf = model.lengths_and_moment_arms(poses_rad=poses[:n], out_of_range=clip, dtype=dtype, engine="fused")
            assert lf.dtype == mf.dtype == dtype
            np.testing.assert_allclose(lf, ln, rtol=0, atol=tol)
            np.testing.assert_allclose(mf, mn, rtol=0, atol=tol)


def test_compiled_kernel_multiplies_only_the_non_zero_terms(model):
    plan = kernel.Plan.build(model._groups, model.n_muscles, kernel.BLOCK, np.float64)
    # every multiply-add is one fitted coefficient of a length or of a moment arm about a coordinate crossed, up to
    # each muscle's own degree: the shipped muscles' degrees differ, and a lower one costs fewer
    fitted = sum(int(g.n_upto[d]) + len(g.variables) * int(g.n_upto[d - 1]) for g in model._groups for d in g.degrees)
    assert plan.multiply_adds == fitted == model.provenance["polynomial_degree"]["multiply_adds_per_pose"]
    assert len(set(model.provenance["polynomial_degree"]["per_muscle"].values())) > 1
    assert plan.multiply_adds < sum(g.w_len.size + g.w_der.size for g in model._groups)
    crossed = sum(len(g.muscle_index) * len(g.variables) for g in model._groups)
    assert crossed < model.n_muscles * 4 and sum(g.w_der.shape[0] for g in model._groups) == crossed


def test_a_file_of_the_previous_format_loads_and_a_newer_one_is_refused(model, poses, tmp_path):
    arrays = dict(np.load(model.path))
    old = {k: v for k, v in arrays.items() if not k.endswith("_degrees")} | {"format_version": np.array(1)}
    np.savez(tmp_path / "v1.npz", **old)  # format 1: every muscle of a group at the group's degree
    v1 = HipExtensorModel.load(tmp_path / "v1.npz")
    assert v1._plan(np.dtype(np.float64)).multiply_adds > model._plan(np.dtype(np.float64)).multiply_adds
    for engine in ("numpy", "fused"):
        for a, b in zip(v1.lengths_and_moment_arms(poses_rad=poses, engine=engine),
                        model.lengths_and_moment_arms(poses_rad=poses, engine=engine), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)  # the same polynomials
    np.savez(tmp_path / "v9.npz", **(arrays | {"format_version": np.array(9)}))
    with pytest.raises(ValueError, match="has format 9; expected one of 1, 2"):
        HipExtensorModel.load(tmp_path / "v9.npz")


def test_without_numba_or_scipy_the_numpy_path_gives_the_same_numbers(model, poses, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.linalg.cython_blas", None)  # as if scipy were not installed
    assert kernel.fused.__wrapped__() is None
    expected = model.lengths_and_moment_arms(poses_rad=poses, engine="numpy")
    monkeypatch.setattr(kernel, "fused", lambda: None)
    many = np.tile(poses, (3, 1))  # above the size where 'auto' chooses the compiled kernel
    lengths, mas = model.lengths_and_moment_arms(poses_rad=many)
    np.testing.assert_allclose(lengths[: len(poses)], expected[0], rtol=0, atol=1e-12)  # BLAS blocks differ
    np.testing.assert_allclose(mas[: len(poses)], expected[1], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="engine: 'fused' needs numba and scipy"):
        model.lengths_and_moment_arms(poses_rad=poses, engine="fused")


def test_moment_arms_about_coordinates_a_muscle_does_not_cross_are_exactly_zero(model, poses):
    crosses_knee = model.provenance["crosses_knee"]
    out = (np.full((len(poses), 12), np.nan), np.full((len(poses), 12, 4), np.nan))  # dirty caller buffers
    lengths, mas = model.lengths_and_moment_arms(poses_rad=poses, out=out, engine="fused")
    assert lengths is out[0] and mas is out[1] and np.isfinite(mas).all()
    for j, name in enumerate(model.muscles):
        assert (mas[:, j, 3] == 0).all() != crosses_knee[name]


def test_float32_is_accurate_to_a_micrometre(model, poses):
    l64, m64 = model.lengths_and_moment_arms(poses_rad=poses)
    for engine in ("numpy", "fused"):
        l32, m32 = model.lengths_and_moment_arms(poses_rad=poses, dtype=np.float32, engine=engine)
        assert l32.dtype == m32.dtype == np.float32
        assert np.abs(l32 - l64).max() < 5e-6 and np.abs(m32 - m64).max() < 5e-6  # m; lengths ~0.1-0.6 m


def test_non_finite_poses_and_wrong_buffers_are_named(model, poses):
    bad = poses.copy()
    bad[700, 2] = np.inf
    for engine in ("numpy", "fused"):
        with pytest.raises(ValueError, match="poses_rad: contains 1 NaN or infinite"):
            model.lengths_and_moment_arms(poses_rad=bad, engine=engine)
    with pytest.raises(ValueError, match="out: moment arms array"):
        model.lengths_and_moment_arms(poses_rad=poses, out=(np.empty((len(poses), 12)), np.empty((len(poses), 12))))
    with pytest.raises(ValueError, match="dtype"):
        model.lengths_and_moment_arms(poses_rad=poses, dtype=np.int32)


def test_compiled_rigid_tendon_forces_equal_the_numpy_ones(model, poses):
    lengths, mas = model.lengths_and_moment_arms(poses_rad=poses)
    speeds = np.random.default_rng(3).uniform(-4.0, 4.0, (len(poses), 4))  # rad/s, concentric and eccentric
    vmt = -np.einsum("nmj,nj->nm", mas, speeds)
    active, passive = model.rigid_tendon_forces_n(lengths_m=lengths, mt_velocity_m_s=vmt, engine="numpy")
    ca, cp = model.rigid_tendon_forces_n(lengths_m=lengths, mt_velocity_m_s=vmt, engine="fused")
    assert kernel.rigid_forces() is not None  # the compiled path is the one compared
    assert active.max() > 100 and passive.max() > 0  # N: the comparison covers real forces
    np.testing.assert_allclose(ca, active, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(cp, passive, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="engine: got 'gpu'"):
        model.rigid_tendon_forces_n(lengths_m=lengths, mt_velocity_m_s=vmt, engine="gpu")


def test_isometric_force_table_matches_the_equilibrium_solved_at_each_pose(model, poses):
    lengths, _ = model.lengths_and_moment_arms(poses_rad=poses)
    for curves, tendon in ((None, "model"), ("degroote2016", "compliant")):
        table = model.isometric_tendon_force_n(lengths_m=lengths, curves=curves, tendon=tendon)
        solved = model.fiber_states(lengths_m=lengths, curves=curves, tendon=tendon)["tendon_force_n"]
        assert (np.abs(table - solved) / model.max_isometric_force_n).max() < 1e-4
    # the torque takes this path at full activation and zero speed, and the general one otherwise
    fast = model.hip_extension_torque(poses_rad=poses)["total_nm"]  # >= ISOMETRIC_TABLE_MIN_POSES poses
    general = model.hip_extension_torque(poses_rad=poses, activation=np.ones(12))["total_nm"]
    np.testing.assert_allclose(fast, general, rtol=1e-4)


def test_shipped_knee_effect_table_equals_the_model_for_every_protocol():
    from hipext.biomech import knee_effect

    shipped = knee_effect._table()
    assert shipped, "knee_effect.json is missing or was built for another model: python -m hipext.biomech.knee_effect"
    assert set(shipped) == {knee_effect._key(h, k) for h, k in knee_effect.protocol_angles()}
    for key, values in shipped.items():
        hip, knee = (float(v) for v in key.split("/"))
        assert values == knee_effect.compute(hip_flexion_deg=hip, knee_flexion_deg=knee), key
    # angles no protocol uses are computed from the model, with the same fields
    other = knee_effect.knee_effect_at_test(hip_flexion_deg=30.0, knee_flexion_deg=60.0)
    assert other["ratio_to_knee_extended"] < 1 and other.keys() == knee_effect.knee_effect_at_test(
        hip_flexion_deg=0.0, knee_flexion_deg=90.0).keys()
