"""Trials handled honestly: 2-D models, files that do not match in time, units, sides, C3D files."""

from __future__ import annotations

from pathlib import Path

import ezc3d
import numpy as np
import pytest
from typer.testing import CliRunner

from hipext.biomech.c3d import GaitChannels, gait_trial
from hipext.biomech.tasks import demand_curve, muscle_labels, read_storage
from hipext.biomech.trial import PersonSpec, TrialSpec, analyse_trial, trial_row
from hipext.cli import _register_commands, app

from .c3d_files import write_gait_c3d
from .conftest import SHARED

WALK = SHARED / "data" / "walking_gait2392"
RUN = SHARED / "data" / "running_hamner"
IK = WALK / "subject01_walk1_ik.mot"
ID = WALK / "subject01_walk1_inverse_dynamics.sto"

_register_commands()
runner = CliRunner()


def write_storage(path: Path, st, *, drop: tuple[str, ...] = (), time_shift: float = 0.0, every: int = 1,
                  scale: dict[str, float] | None = None, in_degrees: str | None = "yes", sep: str = "\t") -> Path:
    """Rewrite an OpenSim table: drop columns, shift time, take every n-th row, scale columns."""
    keep = [i for i, c in enumerate(st.columns) if c not in drop]
    data = st.data[::every][:, keep].copy()
    cols = [st.columns[i] for i in keep]
    data[:, 0] += time_shift
    for c, f in (scale or {}).items():
        data[:, cols.index(c)] *= f
    head = [path.stem, "version=1", f"nRows={len(data)}", f"nColumns={len(cols)}"]
    if in_degrees is not None:
        head.append(f"inDegrees={in_degrees}")
    lines = head + ["endheader", sep.join(cols)] + [sep.join(f"{v:.8f}" for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_2d_model_without_hip_adduction_and_rotation_runs_with_a_note(tmp_path):
    """OpenSim's Gait10dof18musc has no hip_adduction_* / hip_rotation_* columns."""
    ik = write_storage(tmp_path / "walk_2d_ik.mot", read_storage(IK),
                       drop=tuple(f"hip_{c}_{s}" for c in ("adduction", "rotation") for s in "rl"))
    d = demand_curve(kinematics_path=ik, moments_path=ID)
    assert np.all(d.hip_adduction_rad == 0) and np.all(d.hip_rotation_rad == 0)
    assert any("no hip_adduction_r" in n and "taken as 0" in n for n in d.notes)
    assert d.peak(body_mass_kg=72.6)["peak_hip_extension_moment_nm_per_kg"] == pytest.approx(0.81, abs=0.01)
    r = runner.invoke(app, ["model", "task", "--sex", "male", "--age", "30", "--mass-kg", "72.6",
                            "--height-m", "1.8", "--kinematics", str(ik), "--moments", str(ID)])
    assert r.exit_code == 0, r.output
    assert "taken as 0 deg" in r.output and "semimem_r" in r.output


def test_mismatched_time_ranges_and_rates_warn_and_interpolate_onto_moment_frames(tmp_path):
    """Kinematics at a lower rate over a longer window than the moments (like OpenSim's running example)."""
    st = read_storage(RUN / "rra_run_1_Kinematics_q.sto")
    long = write_storage(tmp_path / "run_ik.sto", st, every=16)  # 1 kHz -> 62.5 Hz
    d = demand_curve(kinematics_path=long, moments_path=RUN / "rra_run_1_Actuation_force.sto", side="l")
    assert len(d.time_s) == 901 - sum(1 for t in read_storage(RUN / "rra_run_1_Actuation_force.sto")
                                      .column("time") if t > st.column("time")[::16][-1] + 1e-9)
    assert any("rates differ" in w for w in d.warnings)
    assert any("outside the kinematics' time range" in w for w in d.warnings)
    # The moments are kept on their own frames: the peak is unchanged.
    assert d.peak()["peak_hip_extension_moment_nm"] == pytest.approx(165.3, abs=0.1)


def test_time_stamps_rounded_differently_are_the_same_frames(tmp_path):
    """OpenSim's Gait10dof18musc example: the ID starts at -5e-7 s, the kinematics at 0 s."""
    ik, mom = read_storage(IK), read_storage(ID)
    t = ik.column("time")
    t = t[(t >= mom.column("time")[0]) & (t <= mom.column("time")[-1])]
    data = np.column_stack([t - 5e-7] + [np.interp(t, mom.column("time"), mom.column(c)) for c in mom.columns[1:]])
    p = tmp_path / "id_rounded.sto"
    p.write_text("\n".join(["id", "inDegrees=no", "endheader", "\t".join(mom.columns)]
                           + ["\t".join(f"{v:.8f}" for v in row) for row in data]) + "\n")
    trimmed = tmp_path / "ik.mot"
    write_storage(trimmed, ik)
    st = read_storage(trimmed)
    keep = (st.column("time") >= t[0] - 1e-9) & (st.column("time") <= t[-1] + 1e-9)
    write_storage(trimmed, type(st)(st.path, st.columns, st.data[keep], st.in_degrees, st.header))
    d = demand_curve(kinematics_path=trimmed, moments_path=p)
    assert d.warnings == () and len(d.time_s) == len(t)


def test_files_that_do_not_overlap_in_time_are_an_error(tmp_path):
    ik = write_storage(tmp_path / "late_ik.mot", read_storage(IK), time_shift=100.0)
    with pytest.raises(ValueError, match="do not overlap in time"):
        demand_curve(kinematics_path=ik, moments_path=ID)
    r = runner.invoke(app, ["model", "task", "--kinematics", str(ik), "--moments", str(ID)])
    assert r.exit_code == 2 and "do not overlap" in r.output


def test_moments_already_per_kg_are_caught_and_accepted_when_declared(tmp_path):
    mom = read_storage(ID)
    per_kg = write_storage(tmp_path / "id_per_kg.sto", mom, in_degrees="no",
                           scale={c: 1 / 72.6 for c in mom.columns[1:]})
    with pytest.raises(ValueError, match="look normalised to body mass already"):
        demand_curve(kinematics_path=IK, moments_path=per_kg, body_mass_kg=72.6)
    d = demand_curve(kinematics_path=IK, moments_path=per_kg, body_mass_kg=72.6, moment_units="N m/kg")
    assert d.peak()["peak_hip_extension_moment_nm"] == pytest.approx(58.5, abs=0.1)
    n_mm = write_storage(tmp_path / "id_nmm.sto", mom, in_degrees="no", scale={c: 1000 for c in mom.columns[1:]})
    with pytest.raises(ValueError, match="N mm"):
        demand_curve(kinematics_path=IK, moments_path=n_mm, body_mass_kg=72.6)


def test_angles_in_radians_declared_as_degrees_are_flagged(tmp_path):
    st = read_storage(IK)
    cols = [c for c in st.columns[1:] if not c.startswith("pelvis_t")]
    rad = write_storage(tmp_path / "ik_rad.mot", st, scale={c: np.pi / 180 for c in cols})
    d = demand_curve(kinematics_path=rad, moments_path=ID)
    assert any("looks like radians" in w for w in d.warnings)
    assert np.rad2deg(d.hip_flexion_rad).max() == pytest.approx(np.rad2deg(
        demand_curve(kinematics_path=IK, moments_path=ID).hip_flexion_rad).max(), abs=0.01)


def test_comma_separated_storage_without_in_degrees_is_read(tmp_path):
    ik = write_storage(tmp_path / "ik.csv.mot", read_storage(IK), in_degrees=None, sep=",")
    d = demand_curve(kinematics_path=ik, moments_path=ID)
    assert any("unit not declared" in n for n in d.notes)
    assert d.peak()["hip_flexion_deg"] == pytest.approx(19.2, abs=0.5)


def test_left_side_prints_left_muscle_names():
    assert muscle_labels(("glmax1_r", "bflh_r"), "l") == ["glmax1_l", "bflh_l"]
    r = runner.invoke(app, ["model", "task", "--sex", "male", "--age", "30", "--mass-kg", "65.9",
                            "--kinematics", str(RUN / "rra_run_1_Kinematics_q.sto"),
                            "--moments", str(RUN / "rra_run_1_Actuation_force.sto"), "--side", "l"])
    assert r.exit_code == 0, r.output
    assert "glmax1_l" in r.output and "semimem_l" in r.output and "left" in r.output
    assert "_r " not in r.output and "_r\n" not in r.output


# ------------------------------------------------------------------------------------------------ C3D
def test_c3d_gait_trial_reproduces_the_files_own_peak(tmp_path):
    p = tmp_path / "walk.c3d"
    own = write_gait_c3d(p, mass_kg=72.6, cycles=3)
    g = gait_trial(p, side="l")
    assert g.cycle_numbers == (1, 2, 3)
    assert g.body_mass_kg == pytest.approx(72.6)
    assert g.moment_units == "N mm/kg"
    peak = max(c.peak()["peak_hip_extension_moment_nm"] for c in g.cycles)
    # the file's own figure: X component in N mm/kg, / 1000 x body mass
    assert peak == pytest.approx(own["peak_stored"] / 1000 * 72.6, rel=0.01)
    assert any("internal moments in N mm/kg" in n for n in g.notes)
    assert any("72.6 kg (from PROCESSING:Bodymass)" in n for n in g.notes)


def test_c3d_cycles_are_cut_at_foot_strikes_and_missing_kinetics_are_reported(tmp_path):
    p = tmp_path / "walk.c3d"
    write_gait_c3d(p, cycles=3, no_kinetics_cycle=2)
    g = gait_trial(p, side="l")
    assert g.cycle_numbers == (1, 3)
    assert any("cycle 2: no kinetics" in w for w in g.warnings)
    with pytest.raises(ValueError, match="no kinetics"):
        gait_trial(p, side="l", cycle=2)
    with pytest.raises(ValueError, match="has 3 left cycle"):
        gait_trial(p, side="l", cycle=7)
    one = gait_trial(p, side="l", cycle=3)
    assert one.cycle_numbers == (3,) and len(one.cycles[0].time_s) > 50


def test_c3d_without_events_is_analysed_whole_with_a_note(tmp_path):
    p = tmp_path / "walk.c3d"
    write_gait_c3d(p, cycles=2, events=False)
    g = gait_trial(p, side="l")
    assert g.cycle_numbers == (None,)
    assert any("whole trial" in n for n in g.notes)


def test_c3d_channel_names_are_configurable(tmp_path):
    p = tmp_path / "cgm.c3d"
    own = write_gait_c3d(p, labels={"hip_moment": "LHipMoment_CGM_2.4", "hip_angles": "LHipAngles_CGM_2.4"})
    with pytest.raises(ValueError, match="no point 'LHipAngles'.*LHipAngles_CGM_2.4"):
        gait_trial(p, side="l")
    ch = GaitChannels.from_pairs(["hip_moment={S}HipMoment_CGM_2.4", "hip_angles={S}HipAngles_CGM_2.4"])
    g = gait_trial(p, side="l", channels=ch)
    assert max(c.peak()["peak_hip_extension_moment_nm"] for c in g.cycles) == pytest.approx(own["peak_nm"], rel=0.01)
    with pytest.raises(ValueError, match="--channel"):
        GaitChannels.from_pairs(["hip_momnet=X"])


def test_c3d_body_mass_missing_mismatched_and_absolute_units(tmp_path):
    p = tmp_path / "nomass.c3d"
    write_gait_c3d(p, body_mass_parameter=False)
    with pytest.raises(ValueError, match="body mass: the moments are per kg"):
        gait_trial(p, side="l")
    g = gait_trial(p, side="l", body_mass_kg=72.6)
    assert g.body_mass_kg == 72.6
    q = tmp_path / "mass.c3d"
    write_gait_c3d(q, mass_kg=72.6)
    assert any("differs from the file's PROCESSING:Bodymass" in w
               for w in gait_trial(q, side="l", body_mass_kg=90).warnings)
    a = tmp_path / "absolute.c3d"  # moments in N m, not normalised
    own = write_gait_c3d(a, moment_units="Nm", per_kg=False)
    g = gait_trial(a, side="l")
    assert g.moment_units == "N m"
    assert max(c.peak()["peak_hip_extension_moment_nm"] for c in g.cycles) == pytest.approx(own["peak_nm"], rel=0.01)


def test_unreadable_c3d_is_a_clear_error(tmp_path):
    p = tmp_path / "broken.c3d"
    p.write_bytes(b"not a c3d at all" * 10)
    row = trial_row(TrialSpec(c3d=p, side="l"))
    assert row["error"] and "broken.c3d" in row["error"]


def test_cli_task_c3d_left_side(tmp_path):
    p = tmp_path / "walk.c3d"
    own = write_gait_c3d(p, mass_kg=72.6)
    r = runner.invoke(app, ["model", "task", "--c3d", str(p), "--side", "l", "--cycle", "2", "--sex", "male",
                            "--age", "30", "--height-m", "1.78", "--json", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    assert "walk cycle 2 (left)" in r.output and "glmax1_l" in r.output and "glmax1_r" not in r.output
    assert f"{own['peak_stored'] / 1000 * 72.6:.1f} N m" in r.output
    r = runner.invoke(app, ["model", "task", "--c3d", str(p), "--cycle", "x"])
    assert r.exit_code == 2 and "--cycle" in r.output


def test_analyse_trial_is_the_per_trial_function_and_its_row(tmp_path):
    p = tmp_path / "walk.c3d"
    write_gait_c3d(p)
    res = analyse_trial(TrialSpec(c3d=p, side="l", person=PersonSpec(sex="female", age=30, height_m=1.7)))
    row = res.summary_row()
    assert row["cycles_analysed"] == 3 and row["side"] == "left" and row["error"] is None
    assert row["share_status"] in ("plausible", "estimate", "implausible")
    assert "share_glmax1_l_percent" in row
    assert sum(v for k, v in row.items() if k.startswith("share_") and k.endswith("_l_percent")) == \
        pytest.approx(100, abs=0.1)


def test_written_fixture_is_a_real_c3d(tmp_path):
    p = tmp_path / "walk.c3d"
    write_gait_c3d(p)
    c = ezc3d.c3d(str(p))
    assert "LHipMoment" in c["parameters"]["POINT"]["LABELS"]["value"]


def test_opensim_2d_example_trial_itself_runs_and_keeps_its_peak():
    """OpenSim's own Gait10dof18musc files (data/opensim_gait10dof18musc), which used to exit 2 with
    "no column 'hip_adduction_r'"."""
    g10 = Path(__file__).parent / "data" / "opensim_gait10dof18musc"
    ik, mom = g10 / "subject01_walk_IK.mot", g10 / "subject01_walk_ID.sto"
    r = runner.invoke(app, ["model", "task", "--sex", "male", "--age", "30", "--mass-kg", "72.6", "--height-m",
                            "1.8", "--kinematics", str(ik), "--moments", str(mom)])
    assert r.exit_code == 0, r.output
    assert "no hip_adduction_r (a 2-D model?); taken as 0 deg" in r.output and "semimem_r" in r.output
    own_peak = -read_storage(mom).column("hip_flexion_r_moment").min()  # OpenSim: negative = extension
    d = demand_curve(kinematics_path=ik, moments_path=mom)
    assert d.warnings == () and len(d.time_s) == 151
    assert d.peak()["peak_hip_extension_moment_nm"] == pytest.approx(own_peak, rel=1e-6)
    assert f"peak hip extension moment {own_peak:.1f} N m" in r.output
