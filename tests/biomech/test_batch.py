"""``hipext batch``: a folder, glob or manifest of trials (or case files) -> one table, on a two-worker Dask cluster.

One local cluster serves the whole module (its start-up is the slow part); every Dask call is bounded by a timeout.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import socket
import warnings
from pathlib import Path

import dask
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hipext import batch
from hipext.batch import chunked, collect, local_client, run_batch, run_on_dask, run_serial, write_table
from hipext.biomech.trial import PersonSpec, TrialSpec, analyse_trial
from hipext.cli import _register_commands, app

from ..conftest import CASES
from .c3d_files import write_gait_c3d, write_isokinetic_c3d
from .conftest import SHARED

WALK = SHARED / "data" / "walking_gait2392"
_register_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    """The local cluster ``hipext batch`` starts, with two workers."""
    client = local_client(2)
    try:
        yield client
    finally:
        lc = client.cluster
        client.close()
        lc.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """200 trials: 190 C3D walking trials, 6 broken files, 2 OpenSim pairs, 1 half pair, 1 isokinetic test."""
    root = tmp_path_factory.mktemp("study")
    src = root / "template.c3d"
    write_gait_c3d(src, mass_kg=72.6, cycles=2)
    trials = root / "trials"
    trials.mkdir()
    for i in range(190):
        shutil.copy(src, trials / f"s{i:03d}.c3d")
    src.unlink()
    (trials / "bad_garbage.c3d").write_bytes(b"\x00garbage" * 50)
    (trials / "bad_empty.c3d").write_bytes(b"")
    good = (trials / "s000.c3d").read_bytes()
    (trials / "bad_truncated.c3d").write_bytes(good[: len(good) // 3])
    write_gait_c3d(trials / "bad_nokinetics.c3d", cycles=2, no_kinetics_cycle=1)  # one cycle left: analysed
    write_gait_c3d(trials / "bad_units.c3d", moment_scale=1000.0)  # moments 1000x too large
    write_gait_c3d(trials / "bad_noevents_nomass.c3d", events=False, body_mass_parameter=False)
    for k in ("a", "b"):
        shutil.copy(WALK / "subject01_walk1_ik.mot", trials / f"os_{k}_ik.mot")
        shutil.copy(WALK / "subject01_walk1_inverse_dynamics.sto", trials / f"os_{k}_inverse_dynamics.sto")
    shutil.copy(WALK / "subject01_walk1_ik.mot", trials / "lonely_ik.mot")
    write_isokinetic_c3d(trials / "iso_left.c3d", reps=3)
    return trials


def _by_name(rows):
    return {r["name"]: r for r in rows}


def test_folder_of_200_trials_on_two_workers_writes_the_table_with_per_trial_errors(study, cluster, tmp_path):
    items = collect([str(study)], side="l", person={"sex": "female", "age": 30, "height_m": 1.7}, muscles=False)
    assert len(items) == 200
    rows = run_on_dask(items, cluster, timeout_s=300)
    assert len(rows) == 200 and [r["name"] for r in rows] == [i.name for i in items]  # one row each, in order
    by = _by_name(rows)
    for bad in ("bad_garbage", "bad_empty", "bad_truncated", "bad_units", "bad_noevents_nomass", "lonely"):
        assert by[bad]["error"], bad
    assert "N mm" in by["bad_units"]["error"] or "moment units" in by["bad_units"]["error"]
    assert "body mass" in by["bad_noevents_nomass"]["error"]
    assert "no moments file" in by["lonely"]["error"]
    assert by["bad_nokinetics"]["error"] is None and by["bad_nokinetics"]["cycles_analysed"] == 1
    assert "no kinetics" in by["bad_nokinetics"]["warnings"]
    assert by["iso_left"]["kind"] == "isokinetic" and by["iso_left"]["repetitions"] == 3
    assert by["os_a"]["error"] is None and by["os_a"]["peak_hip_extension_moment_nm"] > 0
    ok = [r for r in rows if r["name"].startswith("s")]
    assert len(ok) == 190 and all(r["error"] is None for r in ok)
    assert len({r["peak_hip_extension_moment_nm"] for r in ok}) == 1
    csv_path, pq_path = write_table(rows, tmp_path / "study")
    table = pq.read_table(pq_path)
    assert table.num_rows == 200 and table.column_names[-1] == "error"
    assert table.schema.field("peak_hip_extension_moment_nm").type == "double"
    with csv_path.open() as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == 200


def test_the_batch_row_is_the_single_trial_result(study, cluster):
    spec = TrialSpec(c3d=study / "s001.c3d", side="l", person=PersonSpec(sex="male", age=40, height_m=1.8))
    single = analyse_trial(spec).summary_row()
    items = collect([str(study / "s001.c3d")], side="l", person={"sex": "male", "age": 40, "height_m": 1.8})
    (row,) = run_on_dask(items, cluster, timeout_s=120)
    for k, v in single.items():
        if k not in ("seconds", "trial", "file"):
            assert row[k] == v, k
    assert any(k.startswith("share_glmax1_l") for k in row)


def test_manifest_rows_carry_their_own_subject_and_bad_rows_become_errors(tmp_path, cluster):
    write_gait_c3d(tmp_path / "a.c3d", mass_kg=60.0)
    write_gait_c3d(tmp_path / "b.c3d", side="R", mass_kg=90.0)
    (tmp_path / "study.csv").write_text(
        "trial,c3d,side,sex,age,mass_kg,height_m,torque_nm,test_hip_flexion_deg,test_knee_flexion_deg\n"
        "A,a.c3d,left,female,28,60,1.65,150,0,90\n"
        "B,b.c3d,right,male,70,90,1.80,,,\n"
        "C,missing.c3d,left,male,40,80,1.80,,,\n"
        "D,a.c3d,up,male,40,80,1.80,,,\n"
        "E,a.c3d,left,male,400,80,1.80,,,\n")
    items = collect([str(tmp_path / "study.csv")], muscles=False)
    rows = _by_name(run_on_dask(items, cluster, timeout_s=120))
    assert rows["A"]["error"] is None and rows["A"]["side"] == "left" and rows["A"]["share_status"] == "estimate"
    assert "test_setup" in rows["A"]["likely_causes"]
    assert rows["B"]["error"] is None and rows["B"]["body_mass_kg"] == 90.0
    assert "no such file" in rows["C"]["error"]
    assert "line 5" in rows["D"]["error"] and "side" in rows["D"]["error"]
    assert "age" in rows["E"]["error"]


def test_case_files_in_a_batch(tmp_path):
    cases = [p for p in sorted(CASES.glob("*.yaml")) if not p.name.endswith(".expected.yaml")][:3]
    bad = tmp_path / "bad.yaml"
    bad.write_text("hipext_case: 1\npatient: {id: x}\n")
    rows = run_serial(collect([str(p) for p in cases] + [str(bad)]))
    assert [r["kind"] for r in rows] == ["case"] * 4
    assert all(r["error"] is None for r in rows[:3]) and rows[3]["error"]


def test_cli_batch_on_an_existing_scheduler_with_a_glob(study, cluster, tmp_path):
    addr = cluster.scheduler.address
    out = tmp_path / "res"
    r = runner.invoke(app, ["batch", str(study / "s00*.c3d"), str(study / "bad_garbage.c3d"), "--out", str(out),
                            "--side", "l", "--no-muscles", "--scheduler", addr, "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "11 item(s)" in r.output and "1 with an error" in r.output
    assert pq.read_table(out.with_suffix(".parquet")).num_rows == 11
    with pytest.raises(ValueError, match="--scheduler: cannot reach"):
        run_batch(collect([str(study / "s000.c3d")]), scheduler="tcp://127.0.0.1:9", connect_timeout_s=1)


def test_cli_batch_bad_options_and_no_input(tmp_path):
    r = runner.invoke(app, ["batch", str(tmp_path / "nothing*.c3d"), "--out", str(tmp_path / "x"), "--serial"])
    assert r.exit_code == 0 and "1 with an error" in r.output  # the input itself is reported in the table
    r = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and "--out" in r.output
    r = runner.invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "x"), "--side", "up"])
    assert r.exit_code == 2 and "--side" in r.output


def test_unfinished_chunks_become_error_rows_not_a_hang(study, cluster):
    items = collect([str(study / "s01*.c3d")], side="l")
    rows = run_on_dask(items, cluster, timeout_s=0.001)
    assert len(rows) == len(items) == 10
    assert all(r["error"] is None or "not finished within" in r["error"] for r in rows)
    assert any(r["error"] for r in rows)


def test_local_cluster_default_runs(tmp_path):
    """The default path: a local cluster started and closed by run_batch (two workers here to stay bounded). It
    needs no fixed port: with Dask's usual 8787 taken (another cluster, a parallel run) it starts without a word."""
    write_gait_c3d(tmp_path / "a.c3d")
    taken = socket.socket()
    with contextlib.suppress(OSError):  # already taken by someone else is as good
        taken.bind(("", 8787))
        taken.listen()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = run_batch(collect([str(tmp_path / "a.c3d")], side="l", muscles=False), workers=2)
    finally:
        taken.close()
    assert rows[0]["error"] is None
    assert not [w for w in caught if "8787" in str(w.message)]


def test_the_local_cluster_runs_few_large_tasks_with_its_background_work_turned_down(study, cluster, capsys,
                                                                                     monkeypatch):
    """On two cores the client, scheduler and workers' own upkeep compete with the trials: the work goes in a few
    chunks per worker, in order, each item once, and the workers do not run the dashboard's profiler."""
    items = collect([str(study)], side="l", muscles=False)
    chunks = chunked(items, 2)
    assert len(chunks) == 2 * batch.CHUNKS_PER_WORKER and [i for c in chunks for i in c] == items
    assert len(chunked(items * 50, 2)) == -(-len(items) * 50 // batch.MAX_CHUNK)  # a crash loses one chunk at most
    assert [len(c) for c in chunked(items[:3], 2)] == [1, 1, 1]
    assert set(cluster.run(dask.config.get, "distributed.worker.profile.enabled").values()) == {False}
    monkeypatch.setattr(batch, "PROGRESS_DELAY_S", 0)  # the bar shows at once, not after half a second
    rows = run_on_dask(items[:20], cluster, progress=True, timeout_s=120)
    assert len(rows) == 20
    assert "20/20" in capsys.readouterr().err  # the progress bar reached the end
