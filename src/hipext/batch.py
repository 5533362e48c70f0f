"""``hipext batch``: many trials or case files in, one tidy table out (one row per item), on Dask.

Inputs are folders, glob patterns, single files, or manifest CSVs (one row per trial, with that trial's subject,
side and strength test). Each item runs through the same function as its single-item command
(``hipext.biomech.trial.analyse_trial`` for ``hipext model task``, ``hipext.app.evaluate_case`` for
``hipext evaluate``). An item that fails gets its error in the row's ``error`` column; the batch never stops.

Items run on ``dask.distributed``: a local cluster of the machine's cores by default, or an existing cluster
(``scheduler``). Workers of an existing cluster need hipext installed and the files at the same paths.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from hipext.biomech.c3d import GaitChannels
from hipext.biomech.trial import PersonSpec, TrialSpec, failed_row, trial_row, validation_text

TRIAL_SUFFIXES = (".c3d", ".mot", ".sto")
CASE_SUFFIXES = (".yaml", ".yml", ".json")
# File-name endings that mark the two halves of an OpenSim trial (kinematics, moments), matched case-blind.
KINEMATICS_ENDINGS = ("_ik", "_kinematics_q", "_kinematics", "_q")
MOMENTS_ENDINGS = ("_inverse_dynamics", "_id", "_actuation_force", "_moments")
MANIFEST_PERSON = tuple(PersonSpec.model_fields)
MANIFEST_COLUMNS = ("trial", "c3d", "kinematics", "moments", "side", "cycle", "moment_units", *MANIFEST_PERSON)
ALIASES = {"mass_kg": "body_mass_kg", "subject_mass_kg": "body_mass_kg", "torque_nm": "measured_torque_nm",
           "name": "trial"}
# Tasks per worker, and the largest task (items), of a batch on Dask: see ``chunked``.
CHUNKS_PER_WORKER = 4
MAX_CHUNK = 250
# The local cluster's background work, turned down: the statistical profiler samples every worker thread's stack
# each 10 ms (for the dashboard, which a batch does not start), the system monitor and the event-loop tick feed
# the dashboard too, and each nanny polls its worker's memory (10 times a second by default).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.client.scheduler-info-interval": "10s",
}
# A progress bar appears only for a batch that takes longer than this (seconds).
PROGRESS_DELAY_S = 0.5


@dataclass(frozen=True)
class BatchItem:
    """One unit of work: a trial, a case file, or an input that could not even be described (``error``)."""

    kind: Literal["trial", "case", "invalid"]
    name: str
    spec: TrialSpec | None = None
    path: Path | None = None
    error: str | None = None


# ------------------------------------------------------------------------------------------ collecting
def _stem_and_role(p: Path) -> tuple[str, str | None]:
    s = p.stem.lower()
    for role, endings in (("kinematics", KINEMATICS_ENDINGS), ("moments", MOMENTS_ENDINGS)):
        for e in endings:
            if s.endswith(e):
                return p.stem[: -len(e)], role
    return p.stem, None


def _expand(inp: str) -> list[Path]:
    p = Path(inp)
    if any(ch in inp for ch in "*?["):
        return sorted(Path(x) for x in glob.glob(inp, recursive=True) if Path(x).is_file())
    if p.is_dir():
        return sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in TRIAL_SUFFIXES + CASE_SUFFIXES)
    return [p]


def collect(inputs: Iterable[str], *, side: str = "r", cycle: int | Literal["all"] = "all",
            person: dict[str, Any] | None = None, channels: GaitChannels | None = None, muscles: bool = True,
            moment_units: str = "N m") -> list[BatchItem]:
    """Describe the work: every trial and case file named by the inputs, in a stable order.

    ``side``, ``cycle``, ``person``, ``channels``, ``muscles`` and ``moment_units`` apply to every trial found in a
    folder or glob; a manifest row overrides them for its trial.
    """
    defaults = dict(side=side, cycle=cycle, channels=channels or GaitChannels(), muscles=muscles,
                    moment_units=moment_units)
    base_person = dict(person or {})
    items: list[BatchItem] = []
    loose: list[Path] = []
    for inp in inputs:
        files = _expand(inp)
        if not files or (len(files) == 1 and not files[0].exists()):
            items.append(BatchItem("invalid", inp, error=f"input: {inp!r} matches no file; expected a folder, a "
                                   "glob pattern, a manifest .csv, a trial (.c3d, .mot/.sto) or a case file"))
            continue
        for f in files:
            suf = f.suffix.lower()
            if suf == ".csv":
                items.extend(read_manifest(f, defaults=defaults, person=base_person))
            elif suf in CASE_SUFFIXES:
                items.append(BatchItem("case", f.stem, path=f))
            elif suf in TRIAL_SUFFIXES:
                loose.append(f)
            else:
                items.append(BatchItem("invalid", f.name, path=f, error=f"{f.name}: not a trial, case or "
                                       "manifest file (expected .c3d, .mot, .sto, .yaml, .json or .csv)"))
    items.extend(_trials_from_files(loose, defaults, base_person))
    return items


def _spec(name: str, fields: dict[str, Any], person: dict[str, Any]) -> BatchItem:
    try:
        spec = TrialSpec(name=name, person=PersonSpec(**person), **fields)
    except ValidationError as exc:
        return BatchItem("invalid", name, error=validation_text(exc))
    return BatchItem("trial", name, spec=spec)


def _trials_from_files(files: list[Path], defaults: dict[str, Any], person: dict[str, Any]) -> list[BatchItem]:
    items = []
    pairs: dict[tuple[Path, str], dict[str, Path]] = {}
    for f in dict.fromkeys(files):
        if f.suffix.lower() == ".c3d":
            items.append(_spec(f.stem, dict(c3d=f, **defaults), person))
            continue
        stem, role = _stem_and_role(f)
        if role is None:
            items.append(BatchItem("invalid", f.stem, path=f, error=f"{f.name}: cannot tell whether it holds "
                                   "kinematics or moments; name it <trial>_ik.mot / <trial>_inverse_dynamics.sto, "
                                   "or list the trial in a manifest"))
            continue
        pairs.setdefault((f.parent, stem), {})[role] = f
    for (folder, stem), roles in pairs.items():
        if set(roles) != {"kinematics", "moments"}:
            have = next(iter(roles.values()))
            missing = "moments" if "moments" not in roles else "kinematics"
            items.append(BatchItem("invalid", stem, path=have, error=f"{have.name}: no {missing} file for trial "
                                   f"{stem!r} in {folder}"))
            continue
        items.append(_spec(stem, dict(kinematics=roles["kinematics"], moments=roles["moments"], **defaults), person))
    return items


def read_manifest(path: Path, *, defaults: dict[str, Any], person: dict[str, Any]) -> list[BatchItem]:
    """Trials listed in a manifest CSV; paths are relative to the manifest's folder.

    Columns: trial, c3d or kinematics + moments, side (l/r/left/right), cycle, moment_units, and the person's
    sex, age, body_mass_kg (or mass_kg), height_m, measured_torque_nm (or torque_nm), test_hip_flexion_deg,
    test_knee_flexion_deg, test_velocity_deg_s, test_mode. Empty cells take the batch's defaults.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [BatchItem("invalid", path.name, path=path, error=f"{path.name}: cannot read the manifest ({exc})")]
    unknown = [h for h in header if h not in MANIFEST_COLUMNS]
    if unknown or not ({"c3d"} <= set(header) or {"kinematics", "moments"} <= set(header)):
        return [BatchItem("invalid", path.name, path=path, error=(
            f"{path.name}: " + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "")
            + f"expected columns among {', '.join(MANIFEST_COLUMNS)}, with c3d or kinematics and moments"))]
    items = []
    for line, raw in enumerate(rows, start=2):
        row = {ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip() for k, v in raw.items() if k}
        name = row.get("trial") or Path(row.get("c3d") or row.get("moments") or f"row{line}").stem
        fields = dict(defaults)
        for key in ("c3d", "kinematics", "moments"):
            if row.get(key):
                fields[key] = path.parent / row[key]
        if row.get("side"):
            fields["side"] = {"left": "l", "right": "r"}.get(row["side"].lower(), row["side"].lower())
        if row.get("cycle"):
            fields["cycle"] = row["cycle"].lower() if row["cycle"].lower() == "all" else row["cycle"]
        if row.get("moment_units"):
            fields["moment_units"] = row["moment_units"]
        who = dict(person)
        who.update({k: row[k] for k in MANIFEST_PERSON if row.get(k)})
        item = _spec(name, fields, who)
        if item.error:
            item = BatchItem("invalid", name, path=path, error=f"{path.name} line {line}: {item.error}")
        items.append(item)
    return items


# ------------------------------------------------------------------------------------------ one item
def case_row(path: Path) -> dict[str, Any]:
    """``evaluate_case`` of one case file as a table row."""
    from hipext.app import evaluate_case
    from hipext.caseio import read_case_file
    from hipext.core.errors import CaseInputError

    start = time.perf_counter()
    try:
        ev = evaluate_case(read_case_file(path))
    except CaseInputError as exc:
        return failed_row(path.stem, str(path), "; ".join(str(p) for p in exc.problems), time.perf_counter() - start)
    except (ValueError, OSError) as exc:
        return failed_row(path.stem, str(path), str(exc), time.perf_counter() - start)
    doc = ev.model_dump(mode="json")
    row: dict[str, Any] = {"case": path.stem, "file": str(path), "patient": doc["patient"]["id"],
                           "as_of": doc.get("as_of"), "screening": (doc.get("screening") or {}).get("decision"),
                           "results": len(doc["results"]),
                           "concerns": sum(1 for f in doc["findings"] if f.get("concern")),
                           "program_phase": (doc.get("program") or {}).get("phase"),
                           "exercises": len((doc.get("program") or {}).get("exercises") or []),
                           "ready_to_return": (doc.get("return_to_activity") or {}).get("ready")}
    cap = doc.get("capacity") or {}
    row["capacity_side"] = cap.get("side")
    for t in cap.get("tasks") or []:
        row[f"{t['task']}_share_percent"] = t.get("share_of_capacity_percent")
        row[f"{t['task']}_share_status"] = t.get("share_status")
    row["seconds"] = round(time.perf_counter() - start, 4)
    row["error"] = None
    return row


def isokinetic_row(spec: TrialSpec) -> dict[str, Any]:
    """An isokinetic dynamometer C3D as a table row (``read_isokinetic_c3d``, as ``hipext import dynamometer``)."""
    from hipext.biomech.isokinetic import read_isokinetic_c3d

    assert spec.c3d is not None
    start = time.perf_counter()
    t = read_isokinetic_c3d(spec.c3d, side="left" if spec.side == "l" else "right")
    best = max(t.repetitions, key=lambda r: r.peak_torque_nm)
    return {"trial": spec.label, "file": str(spec.c3d), "side": t.side, "mode": t.mode,
            "velocity_deg_s": t.velocity_deg_s, "repetitions": len(t.repetitions),
            "peak_torque_nm": round(best.peak_torque_nm, 2), "angle_at_peak_deg": round(best.angle_at_peak_deg, 1),
            "work_j": round(best.work_j, 1),
            "mean_work_j": round(sum(r.work_j for r in t.repetitions) / len(t.repetitions), 1),
            "channels_kept": ",".join(t.other_channels) or None, "notes": "; ".join(t.notes) or None,
            "warnings": "; ".join(t.warnings) or None, "seconds": round(time.perf_counter() - start, 4),
            "error": None}


def c3d_row(spec: TrialSpec) -> tuple[str, dict[str, Any]]:
    """A C3D trial: a processed gait trial, or else (no gait points, analog torque) an isokinetic test."""
    from hipext.biomech.c3d import MissingChannel
    from hipext.biomech.trial import analyse_trial

    start = time.perf_counter()
    try:
        return "trial", analyse_trial(spec).summary_row()
    except MissingChannel as gait_error:
        try:
            return "isokinetic", isokinetic_row(spec)
        except ValueError:
            return "trial", failed_row(spec.label, str(spec.c3d), str(gait_error), time.perf_counter() - start)
    except (ValueError, OSError, RuntimeError) as exc:
        return "trial", failed_row(spec.label, str(spec.c3d), str(exc), time.perf_counter() - start)


def run_item(item: BatchItem) -> dict[str, Any]:
    """The row of one item; never raises."""
    kind: str | None = item.kind
    if item.kind == "trial" and item.spec is not None and item.spec.c3d is not None:
        try:
            kind, row = c3d_row(item.spec)
        except Exception as exc:  # noqa: BLE001 - one bad trial must not stop a batch
            row = failed_row(item.name, str(item.spec.c3d), f"internal problem ({exc.__class__.__name__}: {exc})")
    elif item.kind == "trial":
        assert item.spec is not None
        row = trial_row(item.spec)
    elif item.kind == "case":
        assert item.path is not None
        try:
            row = case_row(item.path)
        except Exception as exc:  # noqa: BLE001 - one bad case must not stop a batch
            row = failed_row(item.name, str(item.path), f"internal problem ({exc.__class__.__name__}: {exc})")
    else:
        kind = None
        row = failed_row(item.name, None if item.path is None else str(item.path), item.error or "invalid input")
    name = row.pop("trial", None) or row.pop("case", None) or item.name
    return {"kind": kind, "name": name, **row}


def run_failed(item: BatchItem, error: str) -> dict[str, Any]:
    row = failed_row(item.name, None if item.path is None else str(item.path), error)
    return {"kind": item.kind, "name": row.pop("trial"), **row}


def run_chunk(items: list[BatchItem]) -> list[dict[str, Any]]:
    return [run_item(i) for i in items]


# ------------------------------------------------------------------------------------------ running
def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="batch", disable=not enabled, delay=PROGRESS_DELAY_S)


def run_serial(items: list[BatchItem], *, progress: bool = False) -> list[dict[str, Any]]:
    """Run in this process, one item after the other (no Dask)."""
    rows = []
    with _progress(len(items), progress) as bar:
        for it in items:
            rows.append(run_item(it))
            bar.update(1)
    return rows


def chunked(items: list[BatchItem], workers: int) -> list[list[BatchItem]]:
    """A few chunks per worker: each task costs the scheduler, the client and the worker's event loop CPU time
    that, on a small machine, the work itself needs, so tasks are few and large; a few per worker still lets a
    worker that is slowed (a busy core) take fewer of them, moves the progress bar, and bounds what one crashed
    worker takes down with it (``MAX_CHUNK`` items)."""
    n = max(1, min(len(items), CHUNKS_PER_WORKER * max(1, workers)))
    size = max(1, min(MAX_CHUNK, math.ceil(len(items) / n)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def local_client(workers: int | None = None) -> Any:
    """A ``dask.distributed`` client on a local cluster: one single-threaded worker process per core, the
    scheduler in this process. The cluster's own background work is turned down (``LOCAL_CLUSTER_CONFIG``):
    on a machine whose every core runs a worker, it competes with them."""
    import logging

    import dask
    from dask.distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    # Set while the cluster starts: the scheduler reads it now, and each worker gets it from its nanny.
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        # No dashboard; the scheduler's own HTTP server (health, metrics) still starts, on 8787 unless told
        # otherwise, and warns when that port is taken (another cluster, a parallel test): a free loopback port.
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.ERROR)
        return Client(cluster)


def run_on_dask(items: list[BatchItem], client: Any, *, progress: bool = False,
                on_row: Callable[[dict[str, Any]], None] | None = None,
                timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Run the items on a Dask cluster; rows come back in the items' order. A chunk whose worker died gets an
    error row per item (the batch goes on); with ``timeout_s``, chunks not finished by then get one too."""
    from dask.distributed import TimeoutError as DaskTimeout
    from dask.distributed import as_completed

    # Chunks sized by the threads the cluster runs tasks on (a worker of an existing cluster may have several).
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
    chunks = chunked(items, max(1, threads))
    futures = client.map(run_chunk, chunks, pure=False, retries=0)
    where = {f.key: i for i, f in enumerate(futures)}
    out: list[list[dict[str, Any]] | None] = [None] * len(chunks)
    with _progress(len(items), progress) as bar:
        try:
            for fut in as_completed(futures, timeout=timeout_s):
                i = where[fut.key]
                try:
                    rows = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker crash costs only its chunk
                    rows = [run_failed(it, f"worker failed ({exc.__class__.__name__}: {exc})") for it in chunks[i]]
                out[i] = rows
                for r in rows:
                    if on_row:
                        on_row(r)
                bar.update(len(chunks[i]))
                fut.release()
        except (DaskTimeout, TimeoutError):
            client.cancel(futures)
    for i, rows in enumerate(out):
        if rows is None:
            out[i] = [run_failed(it, f"not finished within {timeout_s:g} s") for it in chunks[i]]
    return [r for rows in out if rows for r in rows]


def run_batch(items: list[BatchItem], *, scheduler: str | None = None, workers: int | None = None,
              serial: bool = False, progress: bool = False, connect_timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Run every item: serially, on an existing Dask cluster (``scheduler`` address), or on a local one."""
    if serial:
        return run_serial(items, progress=progress)
    if scheduler:
        from dask.distributed import Client

        try:
            client = Client(scheduler, timeout=f"{connect_timeout_s}s")
        except OSError as exc:
            raise ValueError(f"--scheduler: cannot reach {scheduler!r} ({exc}); expected the address of a running "
                             "Dask scheduler, e.g. tcp://10.0.0.5:8786") from None
        with client:
            return run_on_dask(items, client, progress=progress)
    client = local_client(workers)
    try:
        return run_on_dask(items, client, progress=progress)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


# ------------------------------------------------------------------------------------------ the table
def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every column in first-seen order, with ``error`` last."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    if "error" in cols:
        cols.remove("error")
        cols.append("error")
    return cols


def write_table(rows: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    """Write the rows as ``<out>.csv`` and ``<out>.parquet`` (one row per item, missing values empty/null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stem = out.with_suffix("") if out.suffix.lower() in (".csv", ".parquet") else out
    stem.parent.mkdir(parents=True, exist_ok=True)
    cols = columns(rows)
    csv_path, pq_path = stem.with_suffix(".csv"), stem.with_suffix(".parquet")
    tmp_csv = csv_path.with_suffix(".csv.tmp")
    with tmp_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows({c: r.get(c) for c in cols} for r in rows)
    table = pa.table({c: _arrow_column([r.get(c) for r in rows]) for c in cols})
    tmp_pq = pq_path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp_pq)
    tmp_csv.replace(csv_path)  # both written before either is replaced: no half-written result
    tmp_pq.replace(pq_path)
    return csv_path, pq_path


def _arrow_column(values: list[Any]) -> Any:
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, float} and float in kinds:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds and not kinds <= {int, float, bool, str}:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if len(kinds) > 1:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.array(values)
