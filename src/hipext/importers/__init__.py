"""Device files into measurements: dynamometer exports read into the same typed `Measurement`s a clinician types.

One entry point, `read_device_file(data, name, options)`, picks the reader by the file's type and, for CSV, by its
columns (`docs/import-formats.md` documents each layout):

- per-trial peaks (`peaks.py`): one row per trial;
- per-side summary (`summary.py`): one row per test with each side's maximum and average force, impulse and
  repetitions (VALD's fields);
- force-time trace (`trace.py`): time and force samples, analysed for repetitions, RFD and impulse.

Other file types plug in with `register_reader(suffix, "module:function")`; the function takes
`(data: bytes, name: str, options: ImportOptions)` and returns a `DeviceImport`, or raises `ImportFileError` with
every problem. Isokinetic C3D files are read this way (`c3d.py`, through the research pipeline's reader).

Nothing here writes: `hipext.importers.into_case` adds the measurements to a visit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from hipext.core.errors import Problem
from hipext.importers.models import DeviceImport, ImportFileError, ImportOptions, TraceView
from hipext.importers.table import Table

FileReader = Callable[[bytes, str, ImportOptions], DeviceImport]
CSV_LAYOUTS = ("per_trial_peaks", "per_side_summary", "force_time_trace")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")

# Non-CSV readers by file suffix, as "module:function" so nothing is imported until a file of that type arrives.
_READERS: dict[str, str | FileReader] = {".c3d": "hipext.importers.c3d:read"}


def register_reader(suffix: str, reader: str | FileReader) -> None:
    """Read files ending in `suffix` (e.g. '.c3d') with `reader`."""
    _READERS[suffix.lower()] = reader


def _resolve(reader: str | FileReader) -> FileReader:
    if callable(reader):
        return reader
    module, _, function = reader.partition(":")
    found: FileReader = getattr(importlib.import_module(module), function)
    return found


def mapping_presets() -> dict[str, str]:
    """Built-in column mappings for vendors' exports: name -> description."""
    from hipext.evidence import data_dir, read_yaml

    folder = data_dir() / "importers" / "mappings"
    return {p.name.removesuffix(".yaml"): read_yaml(f"importers/mappings/{p.name}")["describe"]
            for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".yaml")}


def load_mapping(name_or_path: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A preset by name, or a YAML file with `columns:` and `values:`; raises ImportFileError if unreadable."""
    import yaml

    from hipext.evidence import read_yaml

    if name_or_path in mapping_presets():
        doc = read_yaml(f"importers/mappings/{name_or_path}.yaml")
    else:
        try:
            doc = yaml.safe_load(Path(name_or_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ImportFileError([Problem("--mapping", name_or_path, "a preset (" + ", ".join(mapping_presets())
                                           + f") or a readable YAML mapping file ({exc.__class__.__name__})")]) \
                from None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns", {}), dict) \
            or not isinstance(doc.get("values", {}), dict):
        raise ImportFileError([Problem("--mapping", name_or_path, "a mapping with columns: {hipext: theirs} and "
                                       "values: {column: {theirs: hipext}}")])
    columns = {str(k): str(v) for k, v in (doc.get("columns") or {}).items()}
    values = {str(c): {str(k): str(v) for k, v in (m or {}).items()} for c, m in (doc.get("values") or {}).items()}
    return columns, values


def _csv_layout(table: Table) -> str:
    from hipext.importers import summary, trace

    if trace.columns_present(table):
        return "force_time_trace"
    if summary.columns_present(table):
        return "per_side_summary"
    return "per_trial_peaks"


def read_device_file(data: bytes, name: str, options: ImportOptions | None = None, *,
                     must_exist: frozenset[str] = frozenset()) -> DeviceImport:
    """Measurements from one device file. Raises ImportFileError listing every problem, with row and column."""
    from hipext.importers import peaks, summary, table, trace

    options = options or ImportOptions()
    suffix = Path(name).suffix.lower()
    if suffix in _READERS:
        return _resolve(_READERS[suffix])(data, name, options)
    if suffix not in CSV_SUFFIXES:
        known = ", ".join(sorted({*CSV_SUFFIXES, *_READERS}))
        raise ImportFileError([Problem("(file)", name, f"a file ending in one of {known}")])
    parsed = table.read(data, name, columns=options.columns, values=options.values, must_exist=must_exist)
    if parsed.problems:
        raise ImportFileError(parsed.problems)
    layout = options.layout or _csv_layout(parsed)
    if layout not in CSV_LAYOUTS:
        raise ImportFileError([Problem("--layout", layout, "one of " + ", ".join(CSV_LAYOUTS))])
    reader = {"per_trial_peaks": peaks.read, "per_side_summary": summary.read, "force_time_trace": trace.read}
    result = reader[layout](parsed, data, name, options)
    if parsed.problems:
        raise ImportFileError(parsed.problems)
    return result


__all__ = ["DeviceImport", "ImportFileError", "ImportOptions", "TraceView", "load_mapping", "mapping_presets",
           "read_device_file", "register_reader"]
