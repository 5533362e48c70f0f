"""Isokinetic dynamometer C3D files through `hipext import dynamometer` (the reader is `hipext.biomech.isokinetic`).

The C3D does not say which leg was tested, so `--side` is required; `--mode` and `--velocity` override what the
reader finds in the recording. Repetitions, peak torque and work come from the research pipeline's reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hipext.core.case import DeviceMetrics
from hipext.core.errors import Problem
from hipext.importers.measurements import sha256
from hipext.importers.models import DeviceImport, ImportFileError, ImportOptions


def read(data: bytes, name: str, options: ImportOptions) -> DeviceImport:
    from hipext.biomech.isokinetic import read_isokinetic_c3d

    problems = []
    if options.side is None:
        problems.append(Problem("--side", None, "left or right: a C3D file does not say which leg was tested"))
    if options.mode == "isometric":
        problems.append(Problem("--mode", options.mode, "concentric or eccentric for an isokinetic recording"))
    if problems:
        raise ImportFileError(problems)
    with tempfile.TemporaryDirectory() as tmp:  # the C3D library reads from a path
        path = Path(tmp) / Path(name).name
        path.write_bytes(data)
        try:
            test = read_isokinetic_c3d(path, side=options.side,  # type: ignore[arg-type]
                                       mode=options.mode or "auto",  # type: ignore[arg-type]
                                       velocity_deg_s=options.velocity_deg_s)
        except (ValueError, OSError, RuntimeError) as exc:
            raise ImportFileError([Problem("(file)", name, f"an isokinetic C3D recording ({exc})")]) from None
    m = test.measurement(device=options.device)
    metrics = DeviceMetrics(source_file=name[-255:], source_sha256=sha256(data), layout="c3d_isokinetic",
                            repetition_count=len(test.repetitions))
    return DeviceImport(layout="c3d_isokinetic", file_name=name, measurements=[m.model_copy(update={
        "device_metrics": metrics})], notes=[*test.notes, *test.warnings])
