"""The shipped compiled model: agreement with OpenSim on the same .osim and behaviour a user would notice."""

import numpy as np
import pytest

from hipext.biomech.model import COORDINATES, HipExtensorModel, poses_from_degrees

from .conftest import SHARED

OSIM = SHARED / "models" / "RajagopalLaiUhlrich2023.osim"
HAMSTRINGS = ("bflh_r", "semiten_r", "semimem_r")
GLMAX = ("glmax1_r", "glmax2_r", "glmax3_r")


@pytest.fixture(scope="module")
def model():
    return HipExtensorModel.load()


@pytest.fixture(scope="module")
def leg(model):
    from hipext.biomech.opensim_bridge import OpenSimLeg

    return OpenSimLeg.open(OSIM, muscles=model.muscles)


def test_shipped_model_has_provenance(model):
    prov = model.provenance
    assert prov["model_file"] == "RajagopalLaiUhlrich2023.osim"
    assert len(prov["model_sha256"]) == 64
    assert prov["source"] and prov["level"]
    assert model.muscles[:3] == GLMAX
    assert model.path.stat().st_size < 1_000_000


def test_agrees_with_opensim_at_random_poses(model, leg):
    rng = np.random.default_rng(2024)
    lo, hi = model.range_low_rad, model.range_high_rad
    q = lo + (hi - lo) * rng.random((200, 4))
    ref = leg.sample(q)
    lengths, mas = model.lengths_and_moment_arms(poses_rad=q, out_of_range="raise")
    len_rms_mm = np.sqrt(np.mean((lengths - ref["lengths_m"]) ** 2, axis=0)) * 1e3
    ma_rms_mm = np.sqrt(np.mean((mas - ref["moment_arms_m"]) ** 2, axis=0)) * 1e3  # (M, 4)
    worst_len = dict(zip(model.muscles, len_rms_mm.round(3), strict=True))
    worst_ma = {(m, c): v for m, row in zip(model.muscles, ma_rms_mm.round(3), strict=True)
                for c, v in zip(COORDINATES, row, strict=True)}
    assert len_rms_mm.max() <= 0.5, worst_len
    assert ma_rms_mm.max() <= 1.0, {k: v for k, v in worst_ma.items() if v > 0.5}


def test_max_isometric_torque_within_2_percent_of_opensim(model, leg):
    hf, kf = np.meshgrid([-20, 0, 15, 30, 45, 60, 90, 105], [0, 45, 90, 120])
    q = poses_from_degrees(hip_flexion_deg=hf.ravel(), knee_flexion_deg=kf.ravel())
    forces = leg.isometric_forces(q)
    ma = leg.sample(q)["moment_arms_m"][:, :, 0]
    tau_opensim = (np.clip(-ma, 0, None) * forces).sum(axis=1)
    ours = model.hip_extension_torque(poses_rad=q)["total_nm"]
    np.testing.assert_allclose(ours, tau_opensim, rtol=0.02)


def test_knee_flexed_lowers_hamstring_share(model):
    q = poses_from_degrees(hip_flexion_deg=[0, 0, 45, 45], knee_flexion_deg=[0, 90, 0, 90])
    r = model.hip_extension_torque(poses_rad=q)
    ham = [model.muscles.index(m) for m in HAMSTRINGS]
    glx = [model.muscles.index(m) for m in GLMAX]
    ham_share = r["share_percent"][:, ham].sum(axis=1)
    glmax_share = r["share_percent"][:, glx].sum(axis=1)
    assert ham_share[1] < ham_share[0] and ham_share[3] < ham_share[2]
    assert glmax_share[1] > glmax_share[0]
    np.testing.assert_allclose(r["share_percent"].sum(axis=1), 100.0)


def test_concentric_falls_with_speed_and_eccentric_exceeds_isometric(model):
    q = poses_from_degrees(hip_flexion_deg=45.0, knee_flexion_deg=90.0)
    speeds = np.deg2rad([-120, -60, 0, 60, 120, 240])
    tq = [float(model.hip_extension_torque(poses_rad=q, hip_extension_velocity_rad_s=w, tendon="rigid")
                ["total_nm"][0]) for w in speeds]
    assert tq[0] > tq[2] and tq[1] > tq[2]
    assert tq[2] > tq[3] > tq[4] > tq[5]


def test_degroote_curves_also_available(model):
    q = poses_from_degrees(hip_flexion_deg=30.0)
    r = model.hip_extension_torque(poses_rad=q, curves="degroote2016", tendon="compliant")
    assert 100 < r["total_nm"][0] < 1000


def test_batch_equals_single_pose(model):
    q = poses_from_degrees(hip_flexion_deg=np.linspace(-20, 100, 7), hip_adduction_deg=5, knee_flexion_deg=60)
    lengths, mas = model.lengths_and_moment_arms(poses_rad=q)
    for i in range(len(q)):
        li, mi = model.lengths_and_moment_arms(poses_rad=q[i])
        np.testing.assert_allclose(li[0], lengths[i])
        np.testing.assert_allclose(mi[0], mas[i])


def test_moment_arm_is_minus_length_derivative(model):
    q = poses_from_degrees(hip_flexion_deg=40.0, hip_adduction_deg=-5, hip_rotation_deg=10, knee_flexion_deg=50)[0]
    _, mas = model.lengths_and_moment_arms(poses_rad=q)
    h = 1e-6
    for k in range(4):
        dq = np.zeros(4)
        dq[k] = h
        dl = (model.lengths_m(poses_rad=q + dq) - model.lengths_m(poses_rad=q - dq))[0] / (2 * h)
        np.testing.assert_allclose(mas[0, :, k], -dl, atol=1e-6)


def test_bad_poses_are_named(model):
    with pytest.raises(ValueError, match="poses_rad"):
        model.lengths_m(poses_rad=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="outside the fitted range"):
        model.lengths_m(poses_rad=np.deg2rad([[170.0, 0, 0, 0]]), out_of_range="raise")
    with pytest.raises(ValueError, match="curves"):
        model.hip_extension_torque(poses_rad=np.zeros(4), curves="thelen")
