"""``hipext model ...``: compile OpenSim models, moment arms, torque, muscle shares and task demand.

Mounted by the main CLI with ``app.add_typer(biomech_cli.app, name="model")``. Heavy imports (opensim,
matplotlib) happen inside the commands so ``hipext --help`` stays fast.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(
    help="Musculoskeletal model of the hip extensors: compile OpenSim models, moment arms, torque, muscle "
    "shares and task demand against capacity.",
    no_args_is_help=True,
    add_completion=False,
)

POSE_COLUMNS = ("hip_flexion_deg", "hip_adduction_deg", "hip_rotation_deg", "knee_flexion_deg")


class UserError(Exception):
    """Bad input: reported on stderr with exit status 2."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except (UserError, ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))


def _angles(spec: str, name: str) -> list[float]:
    """'a:b:step' (inclusive) or 'a,b,c' in degrees."""
    try:
        if ":" in spec:
            parts = [float(p) for p in spec.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise ValueError
            n = int(math.floor((parts[1] - parts[0]) / parts[2] + 1e-9)) + 1
            return [parts[0] + i * parts[2] for i in range(n)]
        vals = [float(p) for p in spec.split(",") if p.strip()]
        if not vals:
            raise ValueError
        return vals
    except ValueError:
        raise UserError(f"{name}: got {spec!r}; expected 'start:stop:step' or a comma list of degrees") from None


def _load_model(path: Path | None) -> Any:
    from hipext.biomech.model import HipExtensorModel

    return HipExtensorModel.load(path)


def _check_out(path: Path | None, kinds: tuple[str, ...], name: str) -> None:
    if path is not None and path.suffix.lower() not in kinds:
        raise UserError(f"{name}: got {str(path)!r}; expected a file ending in {' or '.join(kinds)}")


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[f"{c:.1f}" if isinstance(c, float) else ("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- compile
@app.command("compile")
def compile_cmd(
    model: Path = typer.Argument(..., help="OpenSim .osim model file."),
    out: Path = typer.Option(..., "--out", help="Compiled model (.npz); provenance written next to it (.json)."),
    muscles: str = typer.Option("", help="Comma-separated muscle names (default: the hip extensors of the "
                                "Rajagopal or gait2392 family)."),
    samples: int = typer.Option(4000, help="Training poses sampled with OpenSim."),
    holdout: int = typer.Option(500, help="Held-out random poses for the error figures."),
    validation: int = typer.Option(500, help="Random poses each muscle's polynomial degree is chosen on."),
    degree_hip: int = typer.Option(7, help="Maximum polynomial degree for muscles that do not cross the knee."),
    degree_knee: int = typer.Option(6, help="Maximum polynomial degree for muscles crossing the knee."),
    tolerance_length_mm: float | None = typer.Option(
        None, help="Length RMS error (mm, validation poses) each muscle's lowest degree must keep [default: the "
        "worst muscle's error of the one-degree-per-group fit, recorded in the provenance]."),
    tolerance_ma_mm: float | None = typer.Option(
        None, help="Moment-arm RMS error (mm, validation poses) each muscle's lowest degree must keep [default: as "
        "for lengths]."),
    range_: list[str] = typer.Option([], "--range", help="Fitted range, e.g. --range hip_flexion=-30:110 "
                                     "(deg; repeatable)."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Sample an OpenSim model's hip extensors and fit a fast surrogate (needs the opensim extra)."""

    def go() -> None:
        from hipext.biomech.compiler import compile_model

        _check_out(out, (".npz",), "--out")
        ranges = {}
        for r in range_:
            k, _, v = r.partition("=")
            try:
                lo, hi = (float(x) for x in v.split(":"))
            except ValueError:
                raise UserError(f"--range: got {r!r}; expected coordinate=low:high in degrees") from None
            ranges[k.strip()] = (lo, hi)
        names = tuple(m.strip() for m in muscles.split(",") if m.strip()) or None
        prov = compile_model(model_path=model, out_path=out, muscles=names, range_deg=ranges, n_samples=samples,
                             n_holdout=holdout, n_validation=validation, degree_hip=degree_hip,
                             degree_knee=degree_knee, tolerance_length_mm=tolerance_length_mm,
                             tolerance_ma_mm=tolerance_ma_mm, seed=seed)
        degrees = prov["polynomial_degree"]
        rows = [[m, str(degrees["per_muscle"][m]), e["length_rms_mm"],
                 max(e[f"ma_{c}_rms_mm"] for c in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion")),
                 e["ma_max_mm"]] for m, e in prov["fit_error_vs_opensim_holdout"].items()]
        typer.echo(f"compiled {prov['model_file']} ({len(prov['muscles'])} muscles) -> {out}")
        typer.echo(f"{degrees['multiply_adds_per_pose']} multiply-adds per pose; held-out error against OpenSim (mm):")
        typer.echo(_table(["muscle", "degree", "length_rms", "ma_rms_worst", "ma_max"],
                          [[r[0], r[1], f"{r[2]:.3f}", f"{r[3]:.3f}", f"{r[4]:.2f}"] for r in rows]))

    _run(go)


def _fmt3(v: Any) -> str | None:
    return None if v is None else f"{float(v):.3f}"


# ------------------------------------------------------------------------------------------------ info
@app.command("info")
def info_cmd(
    model: Path | None = typer.Option(None, "--model", help="Compiled model (.npz); default: the shipped model."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the provenance as JSON."),
) -> None:
    """Provenance of a compiled model: source file and hash, OpenSim version, fitted range, muscle parameters
    and the fit error against OpenSim."""

    def go() -> None:
        import numpy as np

        _check_out(json_out, (".json",), "--json")
        m = _load_model(model)
        p = m.provenance
        typer.echo(f"{m.path}: {p.get('model_file', '?')} (sha256 {str(p.get('model_sha256', '?'))[:12]}...), "
                   f"OpenSim {p.get('opensim_version', '?')}, compiled {p.get('compiled_utc', '?')}")
        typer.echo("fitted range: " + ", ".join(
            f"{c} {np.rad2deg(lo):.0f}..{np.rad2deg(hi):.0f} deg"
            for c, lo, hi in zip(("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion"),
                                 m.range_low_rad, m.range_high_rad, strict=True)))
        err = p.get("fit_error_vs_opensim_holdout", {})
        rows = []
        for j, mu in enumerate(m.muscles):
            e = err.get(mu, {})
            pen = round(float(np.rad2deg(m.pennation_at_optimal_rad[j])), 1)
            ma_rms = [v for k, v in e.items() if k.startswith("ma_") and k.endswith("_rms_mm")]
            rows.append([mu, round(float(m.max_isometric_force_n[j]), 1), f"{m.optimal_fiber_length_m[j]:.4f}",
                         f"{m.tendon_slack_length_m[j]:.4f}", pen,
                         "rigid" if m.rigid_tendon[j] else "compliant", _fmt3(e.get("length_rms_mm")),
                         _fmt3(max(ma_rms, default=None))])
        typer.echo(_table(["muscle", "F_max_n", "l_opt_m", "l_ts_m", "pennation_deg", "tendon", "len_rms_mm",
                           "ma_rms_mm"], rows))
        typer.echo(f"source: {p.get('source', '?')} ({p.get('level', '?')}); curves: {m.default_curves}")
        if json_out:
            _write_json(json_out, p)

    _run(go)


# ----------------------------------------------------------------------------------------- moment-arms
def _read_poses(path: Path) -> Any:
    import numpy as np

    if not path.is_file():
        raise UserError(f"--poses: no such file {str(path)!r}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        missing = [c for c in POSE_COLUMNS if c not in cols]
        if missing:
            raise UserError(f"--poses: {path.name} lacks column(s) {', '.join(missing)}; expected "
                            f"{', '.join(POSE_COLUMNS)}")
        rows, problems = [], []
        for i, row in enumerate(reader, start=2):
            vals = []
            for c in POSE_COLUMNS:
                try:
                    v = float(row[c])
                    if not math.isfinite(v):
                        raise ValueError
                    vals.append(v)
                except (TypeError, ValueError):
                    problems.append(f"line {i}, {c}: got {row.get(c)!r}; expected a number of degrees")
            rows.append(vals)
    if problems:
        raise UserError("; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    if not rows:
        raise UserError(f"--poses: {path.name} has no rows")
    return np.asarray(rows, dtype=float)


@app.command("moment-arms")
def moment_arms_cmd(
    poses: Path = typer.Option(..., "--poses", help="CSV with hip_flexion_deg, hip_adduction_deg, "
                               "hip_rotation_deg, knee_flexion_deg."),
    out: Path = typer.Option(..., "--out", help="Output CSV: one row per pose and muscle."),
    model: Path | None = typer.Option(None, "--model", help="Compiled model (.npz); default: the shipped "
                                      "RajagopalLaiUhlrich2023."),
    clip: bool = typer.Option(False, help="Clip poses outside the fitted range instead of failing."),
) -> None:
    """Muscle-tendon lengths and moment arms (OpenSim signs: negative hip-flexion moment arm = extensor)."""

    def go() -> None:
        import numpy as np

        _check_out(out, (".csv",), "--out")
        m = _load_model(model)
        q_deg = _read_poses(poses)
        q = np.deg2rad(q_deg)
        _, inside = m.check_poses(q, out_of_range="extrapolate")
        if not clip and not inside.all():
            bad = (np.flatnonzero(~inside) + 2).tolist()
            rng = ", ".join(f"{c} {np.rad2deg(lo):.0f} to {np.rad2deg(hi):.0f}" for c, lo, hi in
                            zip(POSE_COLUMNS, m.range_low_rad, m.range_high_rad, strict=True))
            raise UserError(f"--poses: line(s) {bad[:20]} outside the fitted range ({rng}); use --clip to clip")
        lengths, mas = m.lengths_and_moment_arms(poses_rad=q, out_of_range="clip")
        n, k = lengths.shape
        header = ["pose", *POSE_COLUMNS, "muscle", "length_m", "ma_hip_flexion_m", "ma_hip_adduction_m",
                  "ma_hip_rotation_m", "ma_knee_flexion_m"]
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            from tqdm import tqdm

            for i in tqdm(range(n), desc="writing", unit="pose", delay=1.0, disable=n < 20000):
                pose = [f"{v:g}" for v in q_deg[i]]
                for j in range(k):
                    w.writerow([i, *pose, m.muscles[j], f"{lengths[i, j]:.6f}",
                                *(f"{mas[i, j, c]:.6f}" for c in range(4))])
        typer.echo(f"wrote {n * k} rows ({n} poses x {k} muscles) to {out}")

    _run(go)


# ---------------------------------------------------------------------------------------------- torque
@app.command("torque")
def torque_cmd(
    hip_flexion_deg: str = typer.Option("-20:110:10", help="Hip angles (deg): start:stop:step or a,b,c."),
    knee_flexion_deg: str = typer.Option("0,90", help="Knee angles (deg)."),
    velocity_deg_s: float = typer.Option(0.0, help="Hip extension velocity (deg/s): + concentric, - eccentric."),
    model: Path | None = typer.Option(None, "--model", help="Compiled model (.npz); default: shipped model."),
    curves: str = typer.Option("", help="'model' (the model's own curves, as OpenSim) or 'degroote2016'; "
                               "default: model when available."),
    tendon: str = typer.Option("model", help="'model', 'rigid' or 'compliant'."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write a CSV table."),
    json_out: Path | None = typer.Option(None, "--json", help="Write JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Torque-angle plot (.png or .svg)."),
) -> None:
    """Maximum hip extension torque (N m, a = 1) against hip angle, at each knee angle."""

    def go() -> None:
        import numpy as np

        from hipext.biomech.model import poses_from_degrees

        _check_out(plot, (".png", ".svg"), "--plot")
        _check_out(csv_out, (".csv",), "--csv")
        _check_out(json_out, (".json",), "--json")
        hips = _angles(hip_flexion_deg, "--hip-flexion-deg")
        knees = _angles(knee_flexion_deg, "--knee-flexion-deg")
        m = _load_model(model)
        hh, kk = np.meshgrid(hips, knees, indexing="ij")
        q = poses_from_degrees(hip_flexion_deg=hh.ravel(), knee_flexion_deg=kk.ravel())
        m.check_poses(q, out_of_range="raise")
        r = m.hip_extension_torque(poses_rad=q, hip_extension_velocity_rad_s=math.radians(velocity_deg_s),
                                   curves=curves or None, tendon=tendon)
        tot = r["total_nm"].reshape(len(hips), len(knees))
        header = ["hip_flexion_deg", *[f"knee_{k:g}_nm" for k in knees]]
        rows = [[h, *[round(float(v), 1) for v in tot[i]]] for i, h in enumerate(hips)]
        typer.echo(f"Maximum hip extension torque (N m), {m.provenance.get('model_file', 'model')}, "
                   f"velocity {velocity_deg_s:g} deg/s, curves {curves or m.default_curves}, tendon {tendon}")
        typer.echo(_table(header, rows))
        if csv_out:
            _write_csv(csv_out, header, rows)
        if json_out:
            _write_json(json_out, {"model": m.provenance.get("model_file"), "velocity_deg_s": velocity_deg_s,
                                   "curves": curves or m.default_curves, "tendon": tendon,
                                   "hip_flexion_deg": hips, "knee_flexion_deg": knees,
                                   "total_nm": tot.round(2).tolist(),
                                   "per_muscle_nm": {mu: r["per_muscle_nm"][:, j].reshape(len(hips), len(knees))
                                                     .round(2).tolist() for j, mu in enumerate(m.muscles)}})
        if plot:
            plt = _plt()
            fig, ax = plt.subplots(figsize=(6, 4))
            for j, k in enumerate(knees):
                ax.plot(hips, tot[:, j], marker="o", ms=3, label=f"knee {k:g}°")
            ax.set_xlabel("hip flexion (deg)")
            ax.set_ylabel("max hip extension torque (N m)")
            ax.set_title(f"Hip extension torque, {velocity_deg_s:g} deg/s")
            ax.legend()
            ax.grid(alpha=0.3)
            fig.tight_layout()
            plot.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(plot)
            plt.close(fig)

    _run(go)


# ---------------------------------------------------------------------------------------------- shares
@app.command("shares")
def shares_cmd(
    hip_flexion_deg: str = typer.Option("0,30,60,90", help="Hip angles (deg)."),
    knee_flexion_deg: float = typer.Option(0.0, help="Knee flexion (deg)."),
    velocity_deg_s: float = typer.Option(0.0, help="Hip extension velocity (deg/s)."),
    model: Path | None = typer.Option(None, "--model", help="Compiled model (.npz)."),
    curves: str = typer.Option("", help="'model' or 'degroote2016'."),
    tendon: str = typer.Option("model", help="'model', 'rigid' or 'compliant'."),
    csv_out: Path | None = typer.Option(None, "--csv"),
    json_out: Path | None = typer.Option(None, "--json"),
    plot: Path | None = typer.Option(None, "--plot", help="Stacked bar plot (.png or .svg)."),
    hip_moment_nm: float | None = typer.Option(None, help="Split this submaximal hip extension moment (N m) by "
                                               "static optimisation instead of showing maximum-effort shares."),
    knee_flexion_moment_nm: float | None = typer.Option(None, help="With --hip-moment-nm: prescribe this knee "
                                                        "flexion moment (N m; negative = knee extension moment, "
                                                        "closed chain). Omit for open chain."),
) -> None:
    """Each muscle's share (%) of the maximum hip extension torque at the given angles, or of a submaximal
    moment (--hip-moment-nm) in open or closed chain."""

    def go() -> None:
        import numpy as np

        from hipext.biomech.model import poses_from_degrees

        _check_out(plot, (".png", ".svg"), "--plot")
        _check_out(csv_out, (".csv",), "--csv")
        _check_out(json_out, (".json",), "--json")
        hips = _angles(hip_flexion_deg, "--hip-flexion-deg")
        m = _load_model(model)
        q = poses_from_degrees(hip_flexion_deg=hips, knee_flexion_deg=knee_flexion_deg)
        m.check_poses(q, out_of_range="raise")
        header = ["muscle", *[f"hip_{h:g}_percent" for h in hips]]
        if hip_moment_nm is None:
            r = m.hip_extension_torque(poses_rad=q, hip_extension_velocity_rad_s=math.radians(velocity_deg_s),
                                       curves=curves or None, tendon=tendon)
            rows = [[mu, *[round(float(r["share_percent"][i, j]), 1) for i in range(len(hips))]]
                    for j, mu in enumerate(m.muscles)]
            rows.append(["total_nm", *[round(float(v), 1) for v in r["total_nm"]]])
            typer.echo(f"Share of maximum hip extension torque (%), knee {knee_flexion_deg:g} deg, "
                       f"velocity {velocity_deg_s:g} deg/s")
        else:
            from hipext.biomech.static_optimisation import split_hip_extension

            if velocity_deg_s != 0:
                raise UserError("--velocity-deg-s: the submaximal split (--hip-moment-nm) is isometric; expected 0")
            if hip_moment_nm <= 0:
                raise UserError(f"--hip-moment-nm: got {hip_moment_nm:g}; expected a positive extension moment")
            so = split_hip_extension(model=m, poses_rad=q, hip_extension_moment_nm=hip_moment_nm,
                                     knee_flexion_moment_nm=knee_flexion_moment_nm, curves=curves or None)
            r = {"share_percent": so["share_percent"], "total_nm": np.full(len(hips), hip_moment_nm)}
            rows = [[mu, *[round(float(r["share_percent"][i, j]), 1) for i in range(len(hips))]]
                    for j, mu in enumerate(m.muscles)]
            rows.append(["hip_residual_nm", *[round(float(-v), 1) for v in so["residuals_nm"][:, 0]]])
            chain = ("open chain (knee moment free)" if knee_flexion_moment_nm is None else
                     f"closed chain, knee flexion moment {knee_flexion_moment_nm:g} N m")
            typer.echo(f"Share of a {hip_moment_nm:g} N m hip extension moment (%), static optimisation, knee "
                       f"{knee_flexion_deg:g} deg, {chain}")
            if knee_flexion_moment_nm is not None:
                typer.echo("  note: the model has no knee extensors, so hamstring knee flexion moment is charged to "
                           "the knee residual: read the closed-chain split as a direction, not magnitudes.")
        typer.echo(_table(header, rows))
        if csv_out:
            _write_csv(csv_out, header, rows)
        if json_out:
            _write_json(json_out, {"knee_flexion_deg": knee_flexion_deg, "velocity_deg_s": velocity_deg_s,
                                   "hip_flexion_deg": hips, "muscles": list(m.muscles),
                                   "share_percent": r["share_percent"].round(2).tolist(),
                                   "total_nm": r["total_nm"].round(2).tolist()})
        if plot:
            plt = _plt()
            fig, ax = plt.subplots(figsize=(7, 4))
            bottom = np.zeros(len(hips))
            labels = [f"{h:g}°" for h in hips]
            for j, mu in enumerate(m.muscles):
                ax.bar(labels, r["share_percent"][:, j], bottom=bottom, label=mu)
                bottom += r["share_percent"][:, j]
            ax.set_xlabel("hip flexion")
            ax.set_ylabel("share of hip extension torque (%)")
            ax.set_title(f"Muscle shares, knee {knee_flexion_deg:g}°")
            ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
            fig.tight_layout()
            plot.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(plot)
            plt.close(fig)

    _run(go)


# ------------------------------------------------------------------------------------------------ task
def _cycle_option(value: str) -> int | str:
    v = value.strip().lower()
    if v == "all":
        return "all"
    if v.isdigit() and int(v) >= 1:
        return int(v)
    raise UserError(f"--cycle: got {value!r}; expected a cycle number (1, 2, ...) or 'all'")


@app.command("task")
def task_cmd(
    sex: str | None = typer.Option(None, help="male or female."),
    age: int | None = typer.Option(None, help="Age (years)."),
    mass_kg: float | None = typer.Option(None, "--mass-kg", help="Body mass (kg); a C3D file's own "
                                         "PROCESSING:Bodymass is used when omitted."),
    height_m: float | None = typer.Option(None, "--height-m", help="Height (m)."),
    measured_torque_nm: float | None = typer.Option(None, help="Measured max hip extension torque (N m)."),
    test_hip_flexion_deg: float | None = typer.Option(None, help="Hip flexion of the test (deg)."),
    test_knee_flexion_deg: float | None = typer.Option(None, help="Knee flexion of the test (deg)."),
    test_velocity_deg_s: float = typer.Option(0.0, help="Test speed (deg/s), 0 for isometric."),
    test_mode: str = typer.Option("isometric", help="isometric, concentric or eccentric."),
    kinematics: Path | None = typer.Option(None, help="Kinematics .mot/.sto (joint angles) of a task."),
    moments: Path | None = typer.Option(None, help="Inverse dynamics .sto (or RRA actuation) of the task."),
    c3d: Path | None = typer.Option(None, "--c3d", help="Processed gait C3D (Plug-in Gait / CGM angles, moments, "
                                    "events, body mass)."),
    cycle: str = typer.Option("all", help="C3D: gait cycle number (foot strike to foot strike) or 'all'."),
    channel: list[str] = typer.Option([], "--channel", help="C3D channel name or convention, key=value "
                                      "(repeatable), e.g. hip_moment={S}HipMoment_CGM_2.4 or moment_units='N m/kg'; "
                                      "{S} is the side prefix L or R."),
    moment_units: str = typer.Option("N m", help="OpenSim moments file units: 'N m' or 'N m/kg'."),
    side: str = typer.Option("r", help="r or l."),
    muscles: bool = typer.Option(True, help="Split the demand among the muscles (static optimisation)."),
    model: Path | None = typer.Option(None, "--model", help="Compiled model for static optimisation."),
    csv_out: Path | None = typer.Option(None, "--csv"),
    json_out: Path | None = typer.Option(None, "--json"),
    plot: Path | None = typer.Option(None, "--plot", help="Bars of published tasks, or the cycle (.png/.svg)."),
) -> None:
    """Share of a person's hip extension capacity that tasks use: published task peaks, or a trial read from
    OpenSim inverse-dynamics files or a processed gait C3D."""

    def go() -> None:
        _check_out(plot, (".png", ".svg"), "--plot")
        _check_out(csv_out, (".csv",), "--csv")
        _check_out(json_out, (".json",), "--json")
        person: dict[str, Any] = dict(sex=sex, age=age, body_mass_kg=mass_kg, height_m=height_m,
                                      measured_torque_nm=measured_torque_nm,
                                      test_hip_flexion_deg=test_hip_flexion_deg,
                                      test_knee_flexion_deg=test_knee_flexion_deg,
                                      test_velocity_deg_s=test_velocity_deg_s, test_mode=test_mode)
        if (kinematics is None) != (moments is None):
            raise UserError("--kinematics and --moments: give both files of a task, or neither")
        if c3d is not None and kinematics is not None:
            raise UserError("--c3d and --kinematics/--moments: give one trial, either a C3D or OpenSim files")
        if kinematics is None and c3d is None:
            _published_tasks(person, csv_out, json_out, plot)
            return
        _trial(person, kinematics=kinematics, moments=moments, c3d=c3d, cycle=_cycle_option(cycle),
               channels=channel, moment_units=moment_units, side=side, muscles=muscles, model=model,
               csv_out=csv_out, json_out=json_out, plot=plot)

    _run(go)


def _published_tasks(person: dict[str, Any], csv_out: Path | None, json_out: Path | None,
                     plot: Path | None) -> None:
    from hipext.biomech.capacity import capacity_report

    missing = [f"--{k.replace('_', '-')}" for k in ("sex", "age") if person[k] is None]
    if person["body_mass_kg"] is None:
        missing.append("--mass-kg")
    if missing:
        raise UserError(f"{', '.join(missing)}: needed for the published tasks (or give a trial: --c3d, or "
                        "--kinematics with --moments)")
    rep = capacity_report(**person)
    header = ["task", "peak_demand_nm", "nm_per_kg", "at_hip_deg", "share_percent", "status", "range_percent",
              "reserve_percent", "sources"]
    rows = [[t["task"], t["peak_demand_nm"],
             None if t["peak_demand_nm_per_kg"] is None else f"{t['peak_demand_nm_per_kg']:.2f}",
             t["at_hip_flexion_deg"], t["share_of_capacity_percent"], t["share_status"],
             None if not t["share_range_percent"] else "{:.0f}-{:.0f}".format(*t["share_range_percent"]),
             t["reserve_percent"], ",".join(t["sources"])]
            for t in rep["tasks"]]
    typer.echo(f"Hip extension capacity: Anderson 2007 {rep['group']['sex']} {rep['group']['age_group']} y"
               + (f", scaled to the measurement (x{rep['scale_factor']})" if rep["scale_factor"] else ""))
    typer.echo(_table(header, rows))
    for t in rep["tasks"]:
        if t["peak_demand_nm"] is None:
            typer.echo(f"  {t['task']}: {t['note']}")
        elif t["share_check"] and t["share_status"] != "plausible":
            typer.echo(f"  {t['task']}: {t['share_status'].upper()}: " + "; ".join(t["share_check"]["reasons"]))
    typer.echo("Caveats:")
    for c in rep["caveats"]:
        typer.echo(f"  - {c}")
    if csv_out:
        _write_csv(csv_out, header, rows)
    if json_out:
        _write_json(json_out, rep)
    if plot:
        _plot_tasks(plot, rep)


def _plot_tasks(path: Path, rep: dict[str, Any]) -> None:
    from hipext.biomech.plots import task_bars_svg

    task_bars_svg(rep, path=path)


def _trial(person: dict[str, Any], *, kinematics: Path | None, moments: Path | None, c3d: Path | None,
           cycle: int | str, channels: list[str], moment_units: str, side: str, muscles: bool, model: Path | None,
           csv_out: Path | None, json_out: Path | None, plot: Path | None) -> None:
    import numpy as np
    from pydantic import ValidationError

    from hipext.biomech.c3d import GaitChannels
    from hipext.biomech.tasks import SIDE_WORDS
    from hipext.biomech.trial import PersonSpec, TrialSpec, analyse_trial, validation_text

    if side not in ("r", "l"):
        raise UserError(f"--side: got {side!r}; expected r or l")
    try:
        spec = TrialSpec(c3d=c3d, kinematics=kinematics, moments=moments, side=side, cycle=cycle,
                         moment_units=moment_units, channels=GaitChannels.from_pairs(channels),
                         person=PersonSpec(**person), muscles=muscles, model_path=model)
    except ValidationError as exc:
        raise UserError(validation_text(exc)) from None
    res = analyse_trial(spec)
    mass = res.body_mass_kg
    out: dict[str, Any] = {"trial": res.name, "side": SIDE_WORDS[side], "body_mass_kg": mass,
                           "notes": list(res.notes), "warnings": list(res.warnings), "cycles": []}
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    for n in res.notes:
        typer.echo(f"  note: {n}")
    if res.capacity_note:
        typer.echo(f"  {res.capacity_note}")
    header = ["cycle", "time_s", "hip_flexion_deg", "hip_extension_velocity_deg_s", "hip_extension_moment_nm",
              "capacity_nm", "share_of_capacity_percent"]
    rows: list[list[Any]] = []
    for c in res.cycles:
        d, p = c.demand, c.peak
        per_kg = (f" ({p['peak_hip_extension_moment_nm_per_kg']:.2f} N m/kg)"
                  if "peak_hip_extension_moment_nm_per_kg" in p else "")
        typer.echo(f"{d.name} ({SIDE_WORDS[side]}): {len(d.time_s)} frames; peak hip extension moment "
                   f"{p['peak_hip_extension_moment_nm']:.1f} N m{per_kg} at {p['hip_flexion_deg']:.1f} deg hip "
                   f"flexion, extension velocity {p['hip_extension_velocity_deg_s']:.0f} deg/s")
        item: dict[str, Any] = {"cycle": c.cycle, "peak": p}
        if c.share is not None:
            chk = c.share["check"]
            typer.echo(f"  peak share of capacity {chk.describe()} at {c.share['at_hip_flexion_deg']:.1f} deg, "
                       f"{c.share['at_hip_extension_velocity_deg_s']:.0f} deg/s")
            for r in chk.reasons if chk.status != "plausible" else ():
                typer.echo(f"    flagged: {r}")
            item["share_of_capacity"] = {k: v for k, v in c.share.items()
                                         if k not in ("share_percent", "capacity_nm", "check")}
            item["share_of_capacity"]["check"] = chk.as_dict()
        if c.muscle_share_percent is not None:
            typer.echo(f"  share of the hip extension moment by muscle (static optimisation, %), "
                       f"{SIDE_WORDS[side]} side:")
            typer.echo(_table(["muscle", "share_percent"],
                              [[mu, round(v, 1)] for mu, v in c.muscle_share_percent.items()]))
            item["muscle_share_percent"] = {k: round(v, 2) for k, v in c.muscle_share_percent.items()}
        out["cycles"].append(item)
        share = c.share
        for i in range(len(d.time_s)):
            rows.append([c.cycle, round(float(d.time_s[i]), 4), round(float(np.rad2deg(d.hip_flexion_rad[i])), 2),
                         round(float(np.rad2deg(d.hip_extension_velocity_rad_s[i])), 1),
                         round(float(d.hip_extension_moment_nm[i]), 2),
                         None if share is None else round(float(share["capacity_nm"][i]), 2),
                         None if share is None else round(float(share["share_percent"][i]), 1)])
    if res.file_peak_nm_per_kg is not None:
        typer.echo(f"file's own peak hip extension moment over the analysed cycles: "
                   f"{res.file_peak_nm_per_kg:.3f} N m/kg ({res.file_peak_nm_per_kg * (mass or 0):.1f} N m)")
        out["file_peak_hip_extension_nm_per_kg"] = res.file_peak_nm_per_kg
    if csv_out:
        _write_csv(csv_out, header, rows)
    if json_out:
        out["frames"] = [dict(zip(header, r, strict=True)) for r in rows]
        _write_json(json_out, out)
    if plot:
        _plot_cycles(plot, res)


def _plot_cycles(path: Path, res: Any) -> None:
    plt = _plt()
    with_share = any(c.share is not None for c in res.cycles)
    fig, axes = plt.subplots(2 if with_share else 1, 1, figsize=(7, 5.5 if with_share else 3.5), sharex=True,
                             squeeze=False)
    for c in res.cycles:
        d = c.demand
        label = d.name
        axes[0, 0].plot(d.time_s, d.hip_extension_moment_nm, label=f"{label}: hip extension moment (N m)")
        if c.share is not None:
            axes[0, 0].plot(d.time_s, c.share["capacity_nm"], ls="--", label=f"{label}: capacity (N m)")
            axes[1, 0].plot(d.time_s, c.share["share_percent"], color="#c44e52")
    axes[0, 0].set_ylabel("N m")
    axes[0, 0].axhline(0, color="k", lw=0.5)
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title(res.name)
    if with_share:
        axes[1, 0].axhline(100, color="k", lw=0.8, ls="--")
        axes[1, 0].set_ylabel("share of capacity (%)")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:  # pragma: no cover - convenience entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
