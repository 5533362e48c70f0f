"""`hipext import dynamometer FILE --case CASE --visit DATE` (and `hipext import fhir`, added by hipext.fhir.cli)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path

import typer

from hipext.core.errors import CaseInputError

app = typer.Typer(help="Bring data into hipext: dynamometer files, FHIR bundles.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


class Layout(str, Enum):
    per_trial_peaks = "per_trial_peaks"
    per_side_summary = "per_side_summary"
    force_time_trace = "force_time_trace"


def _fail(problems: list[str], header: str | None = None) -> None:
    if header:
        typer.echo(header, err=True)
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    raise typer.Exit(2)


def _columns(pairs: list[str]) -> dict[str, str]:
    out, bad = {}, []
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            bad.append(f"--column: got {pair!r}; expected HIPEXT_NAME=THEIR_NAME, e.g. force_lbf='Peak (lbs)'")
        else:
            out[ours.strip()] = theirs.strip()
    if bad:
        _fail(bad)
    return out


@app.command("dynamometer")
def dynamometer(
    file: Path = typer.Argument(..., metavar="FILE", help="Device export: CSV (per-trial peaks, per-side summary or "
                                "force-time trace; see docs/import-formats.md)."),
    case_file: Path = typer.Option(..., "--case", help="Case file to add the measurements to (YAML or JSON)."),
    visit: str = typer.Option(..., "--visit", metavar="DATE", help="Visit date YYYY-MM-DD; created if absent."),
    test: str | None = typer.Option(None, "--test", help="Test id when the file has no test column."),
    side: str | None = typer.Option(None, "--side", help="left or right, when the file has no side column."),
    lever_arm: float | None = typer.Option(None, "--lever-arm", help="Hip joint centre to pad, m."),
    fixation: str | None = typer.Option(None, "--fixation", help="belt, manual or rig."),
    device: str | None = typer.Option(None, "--device", help="Device make and model."),
    velocity: float | None = typer.Option(None, "--velocity", help="Isokinetic speed, deg/s."),
    mode: str | None = typer.Option(None, "--mode", help="concentric, eccentric or isometric (isokinetic)."),
    layout: Layout | None = typer.Option(None, "--layout", help="Skip detection and read the file as this layout."),
    mapping: str | None = typer.Option(None, "--mapping", help="A preset (`--mapping list`) or a YAML file with "
                                       "columns: {hipext: theirs} and values: {column: {theirs: hipext}}."),
    column: list[str] = typer.Option([], "--column", help="hipext=theirs column name; repeat for each."),
    onset: str | None = typer.Option(None, "--onset", help="Traces: percent:P (default 2.5), sd:K or newtons:N."),
    replace: bool = typer.Option(False, "--replace", help="Replace the visit's measurements of the same test and "
                                 "side instead of refusing."),
    out: Path | None = typer.Option(None, "--out", help="Write the updated case here instead of over CASE."),
    plot: Path | None = typer.Option(None, "--plot", help="Traces: write the force-time curve as SVG here."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be added; write nothing."),
) -> None:
    """Add a dynamometer file's measurements to a visit. A file with any problem adds nothing and lists them all."""
    from pydantic import ValidationError

    from hipext.caseio import problems_from
    from hipext.importers import ImportFileError, ImportOptions, load_mapping, mapping_presets, read_device_file
    from hipext.importers.force_time import Onset

    if mapping == "list":
        for name, describe in mapping_presets().items():
            typer.echo(f"{name}: {describe}")
        return
    problems: list[str] = []
    try:
        visit_date = dt.date.fromisoformat(visit)
    except ValueError:
        problems.append(f"--visit: got {visit!r}; expected a date as YYYY-MM-DD")
    columns: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    if mapping:
        try:
            columns, values = load_mapping(mapping)
        except ImportFileError as exc:
            problems += [str(p) for p in exc.problems]
    typed = _columns(column)
    columns.update(typed)
    parsed_onset = None
    if onset:
        try:
            parsed_onset = Onset.parse(onset)
        except ValueError as exc:
            problems.append(str(exc))
    try:
        options = ImportOptions(test=test, side=side, lever_arm_m=lever_arm, fixation=fixation, device=device,
                                velocity_deg_s=velocity, mode=mode, layout=layout.value if layout else None,
                                columns=columns, values=values, onset=parsed_onset)
    except ValidationError as exc:
        flags = {"lever_arm_m": "--lever-arm", "velocity_deg_s": "--velocity"}
        problems += [f"{flags.get(p.path, '--' + p.path)}: got {p.value!r}; expected {p.expected}"
                     for p in problems_from(exc)]
        options = None
    if problems:
        _fail(problems)
    assert options is not None
    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail([f"FILE {file}: cannot read ({exc.strerror}); expected a readable device export"])
    try:
        imported = read_device_file(data, file.name, options, must_exist=frozenset(typed))
    except CaseInputError as exc:
        _fail([str(p) for p in exc.problems], f"{file}: {len(exc.problems)} problem(s); nothing was added:")
    _show(imported)
    if plot and imported.traces:
        from hipext.importers.plot import trace_svg

        plot.write_text("\n".join(trace_svg(v) for v in imported.traces) + "\n", encoding="utf-8")
        typer.echo(f"wrote {plot}", err=True)
    if dry_run:
        typer.echo("dry run: nothing was written", err=True)
        return
    from hipext.importers.into_case import add_to_case_file

    try:
        added = add_to_case_file(case_file, visit_date, imported.measurements, out=out, replace=replace)
    except CaseInputError as exc:
        _fail([str(p) for p in exc.problems], f"{case_file}: {len(exc.problems)} problem(s); nothing was added:")
    where = "a new visit" if added.new_visit else "the visit"
    typer.echo(f"added {added.added} measurement(s) to {where} on {visit_date} in {out or case_file}"
               + (f", replacing {added.replaced}" if added.replaced else ""), err=True)


@app.command("fhir")
def fhir(
    bundle_file: Path = typer.Argument(..., metavar="BUNDLE", help="FHIR R4 Bundle (JSON): a hipext export, or "
                                       "Patient, weight, height, pain and strength Observations from elsewhere."),
    out: Path = typer.Option(..., "--out", help="Case file to write (YAML, or JSON for a .json name)."),
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE",
                                     help="Date to reckon age from a birth date (other systems' Patients)."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out if it exists."),
) -> None:
    """Read a FHIR bundle into a case file; lists what it skipped. A hipext bundle gives back the same case."""
    import json

    import yaml

    from hipext.caseio import parse_case
    from hipext.fhir.read import case_from_bundle

    problems = []
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            problems.append(f"--as-of: got {as_of!r}; expected a date as YYYY-MM-DD")
    if out.exists() and not force:
        problems.append(f"--out {out}: the file exists; expected a new file name (or --force to overwrite)")
    if problems:
        _fail(problems)
    try:
        bundle = json.loads(bundle_file.read_bytes())
    except OSError as exc:
        _fail([f"BUNDLE {bundle_file}: cannot read ({exc.strerror}); expected a readable JSON file"])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail([f"BUNDLE {bundle_file}: not JSON ({exc}); expected a FHIR Bundle in JSON"])
    try:
        data, skipped = case_from_bundle(bundle if isinstance(bundle, dict) else {}, as_of=day)
        parse_case(data)
    except CaseInputError as exc:
        _fail([str(p) for p in exc.problems], f"{bundle_file}: {len(exc.problems)} problem(s); no case written:")
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if out.suffix.lower() == ".json" else \
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail([f"--out {out}: cannot write ({exc.strerror}); expected a writable file path"])
    for s in skipped:
        typer.echo(f"skipped: {s}", err=True)
    typer.echo(f"wrote {out}: {len(data['visits'])} visit(s), "
               f"{sum(len(v.get('measurements', [])) for v in data['visits'])} measurement(s); "
               f"{len(skipped)} item(s) skipped", err=True)


def _show(imported: object) -> None:
    """What was read, as a short table a clinician can check against the device screen."""
    from hipext.importers.models import DeviceImport

    assert isinstance(imported, DeviceImport)
    typer.echo(f"{imported.file_name}: {imported.layout.replace('_', ' ')}")
    for m in imported.measurements:
        unit, trials = next(((u, getattr(m, f"trials_{u}")) for u in ("n", "lbf", "kgf", "nm")
                             if getattr(m, f"trials_{u}") is not None), ("", []))
        shown = ", ".join(f"{t:g}" for t in trials)
        shown_unit = {"n": "N", "lbf": "lbf", "kgf": "kgf", "nm": "N m"}.get(unit, unit)
        typer.echo(f"  {m.test} {m.side or ''}: trials {shown} {shown_unit}"
                   + (f", lever arm {m.lever_arm_m:g} m" if m.lever_arm_m else ""))
        metrics = m.device_metrics
        if metrics is None:
            continue
        if metrics.average_force_n is not None or metrics.impulse_n_s is not None:
            typer.echo(f"    average force {metrics.average_force_n} N, impulse {metrics.impulse_n_s} N s, "
                       f"repetitions {metrics.repetition_count}")
        for k, r in enumerate(metrics.repetitions, start=1):
            rfd = ", ".join(f"{w} {v:.0f}" if v is not None else f"{w} n/a" for w, v in r.rfd_n_per_s.items())
            typer.echo(f"    #{k}: peak {r.peak_force_n:g} N at {r.time_to_peak_s * 1000:.0f} ms from onset "
                       f"({r.onset_s:.3f} s); RFD N/s {rfd}; impulse {r.impulse_n_s} N s")
        if metrics.onset_method:
            typer.echo(f"    {metrics.onset_method}, {metrics.sample_rate_hz:g} Hz")
    for note in imported.notes:
        typer.echo(f"  note: {note}")


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="import")
