"""Command line: `hipext evaluate`, `hipext schema`, `hipext evidence`, and the commands other modules add."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hipext.core.errors import CaseInputError

if TYPE_CHECKING:  # the engine is imported when a command needs it: start-up stays fast
    from hipext.core.case import Case
    from hipext.document import Evaluation

app = typer.Typer(
    help="hipext: hip extensor assessment, rehabilitation and biomechanics. Decision support for clinicians.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Print JSON Schemas of the public file formats.", no_args_is_help=True)
evidence_app = typer.Typer(help="Browse the evidence base: sources, protocols, norms, MDCs, MCIDs.",
                           no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(evidence_app, name="evidence")


class ReportFormat(str, Enum):
    json = "json"
    markdown = "markdown"
    html = "html"
    pdf = "pdf"


def _fail(problems: list[str], code: int = 2) -> None:
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    raise typer.Exit(code)


AS_OF_HELP = ("Evaluate the case as of this date (YYYY-MM-DD): precautions and timelines are reckoned from it and "
              "later visits are left out. Default: the latest visit's date (today for a case with no visits).")


def parse_as_of(value: str | None) -> dt.date | None:
    """The --as-of option: a date, or exit 2 naming the option, the value and what was expected."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail([f"--as-of: got {value!r}; expected a date as YYYY-MM-DD"])
        raise  # unreachable: _fail exits


def evaluate_as_of(case: Case, as_of: dt.date | None) -> Evaluation:
    """`evaluate_case` with the CLI's default date: the latest visit, else today (read here, never in the core)."""
    from hipext.app import default_as_of, evaluate_case

    return evaluate_case(case, as_of=as_of or default_as_of(case) or dt.date.today())


@app.command()
def evaluate(
    case_file: Path = typer.Argument(..., metavar="CASE", help="Case file, YAML or JSON."),
    format: ReportFormat = typer.Option(ReportFormat.json, "--format", "-f", help="Output format."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    as_of: str | None = typer.Option(None, "--as-of", metavar="DATE", help=AS_OF_HELP),
    full: bool = typer.Option(False, "--full", help="PDF: the full report instead of the one-page summary."),
    home_program: bool = typer.Option(False, "--home-program",
                                      help="PDF: the patient's home program (doses and plain instructions)."),
) -> None:
    """Interpret a case: screening, results against norms, sides and the last visit, and findings.

    `--format pdf --out FILE` writes the one-page clinician summary; add `--full` for the full report or
    `--home-program` for the patient's program.
    """
    from hipext.caseio import read_case_file
    from hipext.document import document_json

    day = parse_as_of(as_of)
    problems = []
    if format is ReportFormat.pdf and out is None:
        problems.append("--out: got nothing; expected a file to write the PDF to (PDF is not printed to the terminal)")
    if (full or home_program) and format is not ReportFormat.pdf:
        problems.append(f"--full / --home-program: got --format {format.value}; expected --format pdf")
    if full and home_program:
        problems.append("--full and --home-program: got both; expected one document per call")
    if problems:
        _fail(problems)
    try:
        case = read_case_file(case_file)
    except CaseInputError as exc:
        typer.echo(f"{case_file}: {len(exc.problems)} problem(s) in the case file:", err=True)
        _fail([str(p) for p in exc.problems])
    evaluation = evaluate_as_of(case, day)
    for w in evaluation.warnings:  # also in the document; said here so a terminal user sees them
        typer.echo(f"warning: {w.path}: got {w.value!r}; {w.message[0].lower()}{w.message[1:]}", err=True)
    if format is ReportFormat.pdf:
        from hipext.reports.pdf import render_pdf

        assert out is not None
        _write(out, render_pdf(evaluation, "full" if full else "home_program" if home_program else "summary"))
        return
    if format is ReportFormat.json:
        text = document_json(evaluation)
    else:
        from hipext.reports import render

        text = render(evaluation, format.value).rstrip("\n") + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        _write(out, text.encode("utf-8"))


def _write(out: Path, data: bytes) -> None:
    """Write the whole file or nothing: a temporary file beside it, renamed over it when complete."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _fail([f"--out {out}: cannot write ({exc.strerror}); expected a writable file path"])
    typer.echo(f"wrote {out}", err=True)


class SchemaName(str, Enum):
    case = "case"
    evaluation = "evaluation"


@schema_app.callback(invoke_without_command=True)
def schema(ctx: typer.Context, name: SchemaName | None = typer.Argument(None, help="case or evaluation")) -> None:
    """Print the JSON Schema of a case file or of the evaluation document."""
    if name is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from hipext.schemas import case_schema, evaluation_schema

    doc = case_schema() if name is SchemaName.case else evaluation_schema()
    typer.echo(json.dumps(doc, indent=2))


@evidence_app.command("list")
def evidence_list(kind: str | None = typer.Option(
    None, "--kind", help="sources, protocols, norms, errors, mcids or proms; all when omitted")) -> None:
    """List evidence records with their source and evidence level."""
    from hipext.evidence_view import list_lines

    try:
        typer.echo("\n".join(list_lines(kind)))
    except KeyError:
        _fail([f"--kind: got {kind!r}; expected one of sources, protocols, norms, errors, mcids, proms"])


@evidence_app.command("show")
def evidence_show(record_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Show one record (a source, protocol, norm, MDC, MCID or questionnaire) with its full citation."""
    from hipext.evidence_view import show

    text = show(record_id)
    if text is None:
        _fail([f"ID: got {record_id!r}; expected an id from `hipext evidence list`"])
    typer.echo(text)


def _register_care(main_app: typer.Typer) -> None:
    from hipext.care.cli import register

    register(main_app)


def _register_fhir(main_app: typer.Typer) -> None:
    from hipext.fhir.cli import register

    register(main_app)


def _register_batch(main_app: typer.Typer) -> None:
    from hipext.batch_cli import register

    register(main_app)


def _register_import(main_app: typer.Typer) -> None:
    from hipext.importers.cli import register

    register(main_app)


def _register_model(main_app: typer.Typer) -> None:
    from hipext.biomech.cli import app as model_app

    main_app.add_typer(model_app, name="model", help="Musculoskeletal model: compile, moment arms, torque, tasks.")


def _register_server(main_app: typer.Typer) -> None:
    from hipext.resident.cli import app as server_app

    main_app.add_typer(server_app, name="server")


# Commands that live with their own module, registered only when invoked (or for help): importing them all
# costs more than evaluating a case.
LAZY_COMMANDS = {"exercises": _register_care, "export": _register_fhir, "batch": _register_batch,
                 "model": _register_model, "import": _register_import, "server": _register_server}


def _register_commands(argv: list[str] | None = None) -> None:
    """Register the lazy command named on the command line; all of them when none is (help, typos) or when no
    command line is given (tests driving the Typer app)."""
    name = next((a for a in argv or [] if not a.startswith("-")), None)
    if name in LAZY_COMMANDS:
        LAZY_COMMANDS[name](app)
    elif name is None or name not in {c.name or (c.callback.__name__ if c.callback else "")
                                      for c in app.registered_commands} | {g.name for g in app.registered_groups}:
        for register in LAZY_COMMANDS.values():
            register(app)


def main() -> None:
    # hipext uses no pydantic plugin, and looking for one reads every installed distribution's entry points: 8 ms of
    # a call's CPU. Whoever wants a plugin sets PYDANTIC_DISABLE_PLUGINS themselves (to '' for all).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _register_commands(sys.argv[1:])
    try:
        app()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as exc:  # the last line of defence: no tracebacks for users
        if os.environ.get("HIPEXT_DEBUG"):
            raise
        typer.echo(f"error: internal problem ({exc.__class__.__name__}: {exc}). "
                   "Please report it; set HIPEXT_DEBUG=1 for details.", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
