"""Isokinetic dynamometer C3D exports become isokinetic_hip_extension measurements for a case."""

from __future__ import annotations

import pytest

from hipext.app import evaluate_case
from hipext.biomech.isokinetic import NM_PER_FT_LBF, IsokineticChannels, read_isokinetic_c3d
from hipext.core.case import Case

from .c3d_files import write_isokinetic_c3d


def test_repetitions_peak_angle_work_and_velocity(tmp_path):
    p = tmp_path / "biodex.c3d"
    want = write_isokinetic_c3d(p, reps=4, velocity_deg_s=60.0, peak_nm=180.0)
    t = read_isokinetic_c3d(p, side="left")
    assert t.mode == "concentric" and t.velocity_deg_s == 60
    assert len(t.repetitions) == 4
    for r, peak, angle, work in zip(t.repetitions, want["peak_nm"], want["angle_deg"], want["work_j"], strict=True):
        assert r.peak_torque_nm == pytest.approx(peak, rel=1e-4)
        assert r.angle_at_peak_deg == pytest.approx(angle, abs=0.2)
        assert r.work_j == pytest.approx(work, rel=0.01)
        assert r.velocity_deg_s == pytest.approx(60.0, rel=0.01)
    # EMG is kept, not interpreted.
    assert set(t.other_channels) == {"EMG GMax", "EMG BF"}
    assert t.other_channel_units["EMG GMax"] == "mV"


def test_measurement_validates_and_changes_the_evaluation(tmp_path):
    p = tmp_path / "iso.c3d"
    write_isokinetic_c3d(p, reps=3, velocity_deg_s=60.0, peak_nm=150.0)
    m = read_isokinetic_c3d(p, side="right").measurement(device="Biodex System 4")
    assert m.test == "isokinetic_hip_extension" and m.side == "right" and m.mode == "concentric"
    assert m.trials_nm and max(m.trials_nm) == pytest.approx(150.0, abs=0.1)
    assert "EMG GMax" in (m.note or "") and "J" in (m.note or "")
    case = Case.model_validate({
        "hipext_case": 1,
        "patient": {"id": "iso", "age": 25, "sex": "male", "body_mass_kg": 80, "height_m": 1.8},
        "history": {"involved_side": "right"},
        "visits": [{"date": "2026-10-01", "measurements": [m.model_dump(exclude_none=True)]}],
    })
    doc = evaluate_case(case).model_dump(mode="json")
    res = [r for r in doc["results"] if r["test"] == "isokinetic_hip_extension"]
    assert res and res[0]["torque_nm"] == pytest.approx(150.0, abs=0.5)
    assert doc["capacity"]["available"] and doc["capacity"]["from_test"] == "isokinetic_hip_extension"


def test_eccentric_test_and_device_conventions(tmp_path):
    p = tmp_path / "ecc.c3d"
    # Eccentric: the limb is driven towards flexion (angle rising) while the extensors pull; the device counts the
    # angle as extension and the torque negative, and stores ft-lb.
    want = write_isokinetic_c3d(p, reps=2, start_deg=-10.0, end_deg=-100.0, peak_nm=100.0 / NM_PER_FT_LBF,
                                units=("deg", "ft-lb", "deg/s"))
    ch = IsokineticChannels(angle_convention="extension")
    t = read_isokinetic_c3d(p, side="left", channels=ch)
    assert t.mode == "eccentric"
    assert t.repetitions[0].peak_torque_nm == pytest.approx(want["peak_nm"][0] * NM_PER_FT_LBF, rel=1e-4)
    assert t.repetitions[0].angle_at_peak_deg == pytest.approx(-want["angle_deg"][0], abs=0.2)


def test_channels_found_by_name_or_named_and_errors_are_clear(tmp_path):
    p = tmp_path / "named.c3d"
    write_isokinetic_c3d(p, labels=("Pos", "Moment", "Speed"))
    assert read_isokinetic_c3d(p, side="left").channels == {"angle": "Pos", "torque": "Moment", "velocity": "Speed"}
    q = tmp_path / "odd.c3d"
    write_isokinetic_c3d(q, labels=("Ch1", "Ch2", "Ch3"), emg=False)
    with pytest.raises(ValueError, match="no analog channel.*for angle"):
        read_isokinetic_c3d(q, side="left")
    t = read_isokinetic_c3d(q, side="left", channels=IsokineticChannels(angle="Ch1", torque="Ch2", velocity="Ch3"))
    assert len(t.repetitions) == 4
    with pytest.raises(ValueError, match="side"):
        read_isokinetic_c3d(q, side="up")  # type: ignore[arg-type]
    r = tmp_path / "units.c3d"
    write_isokinetic_c3d(r, units=("deg", "kg", "deg/s"))
    with pytest.raises(ValueError, match="unit 'kg' not understood"):
        read_isokinetic_c3d(r, side="left")


def test_velocity_derived_from_angle_when_no_velocity_channel(tmp_path):
    p = tmp_path / "novel.c3d"
    write_isokinetic_c3d(p, labels=("Angle", "Torque", "EMG Raw"), units=("deg", "Nm", "mV"), emg=False,
                         velocity_deg_s=120.0)
    t = read_isokinetic_c3d(p, side="left")
    assert t.velocity_deg_s == 120 and any("derived from the angle" in n for n in t.notes)
    assert "EMG Raw" in t.other_channels
