import numpy as np
import pytest

from hipext.biomech.capacity import person_capacity
from hipext.biomech.model import HipExtensorModel
from hipext.biomech.static_optimisation import hip_extension_shares, solve_bounded_min_norm, static_optimisation
from hipext.biomech.tasks import demand_curve, read_storage, share_of_capacity

from .conftest import SHARED

WALK = SHARED / "data" / "walking_gait2392"
RUN = SHARED / "data" / "running_hamner"


@pytest.fixture(scope="module")
def walking():
    return demand_curve(kinematics_path=WALK / "subject01_walk1_ik.mot",
                        moments_path=WALK / "subject01_walk1_inverse_dynamics.sto")


@pytest.fixture(scope="module")
def running():
    return demand_curve(kinematics_path=RUN / "rra_run_1_Kinematics_q.sto",
                        moments_path=RUN / "rra_run_1_Actuation_force.sto", side="l")


def test_demand_curves_reproduce_reference_peaks(walking, running):
    w = walking.peak(body_mass_kg=72.6)
    assert w["peak_hip_extension_moment_nm_per_kg"] == pytest.approx(0.81, abs=0.01)
    assert w["hip_flexion_deg"] == pytest.approx(19.2, abs=0.5)
    r = running.peak(body_mass_kg=65.9)
    assert r["peak_hip_extension_moment_nm_per_kg"] == pytest.approx(2.51, abs=0.01)
    assert r["hip_extension_velocity_deg_s"] < 0  # eccentric: the hip still flexes
    # gait2392 knee angles are negative in flexion: converted
    assert np.median(walking.knee_flexion_rad) > 0
    assert any("gait2392" in n for n in walking.notes)


def test_walking_uses_less_of_capacity_than_running(walking, running):
    cap = person_capacity(sex="female", age=35, body_mass_kg=68.0, height_m=1.68)
    sw = share_of_capacity(demand=walking, capacity=cap)
    sr = share_of_capacity(demand=running, capacity=cap)
    assert 0 < sw["peak_share_percent"] < sr["peak_share_percent"]
    # Without a strength measurement the capacity is the group mean: an estimate with the group's spread.
    chk = sw["check"]
    assert chk.status == "estimate" and chk.likely_causes == ("scaling",)
    assert chk.range_percent[0] < chk.share_percent < chk.range_percent[1]
    assert sw["reserve_percent"] is None


def test_storage_reader_rejects_non_opensim_files(tmp_path):
    p = tmp_path / "x.sto"
    p.write_text("time,a\n0,1\n")
    with pytest.raises(ValueError, match="endheader"):
        read_storage(p)
    with pytest.raises(ValueError, match="no such file"):
        read_storage(tmp_path / "missing.sto")


def test_bounded_solver_matches_scipy():
    import scipy.optimize as scipy_optimize  # a dev dependency: missing it must fail, not skip
    rng = np.random.default_rng(3)
    g = rng.normal(size=(40, 12, 2)) * 40
    m = rng.normal(size=(40, 2)) * 120
    a, res, ok = solve_bounded_min_norm(gains=g, targets=m, residual_weight=1.0)
    assert ok.all() and (a >= 0).all() and (a <= 1).all()
    for n in range(0, 40, 4):
        def f(x, n=n):
            return x @ x + np.sum((m[n] - g[n].T @ x) ** 2)
        s = scipy_optimize.minimize(f, np.full(12, 0.5), bounds=[(0, 1)] * 12, method="L-BFGS-B",
                                    options={"ftol": 1e-15, "gtol": 1e-12})
        assert f(a[n]) <= s.fun + 1e-6


def test_static_optimisation_splits_walking_hip_extension(walking):
    model = HipExtensorModel.load()
    qd = np.stack([-walking.hip_extension_velocity_rad_s, np.zeros_like(walking.time_s),
                   np.zeros_like(walking.time_s), walking.knee_flexion_velocity_rad_s], axis=1)
    mom = np.stack([-walking.hip_extension_moment_nm, walking.knee_flexion_moment_nm], axis=1)
    r = static_optimisation(model=model, poses_rad=walking.poses_rad, moments_nm=mom, joint_velocities_rad_s=qd)
    assert r["converged"].all()
    i = int(np.argmax(walking.hip_extension_moment_nm))
    # At the walking peak the extensors make the hip extension moment (residual small).
    assert abs(r["residuals_nm"][i, 0]) < 0.05 * walking.hip_extension_moment_nm[i]
    shares = hip_extension_shares(r)
    assert shares.sum() == pytest.approx(100)
    glmax = sum(shares[model.muscles.index(m)] for m in ("glmax1_r", "glmax2_r", "glmax3_r"))
    assert glmax > 15


def test_static_optimisation_rejects_bad_shapes():
    model = HipExtensorModel.load()
    with pytest.raises(ValueError, match="moments_nm"):
        static_optimisation(model=model, poses_rad=np.zeros((3, 4)), moments_nm=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="coordinates"):
        static_optimisation(model=model, poses_rad=np.zeros((3, 4)), moments_nm=np.zeros((3, 1)),
                            coordinates=("ankle",))


def test_closed_chain_knee_extension_moment_lowers_hamstring_share():
    from hipext.biomech.model import poses_from_degrees
    from hipext.biomech.static_optimisation import split_hip_extension

    model = HipExtensorModel.load()
    q = poses_from_degrees(hip_flexion_deg=[30, 60], knee_flexion_deg=60)
    ham = [model.muscles.index(m) for m in ("bflh_r", "semiten_r", "semimem_r")]
    open_chain = split_hip_extension(model=model, poses_rad=q, hip_extension_moment_nm=100.0)
    closed = split_hip_extension(model=model, poses_rad=q, hip_extension_moment_nm=100.0,
                                 knee_flexion_moment_nm=-80.0)
    assert (open_chain["share_percent"][:, ham].sum(axis=1) > closed["share_percent"][:, ham].sum(axis=1)).all()
    np.testing.assert_allclose(open_chain["share_percent"].sum(axis=1), 100.0)
