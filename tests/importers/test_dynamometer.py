"""Dynamometer files into a visit, as a clinician would import them: per-trial peaks, a vendor's per-side summary and
raw force-time traces; a bad file lists every problem with its row and column and changes nothing."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipext.app import evaluate_case
from hipext.caseio import read_case_file
from hipext.importers import ImportFileError, ImportOptions, read_device_file, register_reader
from hipext.importers import force_time as ft
from hipext.importers.models import DeviceImport

from ..conftest import ROOT

EXAMPLE = ROOT / "examples" / "athlete-hamstring.yaml"
FILES = ROOT / "examples" / "dynamometer"
FLEXED = "hhd_hip_extension_prone_knee_flexed"


@pytest.fixture
def case(tmp_path: Path) -> Path:
    path = tmp_path / "case.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def _trace(*, rate_hz: float = 1000, efforts=((1.0, 240.0), (5.0, 252.0)), tau_s: float = 0.08,
           noise_n: float = 0.0, baseline_n: float = 4.0, seconds: float = 9.0) -> bytes:
    """A synthetic isometric trace: each effort rises as A(1 - exp(-t/tau)), holds 2 s, then relaxes."""
    rng = np.random.default_rng(1)
    t = np.arange(0, seconds, 1 / rate_hz)
    f = baseline_n + rng.normal(0, noise_n, t.size) if noise_n else np.full(t.size, baseline_n)
    for start, amp in efforts:
        on = (t >= start) & (t < start + 2.0)
        f[on] += amp * (1 - np.exp(-(t[on] - start) / tau_s))
        off = (t >= start + 2.0) & (t < start + 2.5)
        f[off] += amp * np.exp(-(t[off] - start - 2.0) / 0.06)
    return ("time_s,force_n\n" + "".join(f"{a:.5f},{b:.4f}\n" for a, b in zip(t, f, strict=True))).encode()


def _import(data: bytes, name: str = "file.csv", **options) -> DeviceImport:
    return read_device_file(data, name, ImportOptions(**options))


# ---------------------------------------------------------------------------------------------------------------
# Per-trial peaks


def test_per_trial_peaks_become_one_measurement_per_side_in_the_unit_of_the_file():
    got = _import((FILES / "per-trial-peaks.csv").read_bytes(), "per-trial-peaks.csv")
    assert got.layout == "per_trial_peaks"
    by_side = {m.side: m for m in got.measurements}
    assert by_side["right"].trials_lbf == [52.1, 54.3, 53.0] and by_side["right"].trials_n is None
    assert by_side["left"].lever_arm_m == 0.38 and by_side["left"].fixation == "belt"
    assert by_side["left"].device == "MicroFET2"
    assert by_side["left"].device_metrics.source_file == "per-trial-peaks.csv"


def test_trials_follow_the_trial_column_not_the_row_order():
    data = (f"test,side,trial,force_n,lever_arm_m\n{FLEXED},right,3,300,0.4\n{FLEXED},right,1,100,0.4\n"
            f"{FLEXED},right,2,200,0.4\n").encode()
    (m,) = _import(data).measurements
    assert m.trials_n == [100, 200, 300]


def test_another_vendors_columns_and_words_through_a_mapping():
    data = (b"Limb;Rep;Peak Force (kg);Arm (m)\nL;1;21,5;0,40\nL;2;22,0;0,40\nR;1;25,1;0,40\nR;2;24,8;0,40\n")
    got = _import(data, "export.csv", test=FLEXED, fixation="belt",
                  columns={"side": "Limb", "trial": "Rep", "force_kgf": "Peak Force (kg)", "lever_arm_m": "Arm (m)"},
                  values={"side": {"L": "left", "R": "right"}})
    by_side = {m.side: m for m in got.measurements}
    assert by_side["left"].trials_kgf == [21.5, 22.0]  # decimal commas in a semicolon file
    assert by_side["right"].lever_arm_m == 0.4


def test_isokinetic_torque_rows_group_by_speed_and_mode():
    data = (b"test,side,trial,torque_nm,velocity_deg_s,mode\n"
            b"isokinetic_hip_extension,right,1,180,60,concentric\nisokinetic_hip_extension,right,2,185,60,concentric\n"
            b"isokinetic_hip_extension,right,1,150,180,concentric\n")
    got = _import(data)
    assert sorted((m.velocity_deg_s, tuple(m.trials_nm)) for m in got.measurements) == \
        [(60, (180, 185)), (180, (150,))]


def test_torque_export_of_a_hand_held_test_is_turned_into_force_through_the_lever_arm():
    data = f"test,side,trial,torque_nm,lever_arm_m\n{FLEXED},left,1,80,0.4\n".encode()
    (m,) = _import(data).measurements
    assert m.trials_n == [200.0]


# ---------------------------------------------------------------------------------------------------------------
# Per-side summary (VALD fields)


def test_vald_summary_keeps_average_force_impulse_and_repetitions_and_derives_the_lever_arm(tmp_path):
    from hipext.importers import load_mapping

    columns, values = load_mapping("vald-nordbord")
    got = _import((FILES / "vald-nordbord-summary.csv").read_bytes(), "nordbord.csv", test=FLEXED,
                  fixation="rig", columns=columns, values=values)
    assert got.layout == "per_side_summary"
    left = next(m for m in got.measurements if m.side == "left")
    assert left.trials_n == [262.4]
    assert left.device_metrics.average_force_n == 240.1 and left.device_metrics.impulse_n_s == 512.3
    assert left.device_metrics.repetition_count == 3
    assert left.lever_arm_m == pytest.approx(99.7 / 262.4, abs=0.001)


# ---------------------------------------------------------------------------------------------------------------
# Force-time traces


def test_trace_repetitions_peaks_and_rfd_match_the_curve_they_came_from():
    amps, tau = (240.0, 252.0), 0.08
    got = _import(_trace(efforts=((1.0, amps[0]), (5.0, amps[1])), tau_s=tau), test=FLEXED, side="right",
                  lever_arm_m=0.38, fixation="belt")
    (m,) = got.measurements
    reps = m.device_metrics.repetitions
    assert len(reps) == 2 and m.trials_n == pytest.approx([a * (1 - math.exp(-2 / tau)) for a in amps], abs=0.2)
    for r, amp, start in zip(reps, amps, (1.0, 5.0), strict=True):
        # onset at 2.5 % of the amplitude: t = -tau ln(0.975) after the true start
        delay = -tau * math.log(0.975)
        assert r.onset_s == pytest.approx(start + delay, abs=0.002)
        for ms in (50, 100, 200):
            x = ms / 1000
            expected = amp * math.exp(-delay / tau) * (1 - math.exp(-x / tau)) / x
            assert r.rfd_n_per_s[f"0-{ms} ms"] == pytest.approx(expected, rel=0.01)
        # impulse from onset until force falls back below the onset level, net of the baseline
        assert r.impulse_n_s == pytest.approx(amp * (2.0 - delay - tau) + amp * 0.06, rel=0.03)
    assert any("no SEM or MDC for hip-extension RFD" in n for n in got.notes)
    assert "andersen_aagaard2006" in m.device_metrics.onset_method
    assert got.traces and len(got.traces[0].time_s) <= 2000


def test_a_coarse_trace_gives_no_early_rfd_and_says_why():
    got = _import(_trace(rate_hz=50, efforts=((1.0, 200.0),)), test=FLEXED, side="left", lever_arm_m=0.38)
    (rep,) = got.measurements[0].device_metrics.repetitions
    assert rep.rfd_n_per_s["0-50 ms"] is None and rep.rfd_n_per_s["0-200 ms"] is not None
    assert any("too few samples" in n for n in got.notes)


def test_onset_method_moves_the_onset_as_published_thresholds_say():
    data = _trace(efforts=((1.0, 240.0),), noise_n=1.0)
    opts = {"test": FLEXED, "side": "left", "lever_arm_m": 0.38}
    percent = _import(data, **opts).measurements[0].device_metrics.repetitions[0].onset_s
    early = _import(data, onset=ft.Onset.parse("newtons:2"), **opts).measurements[0].device_metrics
    late = _import(data, onset=ft.Onset.parse("newtons:30"), **opts).measurements[0].device_metrics
    assert early.repetitions[0].onset_s < percent < late.repetitions[0].onset_s
    assert "2 N" in early.onset_method
    with pytest.raises(ValueError, match="percent:P, sd:K or newtons:N"):
        ft.Onset.parse("median:3")


@settings(max_examples=25, deadline=None)
@given(slope=st.floats(500, 8000), rate=st.sampled_from([500.0, 1000.0, 2000.0]))
def test_rfd_of_a_straight_ramp_is_its_slope_in_every_window(slope, rate):
    t = np.arange(0, 3.0, 1 / rate)
    f = np.where(t < 1.0, 5.0, 5.0 + slope * (t - 1.0))
    f = np.where(t > 1.6, 5.0 + slope * 0.6, f)
    (rep,) = ft.analyse(ft.Trace(t, f))
    for v in rep.rfd_n_per_s.values():
        assert v == pytest.approx(slope, rel=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# Bad files: every problem, with row and column; nothing added


def test_a_bad_peaks_file_lists_every_problem_with_row_and_column():
    data = (f"test,side,trial,force_n,lever_arm_m,position\n"
            f"{FLEXED},right,1,abc,0.38,prone\n"       # row 2: force not a number
            f"{FLEXED},up,1,200,0.38,prone\n"          # row 3: side
            f"{FLEXED},left,1,,0.38,prone\n"           # row 4: missing force
            f"hip_thing,left,1,200,0.38,prone\n"       # row 5: unknown test
            f"{FLEXED},right,2,210,0.38,supine\n"      # row 6: position contradicts the protocol
            f"{FLEXED},right,3,9000,0.38,prone\n").encode()  # row 7: force out of range
    with pytest.raises(ImportFileError) as err:
        _import(data)
    text = "\n".join(str(p) for p in err.value.problems)
    assert "row 2, column force_n: got 'abc'; expected a number" in text
    assert "row 3, column side: got 'up'" in text
    assert "row 4, column force_n: got nothing; expected a value" in text
    assert "row 5, column test: got 'hip_thing'" in text
    assert "row 6, column position: got 'supine'" in text
    assert "column force_n: got 9000" in text
    assert len(err.value.problems) >= 6


def test_a_bad_trace_names_the_rows_where_time_goes_backwards():
    rows = "".join(f"{i / 1000:.3f},{5 + (i > 100) * 100}\n" for i in range(300))
    data = ("time_s,force_n\n" + rows).replace("0.150,105", "0.140,105").encode()
    with pytest.raises(ImportFileError) as err:
        _import(data, test=FLEXED, side="left", lever_arm_m=0.38)
    assert any(p.path == "row 152, column time_s" for p in err.value.problems)


def test_files_that_are_not_test_files_are_refused_whole():
    with pytest.raises(ImportFileError, match="ending in one of"):
        _import(b"x", "trace.xlsx")
    with pytest.raises(ImportFileError, match="binary"):
        _import(b"\x00\x01\x02", "trace.csv")
    with pytest.raises(ImportFileError, match="at most"):
        _import(b"time_s,force_n\n" + b"0.001,1\n" * 3_000_000, "huge.csv")


def test_cli_bad_file_changes_nothing_and_exits_2(cli, case, tmp_path):
    before = case.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"test,side,trial,force_n,lever_arm_m\n{FLEXED},right,1,abc,0.38\n{FLEXED},middle,1,200,0.38\n")
    done = cli("import", "dynamometer", str(bad), "--case", str(case), "--visit", "2026-11-24")
    assert done.returncode == 2
    assert "2 problem(s); nothing was added" in done.stderr
    assert "row 2, column force_n" in done.stderr and "row 3, column side" in done.stderr
    assert case.read_bytes() == before


# ---------------------------------------------------------------------------------------------------------------
# Into the case: the evaluation changes; twice is refused


def test_cli_trace_import_adds_a_visit_that_the_evaluation_reads(cli, case, tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_bytes(_trace(efforts=((1.0, 240.0), (5.0, 250.0))))
    plot = tmp_path / "curve.svg"
    done = cli("import", "dynamometer", str(trace), "--case", str(case), "--visit", "2026-12-01", "--test", FLEXED,
               "--side", "right", "--lever-arm", "0.38", "--fixation", "belt", "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    assert "RFD N/s 0-50 ms" in done.stdout and "a new visit on 2026-12-01" in done.stderr
    assert plot.read_text().count("<circle") == 2
    assert case.read_text().startswith("# A sprinter")  # the file's comments are kept
    e = evaluate_case(read_case_file(case))
    assert str(e.evaluated_visit) == "2026-12-01"
    (right,) = [r for r in e.results if r.date == e.evaluated_visit and r.test == FLEXED]
    assert right.trials.n == 2 and right.device_metrics.repetition_count == 2
    assert right.change is not None  # compared with the last visit's typed measurement, same set-up


def test_cli_peaks_import_changes_the_evaluation_and_a_second_import_is_refused(cli, case):
    before = evaluate_case(read_case_file(case))
    args = ["import", "dynamometer", str(FILES / "per-trial-peaks.csv"), "--case", str(case), "--visit", "2026-11-17"]
    refused = cli(*args)
    assert refused.returncode == 2 and "--replace" in refused.stderr  # the visit has typed values for the test
    done = cli(*args, "--replace")
    assert done.returncode == 0, done.stderr
    after = evaluate_case(read_case_file(case))
    lsi = {e: next(r.lsi_percent for r in x.results if r.date == x.evaluated_visit and r.test == FLEXED
                   and r.side == "right") for e, x in (("before", before), ("after", after))}
    assert lsi["before"] != lsi["after"]
    again = cli(*args, "--replace")
    assert again.returncode == 2 and "already there" in again.stderr


def test_a_plugged_in_reader_is_used_for_its_file_type():
    seen = {}

    def reader(data: bytes, name: str, options: ImportOptions) -> DeviceImport:
        seen["args"] = (data, name, options.side)
        return DeviceImport(layout="c3d_isokinetic", file_name=name, measurements=[])

    register_reader(".c3dtest", reader)
    got = _import(b"binary", "trial.C3DTEST", side="left")
    assert got.layout == "c3d_isokinetic" and seen["args"] == (b"binary", "trial.C3DTEST", "left")


def test_an_isokinetic_c3d_file_imports_through_the_same_command(cli, case, tmp_path):
    from ..biomech.c3d_files import write_isokinetic_c3d

    trial = tmp_path / "biodex.c3d"
    write_isokinetic_c3d(trial, reps=3, velocity_deg_s=60.0, peak_nm=180.0)
    args = ["import", "dynamometer", str(trial), "--case", str(case), "--visit", "2026-12-01"]
    refused = cli(*args)
    assert refused.returncode == 2 and "--side" in refused.stderr  # the file does not say which leg
    done = cli(*args, "--side", "right")
    assert done.returncode == 0, done.stderr
    e = evaluate_case(read_case_file(case))
    (iso,) = [r for r in e.results if r.date == e.evaluated_visit and r.test == "isokinetic_hip_extension"]
    assert iso.trials.n == 3 and iso.device_metrics.layout == "c3d_isokinetic"
