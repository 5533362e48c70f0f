"""Task demand: hip angle, angular velocity and hip extension moment over a movement, against capacity.

Demand curves come from OpenSim storage files (``.mot``/``.sto``: a kinematics file and an inverse-dynamics or
actuation file) or from processed gait C3D files (``hipext.biomech.c3d``). Published peak values live in
``task_demands.yaml``.

Trials are handled honestly: kinematics and moments are aligned by time (the kinematics interpolated onto the
moment frames), with a warning when their time ranges or rates differ and an error when they do not overlap;
coordinates a 2-D model lacks (hip adduction, hip rotation) are taken as zero with a note; units are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hipext.biomech._data import load_yaml

SIDES = ("r", "l")
SIDE_WORDS = {"r": "right", "l": "left"}
CHECKS_FILE = "trial_checks.yaml"
MOMENT_UNITS = ("N m", "N m/kg")
RATE_TOLERANCE = 0.01  # relative difference of two sampling rates still called "the same rate"


@dataclass(frozen=True)
class Storage:
    """An OpenSim storage table."""

    path: Path
    columns: tuple[str, ...]
    data: np.ndarray  # (frames, columns)
    in_degrees: bool | None
    header: dict[str, str]

    def column(self, name: str) -> np.ndarray:
        try:
            return self.data[:, self.columns.index(name)]
        except ValueError:
            raise ValueError(
                f"{self.path.name}: no column {name!r}; columns are {', '.join(self.columns[:12])}"
                + (" ..." if len(self.columns) > 12 else "")
            ) from None

    def has(self, name: str) -> bool:
        return name in self.columns


def read_storage(path: str | Path) -> Storage:
    """Read an OpenSim ``.sto``/``.mot`` file (header ending in ``endheader``, then a table with a time column).

    Tab- or space-separated tables and comma-separated ones (some ``.sto`` writers) are both read; a header
    without ``inDegrees`` (old SIMM-style files) leaves the angle unit to be judged from the values.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"file: no such file {str(p)!r}")
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    header: dict[str, str] = {}
    end = next((i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader"), None)
    if end is None:
        raise ValueError(f"{p.name}: no 'endheader' line; expected an OpenSim .sto/.mot file")
    for ln in lines[:end]:
        if "=" in ln:
            k, _, v = ln.partition("=")
            header[k.strip()] = v.strip()
    if end + 1 >= len(lines):
        raise ValueError(f"{p.name}: nothing after 'endheader'; expected a line of column names")
    sep = "," if "," in lines[end + 1] else None
    cols = tuple(c.strip() for c in lines[end + 1].split(sep))
    if not cols or cols[0].lower() != "time":
        raise ValueError(f"{p.name}: the line after 'endheader' should name the columns, starting with 'time'")
    rows = [ln.split(sep) for ln in lines[end + 2:] if ln.strip()]
    try:
        data = np.array(rows, dtype=float)
    except ValueError:
        raise ValueError(f"{p.name}: the table holds non-numeric values or ragged rows") from None
    if data.ndim != 2 or data.shape[1] != len(cols) or data.shape[0] < 3:
        raise ValueError(f"{p.name}: expected at least 3 rows of {len(cols)} numbers")
    if not np.isfinite(data).all():
        raise ValueError(f"{p.name}: the table holds NaN or infinite values")
    flag = header.get("inDegrees", "").lower()
    in_deg = True if flag == "yes" else False if flag == "no" else None
    return Storage(p, cols, data, in_deg, header)


@dataclass(frozen=True)
class DemandCurve:
    """Hip (and knee) demand over a movement; SI units, angles in rad, knee flexion positive.

    ``notes`` say what was converted or assumed (sign conventions, units, missing coordinates); ``warnings``
    name things a user should check (mismatched files, dropped frames, suspicious units).
    """

    name: str
    time_s: np.ndarray
    hip_flexion_rad: np.ndarray
    hip_adduction_rad: np.ndarray
    hip_rotation_rad: np.ndarray
    knee_flexion_rad: np.ndarray
    hip_extension_velocity_rad_s: np.ndarray
    knee_flexion_velocity_rad_s: np.ndarray
    hip_extension_moment_nm: np.ndarray
    knee_flexion_moment_nm: np.ndarray
    notes: tuple[str, ...] = ()
    side: str = "r"
    warnings: tuple[str, ...] = ()
    body_mass_kg: float | None = None  # the mass the file itself states (C3D processing), if any
    has_knee_moment: bool = True

    @property
    def poses_rad(self) -> np.ndarray:
        return np.stack([self.hip_flexion_rad, self.hip_adduction_rad, self.hip_rotation_rad,
                         self.knee_flexion_rad], axis=1)

    @property
    def joint_velocities_rad_s(self) -> np.ndarray:
        """(N, 4) coordinate rates in rad/s in the model's order (hip flexion rate positive when flexing)."""
        t = self.time_s
        return np.stack([-self.hip_extension_velocity_rad_s, np.gradient(self.hip_adduction_rad, t),
                         np.gradient(self.hip_rotation_rad, t), self.knee_flexion_velocity_rad_s], axis=1)

    def peak(self, *, body_mass_kg: float | None = None) -> dict[str, Any]:
        i = int(np.argmax(self.hip_extension_moment_nm))
        out = {
            "peak_hip_extension_moment_nm": float(self.hip_extension_moment_nm[i]),
            "time_s": float(self.time_s[i]),
            "hip_flexion_deg": float(np.rad2deg(self.hip_flexion_rad[i])),
            "hip_extension_velocity_deg_s": float(np.rad2deg(self.hip_extension_velocity_rad_s[i])),
        }
        if body_mass_kg:
            out["peak_hip_extension_moment_nm_per_kg"] = out["peak_hip_extension_moment_nm"] / body_mass_kg
        return out

    def with_messages(self, *, notes: tuple[str, ...] = (), warnings: tuple[str, ...] = ()) -> DemandCurve:
        return replace(self, notes=self.notes + notes, warnings=self.warnings + warnings)


def build_demand(
    *, name: str, side: str, time_s: np.ndarray, hip_flexion_rad: np.ndarray, hip_adduction_rad: np.ndarray,
    hip_rotation_rad: np.ndarray, knee_flexion_rad: np.ndarray, hip_extension_moment_nm: np.ndarray,
    knee_flexion_moment_nm: np.ndarray | None, notes: list[str], warnings: list[str],
    body_mass_kg: float | None = None,
) -> DemandCurve:
    """Assemble a ``DemandCurve`` from aligned arrays (velocities by central differences)."""
    t = np.asarray(time_s, dtype=float)
    if t.size < 3 or np.any(np.diff(t) <= 0):
        raise ValueError(f"{name}: time must increase over at least 3 frames")
    has_knee = knee_flexion_moment_nm is not None
    return DemandCurve(
        name=name, side=side, time_s=t, hip_flexion_rad=hip_flexion_rad, hip_adduction_rad=hip_adduction_rad,
        hip_rotation_rad=hip_rotation_rad, knee_flexion_rad=knee_flexion_rad,
        hip_extension_velocity_rad_s=-np.gradient(hip_flexion_rad, t),
        knee_flexion_velocity_rad_s=np.gradient(knee_flexion_rad, t),
        hip_extension_moment_nm=np.asarray(hip_extension_moment_nm, dtype=float),
        knee_flexion_moment_nm=(np.asarray(knee_flexion_moment_nm, dtype=float) if has_knee
                                else np.zeros_like(t)),
        notes=tuple(dict.fromkeys(notes)), warnings=tuple(dict.fromkeys(warnings)), body_mass_kg=body_mass_kg,
        has_knee_moment=has_knee,
    )


# ------------------------------------------------------------------------------------------ alignment
def _rate_hz(t: np.ndarray) -> float:
    return float(1.0 / np.median(np.diff(t)))


def align_by_time(
    *, kinematics_time_s: np.ndarray, moments_time_s: np.ndarray, kinematics_name: str, moments_name: str
) -> tuple[np.ndarray, list[str]]:
    """Moment frames that lie inside the kinematics' time range, and warnings about the match of the two files.

    The kinematics are then interpolated onto these frames (``np.interp``): the moments are never resampled,
    so their peaks are kept. Raises ``ValueError`` when the two time ranges do not overlap.
    """
    tk, tm = np.asarray(kinematics_time_s, dtype=float), np.asarray(moments_time_s, dtype=float)
    for t, nm in ((tk, kinematics_name), (tm, moments_name)):
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"{nm}: the time column must increase from row to row")
    rk, rm = _rate_hz(tk), _rate_hz(tm)
    span = (f"kinematics {kinematics_name} cover {tk[0]:.3f}-{tk[-1]:.3f} s at {rk:.4g} Hz, moments "
            f"{moments_name} {tm[0]:.3f}-{tm[-1]:.3f} s at {rm:.4g} Hz")
    # Half a frame of the coarser file: edges closer than that are the same edge.
    tol = 0.5 / min(rk, rm)
    # A moment frame a hair outside the kinematics (time stamps rounded differently, e.g. -5e-7 s against 0) is
    # kept: 1 % of a frame is rounding, not a missing sample.
    edge = 0.01 / max(rk, rm)
    keep = (tm >= tk[0] - edge) & (tm <= tk[-1] + edge)
    if keep.sum() < 3:
        raise ValueError(f"the files do not overlap in time: {span}; expected kinematics and moments of the "
                         "same trial")
    warnings: list[str] = []
    same_range = abs(tk[0] - tm[0]) <= tol and abs(tk[-1] - tm[-1]) <= tol
    same_rate = abs(rk - rm) <= RATE_TOLERANCE * max(rk, rm)
    if not (same_range and same_rate):
        t0, t1 = tm[keep][0], tm[keep][-1]
        warnings.append(f"time ranges or rates differ ({span}); analysed {t0:.3f}-{t1:.3f} s, the kinematics "
                        f"interpolated onto the {int(keep.sum())} moment frames there. Check that both files "
                        "come from the same trial.")
    dropped = int((~keep).sum())
    if dropped:
        warnings.append(f"{dropped} of {tm.size} moment frames lie outside the kinematics' time range and were "
                        "not analysed")
    return keep, warnings


# ------------------------------------------------------------------------------------------ units
def checks() -> dict[str, Any]:
    """The trial and share checks of ``trial_checks.yaml``."""
    return dict(load_yaml(CHECKS_FILE))


def angles_rad(values: np.ndarray, *, declared_degrees: bool | None, label: str, notes: list[str],
               warnings: list[str]) -> np.ndarray:
    """Angles in rad from a column whose unit is declared (True/False) or unknown (None).

    Values beyond 2 pi cannot be radians; values all within pi rad (about 3 degrees) over a movement are
    almost surely radians even if declared degrees. Either mismatch is reported, and the values win.
    """
    v = np.asarray(values, dtype=float)
    peak = float(np.max(np.abs(v))) if v.size else 0.0
    looks_deg = peak > 2 * np.pi
    looks_rad = 0 < peak <= np.pi
    if declared_degrees is False and looks_deg:
        notes.append(f"{label}: declared in radians but the values reach {peak:.0f}; read as degrees")
        return np.deg2rad(v)
    if declared_degrees is True and looks_rad:
        warnings.append(f"{label}: declared in degrees but never exceeds {peak:.2f}, which looks like radians; "
                        "read as radians. Check the file's angle unit.")
        return v
    if declared_degrees is None:
        notes.append(f"{label}: angle unit not declared; read as {'degrees' if looks_deg else 'radians'} from "
                     "the values")
    return np.deg2rad(v) if (declared_degrees or looks_deg) else v


def check_moment_units(curve: DemandCurve, *, body_mass_kg: float | None, units: str) -> list[str]:
    """Check the hip moment's size against its units; returns warnings, raises a clear ``ValueError`` when wrong.

    The peak hip moment per kg of body mass should lie inside the window of ``trial_checks.yaml``. Below it the
    moments are probably per kg already (an error when they fit the window read that way, else a warning: a
    quiet-standing trial can be small); above it they are N mm or of another person (an error).
    """
    if not body_mass_kg:
        return []
    win = checks()["hip_moment_peak_nm_per_kg"]
    peak = float(np.max(np.abs(curve.hip_extension_moment_nm)))
    per_kg = peak / body_mass_kg
    expected = f"expected {win['low']:g}-{win['high']:g} N m/kg"
    if per_kg > win["high"]:
        hint = ("the values fit N mm (divide by 1000)" if win["low"] <= per_kg / 1000 <= win["high"] else
                "check the moment units and the body mass")
        raise ValueError(f"moment units: the hip moment peaks at {peak:.4g} {units}, {per_kg:.3g} N m/kg for "
                         f"{body_mass_kg:g} kg; {expected}: {hint}")
    if per_kg < win["low"]:
        if units == "N m" and win["low"] <= peak <= win["high"]:
            raise ValueError(f"moment units: the hip moment peaks at {peak:.3g} N m, only {per_kg:.3g} N m/kg for "
                             f"{body_mass_kg:g} kg; {expected}. The values look normalised to body mass already: "
                             "give the moment units as N m/kg")
        return [f"the hip moment peaks at only {per_kg:.3g} N m/kg ({expected} for a loaded task): check the "
                "moment units and the body mass"]
    return []


# ------------------------------------------------------------------------------------------ OpenSim files
def _moment(st: Storage, coord: str) -> np.ndarray | None:
    for name in (f"{coord}_moment", coord):
        if st.has(name):
            return st.column(name)
    return None


def demand_curve(
    *,
    kinematics_path: str | Path,
    moments_path: str | Path,
    side: str = "r",
    name: str | None = None,
    knee_flexion_sign: float | None = None,
    moment_units: str = "N m",
    body_mass_kg: float | None = None,
) -> DemandCurve:
    """Build a demand curve from a kinematics file and a moments file (inverse dynamics or RRA actuation).

    Parameters
    ----------
    kinematics_path
        ``.mot``/``.sto`` with ``hip_flexion_<side>`` and ``knee_angle_<side>``; ``hip_adduction_<side>`` and
        ``hip_rotation_<side>`` are taken as zero, with a note, when the model is 2-D and lacks them.
    moments_path
        ``.sto`` with ``hip_flexion_<side>_moment`` (inverse dynamics) or ``hip_flexion_<side>`` (actuation).
        OpenSim's sign: a negative hip flexion moment is a hip extension moment.
    side
        'r' or 'l'.
    knee_flexion_sign
        +1 when the model's knee angle is positive in flexion (Rajagopal), -1 when negative (gait2392);
        detected from the data when None.
    moment_units
        'N m' or 'N m/kg' (then multiplied by ``body_mass_kg``).
    body_mass_kg
        Body mass (kg): needed for N m/kg moments, and used to check that the moments' size fits their units.
    """
    if side not in SIDES:
        raise ValueError(f"side: got {side!r}; expected 'r' or 'l'")
    if moment_units not in MOMENT_UNITS:
        raise ValueError(f"moment units: got {moment_units!r}; expected {' or '.join(MOMENT_UNITS)}")
    if moment_units == "N m/kg" and not body_mass_kg:
        raise ValueError("body mass: moments in N m/kg need the body mass to give N m")
    kin, mom = read_storage(kinematics_path), read_storage(moments_path)
    notes: list[str] = []
    keep, warnings = align_by_time(kinematics_time_s=kin.column("time"), moments_time_s=mom.column("time"),
                                   kinematics_name=kin.path.name, moments_name=mom.path.name)
    t_k = kin.column("time")
    t = mom.column("time")[keep]

    def on_moment_frames(coord: str, *, required: bool) -> np.ndarray:
        col = f"{coord}_{side}"
        if not kin.has(col):
            if required:
                kin.column(col)  # raises with the list of columns
            notes.append(f"{kin.path.name} has no {col} (a 2-D model?); taken as 0 deg")
            return np.zeros_like(t)
        return np.interp(t, t_k, angles_rad(kin.column(col), declared_degrees=kin.in_degrees,
                                            label=f"{kin.path.name} {col}", notes=notes, warnings=warnings))

    hf = on_moment_frames("hip_flexion", required=True)
    ha = on_moment_frames("hip_adduction", required=False)
    hr = on_moment_frames("hip_rotation", required=False)
    knee = on_moment_frames("knee_angle", required=True)
    if knee_flexion_sign is None:
        knee_flexion_sign = -1.0 if np.median(knee) < -0.05 else 1.0
        if knee_flexion_sign < 0:
            notes.append("knee angle negative in flexion (gait2392 convention); converted to knee flexion positive")
    hip_m = _moment(mom, f"hip_flexion_{side}")
    if hip_m is None:
        raise ValueError(f"{mom.path.name}: no moment column hip_flexion_{side}_moment or hip_flexion_{side}; "
                         f"columns are {', '.join(mom.columns[:12])}" + (" ..." if len(mom.columns) > 12 else ""))
    knee_m = _moment(mom, f"knee_angle_{side}")
    if knee_m is None:
        notes.append(f"{mom.path.name} has no knee_angle_{side} moment; muscles are split on the hip moment only")
    scale = float(body_mass_kg) if moment_units == "N m/kg" and body_mass_kg else 1.0
    if scale != 1.0:
        notes.append(f"moments given in N m/kg; multiplied by {scale:g} kg")
    curve = build_demand(
        name=name or mom.path.stem, side=side, time_s=t, hip_flexion_rad=hf, hip_adduction_rad=ha,
        hip_rotation_rad=hr, knee_flexion_rad=knee_flexion_sign * knee,
        hip_extension_moment_nm=-hip_m[keep] * scale,
        knee_flexion_moment_nm=None if knee_m is None else knee_flexion_sign * knee_m[keep] * scale,
        notes=notes, warnings=warnings)
    unit_warnings = check_moment_units(curve, body_mass_kg=body_mass_kg,
                                       units=moment_units if scale == 1.0 else "N m")
    return curve.with_messages(warnings=tuple(unit_warnings))


# ------------------------------------------------------------------------------------------ labels
def muscle_labels(muscles: tuple[str, ...] | list[str], side: str) -> list[str]:
    """Muscle names for the side analysed: the model is a right leg, mirrored for the left (``glmax1_r`` ->
    ``glmax1_l``)."""
    if side not in SIDES:
        raise ValueError(f"side: got {side!r}; expected 'r' or 'l'")
    return [m[:-2] + f"_{side}" if m.endswith(("_r", "_l")) else f"{m} ({SIDE_WORDS[side]})" for m in muscles]


# ------------------------------------------------------------------------------------------ capacity
def share_of_capacity(*, demand: DemandCurve, capacity: Any, basis: Any = None) -> dict[str, Any]:
    """Share of a person's capacity the task uses over its cycle, with a plausibility check of the peak.

    Parameters
    ----------
    demand
        A ``DemandCurve``.
    capacity
        A ``hipext.biomech.capacity.PersonCapacity`` (Anderson 2007 surface scaled to the person).
    basis
        A ``hipext.biomech.capacity.CapacityBasis`` describing how the capacity was obtained (test set-up,
        group mean); by default the capacity's own.

    Returns
    -------
    dict with ``share_percent`` per frame (0 where the moment is not extension, NaN where the capacity surface
    predicts no torque), ``capacity_nm`` per frame, ``peak_share_percent``, where the peak occurs, and ``check``
    (a ``ShareCheck``: plausible / estimate / implausible, with the range, reasons and likely causes).
    ``reserve_percent`` is given only when the share is plausible.
    """
    from hipext.biomech.capacity import check_share

    cap = capacity.torque_nm(hip_flexion_rad=demand.hip_flexion_rad,
                             extension_velocity_rad_s=demand.hip_extension_velocity_rad_s)
    ext = np.clip(demand.hip_extension_moment_nm, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(ext <= 0, 0.0, np.where(cap > 0, 100.0 * ext / cap, np.nan))
    finite = np.where(np.isfinite(share), share, -np.inf)
    i = int(np.argmax(finite))
    n_nan = int(np.isnan(share).sum())
    peak_iso, _ = capacity.peak_isometric_nm()
    # Warnings about the files (time ranges, units) explain an implausible share; they do not flag a plausible one.
    explain = [("different_subjects" if "time" in w else "units", f"the trial's files warn: {w}")
               for w in demand.warnings]
    check = check_share(share_percent=float(share[i]), basis=basis if basis is not None else capacity.basis,
                        capacity_fraction_of_peak=float(cap[i] / peak_iso) if peak_iso > 0 else None,
                        explanations=explain)
    return {
        "share_percent": share,
        "capacity_nm": cap,
        "peak_share_percent": float(share[i]),
        "reserve_percent": check.reserve_percent,
        "at_time_s": float(demand.time_s[i]),
        "at_hip_flexion_deg": float(np.rad2deg(demand.hip_flexion_rad[i])),
        "at_hip_extension_velocity_deg_s": float(np.rad2deg(demand.hip_extension_velocity_rad_s[i])),
        "frames_without_capacity": n_nan,
        "check": check,
    }


__all__ = ["DemandCurve", "Storage", "align_by_time", "angles_rad", "build_demand", "check_moment_units",
           "demand_curve", "muscle_labels", "read_storage", "share_of_capacity"]
