"""`hipext export CASE [--format fhir] [--out FILE]`. The main CLI adds it with `register(app)`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from hipext.cli import AS_OF_HELP, evaluate_as_of, parse_as_of
from hipext.core.errors import CaseInputError


class ExportFormat(str, Enum):
    fhir = "fhir"


def _fail(problems: list[str], code: int = 2) -> None:
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    raise typer.Exit(code)


def export(
    case_file: Path = typer.Argument(..., metavar="CASE", help="Case file, YAML or JSON."),
    format: ExportFormat = typer.Option(ExportFormat.fhir, "--format", "-f",
                                        help="Export format: fhir (FHIR R4 Bundle, type collection, JSON)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE", help=AS_OF_HELP),
) -> None:
    """Export a case and its evaluation as standard data: a FHIR R4 Bundle (JSON)."""
    from hipext.caseio import read_case_file
    from hipext.fhir import bundle_json, to_bundle

    day = parse_as_of(as_of)

    try:
        case = read_case_file(case_file)
    except CaseInputError as exc:
        typer.echo(f"{case_file}: {len(exc.problems)} problem(s) in the case file:", err=True)
        _fail([str(p) for p in exc.problems])
    text = bundle_json(to_bundle(case, evaluate_as_of(case, day)))
    if out is None:
        typer.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail([f"--out {out}: cannot write ({exc.strerror}); expected a writable file path"])
        typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add `export` to the main CLI."""
    app.command(name="export")(export)


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="hipext export: standard data out of hipext.")
register(app)


@app.callback()
def _main() -> None:
    """Keep `export` as a named sub-command when this module runs on its own."""


if __name__ == "__main__":
    app()
