"""A real, third-party C3D file: pyCGM's Vicon Nexus Plug-in Gait static trial (MIT; see data/pycgm/README.md)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hipext.batch import collect, run_serial
from hipext.biomech.c3d import GaitChannels, MissingChannel, gait_trial, read_c3d
from hipext.cli import _register_commands, app

from .c3d_files import write_gait_c3d

SAMPLE = Path(__file__).parent / "data" / "pycgm"
C3D = SAMPLE / "Sample_Static.c3d"
_register_commands()
runner = CliRunner()


def _nexus_export() -> dict[str, np.ndarray]:
    """Nexus's own CSV export of the trial: label -> 3 x frames (degrees)."""
    with (SAMPLE / "Sample_Static_angles.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    labels = {k.rsplit("_", 1)[0] for k in rows[0] if k != "frame"}
    return {lab: np.array([[float(r[f"{lab}_{a}"]) for r in rows] for a in "XYZ"]) for lab in labels}


def test_hipext_reads_a_vicon_nexus_file_as_nexus_exported_it():
    c = read_c3d(C3D)
    export = _nexus_export()
    assert c.point_rate_hz == 100.0 and c.n_frames == 275  # the export's rate and frame count
    assert str(c.parameter("MANUFACTURER", "SOFTWARE")[0]) == "Vicon Nexus"
    assert c.parameter("POINT", "ANGLE_UNITS") == ["deg"]
    assert c.events == ()
    for label, values in export.items():
        assert values.shape == (3, 275)
        np.testing.assert_allclose(c.points[label], values, atol=1e-6, err_msg=label)


def test_a_static_trial_is_refused_with_the_reason_not_a_bare_missing_channel(tmp_path):
    """A lab's folder holds static calibration trials next to the walks: angles, no moments."""
    with pytest.raises(MissingChannel, match="no moments") as caught:
        gait_trial(C3D, side="l")
    assert "static" in str(caught.value) and "LHipMoment" in str(caught.value)
    r = runner.invoke(app, ["model", "task", "--c3d", str(C3D), "--side", "l"])
    assert r.exit_code == 2 and "no moments" in r.output and "Traceback" not in r.output
    shutil.copy(C3D, tmp_path / "static.c3d")
    write_gait_c3d(tmp_path / "walk.c3d", mass_kg=70.0)
    rows = {r["name"]: r for r in run_serial(collect([str(tmp_path)], side="l", muscles=False))}
    assert "no moments" in rows["static"]["error"]
    assert rows["walk"]["error"] is None and rows["walk"]["peak_hip_extension_moment_nm"] > 0


def test_moments_under_another_name_are_not_taken_for_a_static_trial(tmp_path):
    p = tmp_path / "torques.c3d"
    own = write_gait_c3d(p, labels={"hip_moment": "LHipTorque", "knee_moment": "LKneeTorque"})
    with pytest.raises(MissingChannel, match="no moments"):
        gait_trial(p, side="l")
    g = gait_trial(p, side="l", channels=GaitChannels.from_pairs(["hip_moment={S}HipTorque",
                                                                   "knee_moment={S}KneeTorque"]))
    assert max(c.peak()["peak_hip_extension_moment_nm"] for c in g.cycles) == pytest.approx(own["peak_nm"], rel=0.01)
