"""``hipext batch``: the command line of ``hipext.batch``."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def batch(
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", help="Folders, glob patterns (quoted), manifest "
                                       ".csv files, trials (.c3d, .mot/.sto pairs) or case files (.yaml/.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Table to write: OUT.csv and OUT.parquet."),
    side: str = typer.Option("r", help="Side of every trial not in a manifest: r or l."),
    cycle: str = typer.Option("all", help="C3D cycle of every trial not in a manifest: a number or 'all'."),
    sex: str | None = typer.Option(None, help="Default subject sex (a manifest row overrides)."),
    age: int | None = typer.Option(None, help="Default subject age (years)."),
    mass_kg: float | None = typer.Option(None, "--mass-kg", help="Default body mass (kg); C3D files carry their "
                                         "own."),
    height_m: float | None = typer.Option(None, "--height-m", help="Default height (m)."),
    channel: list[str] = typer.Option([], "--channel", help="C3D channel name or convention, key=value "
                                      "(repeatable), as in `hipext model task`."),
    moment_units: str = typer.Option("N m", help="OpenSim moments files: 'N m' or 'N m/kg'."),
    muscles: bool = typer.Option(True, help="Split each trial's demand among the muscles."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Address of a running Dask scheduler "
                                         "(default: a local cluster of this machine's cores)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Local cluster size (default: all cores)."),
    serial: bool = typer.Option(False, "--serial", help="Run in this process without Dask."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run many trials (or case files) and write one tidy table, one row per item, each failure's error in its
    own column. Trials run through the same function as `hipext model task`, cases as `hipext evaluate`."""
    from hipext.batch import collect, run_batch, write_table
    from hipext.biomech.c3d import GaitChannels

    def fail(msg: str) -> None:
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(2)

    if side not in ("r", "l"):
        fail(f"--side: got {side!r}; expected r or l")
    if cycle != "all" and not (cycle.isdigit() and int(cycle) >= 1):
        fail(f"--cycle: got {cycle!r}; expected a cycle number or 'all'")
    if out.suffix.lower() not in ("", ".csv", ".parquet"):
        fail(f"--out: got {str(out)!r}; expected a name without extension (or ending in .csv / .parquet)")
    try:
        channels = GaitChannels.from_pairs(channel)
    except ValueError as exc:
        fail(str(exc).splitlines()[0])
    person = {k: v for k, v in dict(sex=sex, age=age, body_mass_kg=mass_kg, height_m=height_m).items()
              if v is not None}
    items = collect(inputs, side=side, cycle="all" if cycle == "all" else int(cycle), person=person,
                    channels=channels, muscles=muscles, moment_units=moment_units)
    if not items:
        fail("INPUT: nothing to run")
    start = time.perf_counter()
    try:
        rows = run_batch(items, scheduler=scheduler, workers=workers, serial=serial, progress=progress)
    except ValueError as exc:
        fail(str(exc))
    wall = time.perf_counter() - start
    csv_path, pq_path = write_table(rows, out)
    failed = sum(1 for r in rows if r.get("error"))
    where = "serially" if serial else f"on {scheduler}" if scheduler else "on a local Dask cluster"
    typer.echo(f"{len(rows)} item(s) {where} in {wall:.1f} s ({len(rows) / wall:.1f} items/s): "
               f"{len(rows) - failed} analysed, {failed} with an error (see the error column)")
    typer.echo(f"wrote {csv_path} and {pq_path}")
