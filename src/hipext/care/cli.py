"""`hipext exercises [--format table|json]`: the exercise library. The main CLI registers `exercises`."""

from __future__ import annotations

import json

import typer

from hipext.care import data


def exercises_command(format: str = "table") -> str:
    """The exercise library as a text table or JSON."""
    lib = data.exercises()
    if format == "json":
        return json.dumps([e.model_dump(mode="json") for e in lib.values()], indent=2, ensure_ascii=False)
    if format != "table":
        raise ValueError(f"format must be 'table' or 'json', got {format!r}")
    head = ("id", "target", "chain", "contraction", "knee", "quality", "phases", "GMax EMG %MVIC")
    rows = [head]
    for e in lib.values():
        emg = next((x for x in e.emg if x.muscle == "gluteus_maximus"), None)
        emg_text = "-" if emg is None else (f"{emg.percent_mvic:g} ({emg.source})" if emg.percent_mvic is not None
                                             else f"{emg.band} ({emg.source})")
        rows.append((e.id, e.tags.target, e.tags.chain, e.tags.contraction, e.tags.knee, e.tags.quality,
                     ",".join(e.phases), emg_text))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{len(lib)} exercises. EMG values only as published, with their source; '-' = none found.")
    return "\n".join(lines)


def exercises(format: str = typer.Option("table", "--format", "-f", help="table or json")) -> None:
    """List the hip extensor exercise library."""
    try:
        typer.echo(exercises_command(format))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


app = typer.Typer(add_completion=False)
app.command(name="exercises")(exercises)


def register(main_app: typer.Typer) -> None:
    """Add `exercises` to the main CLI."""
    main_app.command(name="exercises")(exercises)
