"""Task demand: hip angle, angular velocity and hip extension moment over a movement cycle, against capacity.

Demand curves are read from OpenSim storage files (``.mot``/``.sto``): a kinematics file (joint angles) and an
inverse-dynamics or actuation file (joint moments). Published peak values live in ``task_demands.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ANGLE_COLUMNS = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle")


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
    """Read an OpenSim ``.sto``/``.mot`` file (header ending in ``endheader``, then a table with a time column)."""
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
    cols = tuple(lines[end + 1].split())
    if not cols or cols[0].lower() != "time":
        raise ValueError(f"{p.name}: the line after 'endheader' should name the columns, starting with 'time'")
    rows = [ln.split() for ln in lines[end + 2:] if ln.strip()]
    try:
        data = np.array(rows, dtype=float)
    except ValueError:
        raise ValueError(f"{p.name}: the table holds non-numeric values or ragged rows") from None
    if data.ndim != 2 or data.shape[1] != len(cols) or data.shape[0] < 3:
        raise ValueError(f"{p.name}: expected at least 3 rows of {len(cols)} numbers")
    flag = header.get("inDegrees", "").lower()
    in_deg = True if flag == "yes" else False if flag == "no" else None
    return Storage(p, cols, data, in_deg, header)


@dataclass(frozen=True)
class DemandCurve:
    """Hip (and knee) demand over a cycle; SI units, angles in rad, knee flexion positive."""

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

    @property
    def poses_rad(self) -> np.ndarray:
        return np.stack([self.hip_flexion_rad, self.hip_adduction_rad, self.hip_rotation_rad,
                         self.knee_flexion_rad], axis=1)

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


def _angles_rad(st: Storage, name: str, notes: list[str]) -> np.ndarray:
    v = st.column(name)
    looks_deg = np.nanmax(np.abs(v)) > 2 * np.pi
    if st.in_degrees is True or looks_deg:
        if st.in_degrees is False and looks_deg:
            msg = f"{st.path.name}: header says inDegrees=no but the angles are in degrees; read as degrees"
            if msg not in notes:
                notes.append(msg)
        return np.deg2rad(v)
    return v


def _moment(st: Storage, coord: str) -> np.ndarray:
    for name in (f"{coord}_moment", coord):
        if st.has(name):
            return st.column(name)
    raise ValueError(f"{st.path.name}: no moment column {coord}_moment or {coord}")


def demand_curve(
    *,
    kinematics_path: str | Path,
    moments_path: str | Path,
    side: str = "r",
    name: str | None = None,
    knee_flexion_sign: float | None = None,
) -> DemandCurve:
    """Build a demand curve from a kinematics file and a moments file (inverse dynamics or RRA actuation).

    Parameters
    ----------
    kinematics_path
        ``.mot``/``.sto`` with ``hip_flexion_<side>``, ``hip_adduction_<side>``, ``hip_rotation_<side>``,
        ``knee_angle_<side>``.
    moments_path
        ``.sto`` with ``hip_flexion_<side>_moment`` (inverse dynamics) or ``hip_flexion_<side>`` (actuation).
        OpenSim's sign: a negative hip flexion moment is a hip extension moment.
    side
        'r' or 'l'.
    knee_flexion_sign
        +1 when the model's knee angle is positive in flexion (Rajagopal), -1 when negative (gait2392);
        detected from the data when None.
    """
    if side not in ("r", "l"):
        raise ValueError(f"side: got {side!r}; expected 'r' or 'l'")
    kin, mom = read_storage(kinematics_path), read_storage(moments_path)
    notes: list[str] = []
    t_m = mom.column("time")
    t_k = kin.column("time")
    keep = (t_m >= t_k[0]) & (t_m <= t_k[-1])
    if keep.sum() < 3:
        raise ValueError(f"{mom.path.name}: its times do not overlap the kinematics in {kin.path.name}")
    t = t_m[keep]

    def kin_on_t(col: str) -> np.ndarray:
        return np.interp(t, t_k, _angles_rad(kin, f"{col}_{side}", notes))

    hf, ha, hr, knee = (kin_on_t(c) for c in ANGLE_COLUMNS)
    if knee_flexion_sign is None:
        knee_flexion_sign = -1.0 if np.median(knee) < -0.05 else 1.0
        if knee_flexion_sign < 0:
            notes.append("knee angle negative in flexion (gait2392 convention); converted to knee flexion positive")
    kf = knee_flexion_sign * knee
    hip_m = _moment(mom, f"hip_flexion_{side}")[keep]
    knee_m = knee_flexion_sign * _moment(mom, f"knee_angle_{side}")[keep]
    return DemandCurve(
        name=name or mom.path.stem,
        time_s=t,
        hip_flexion_rad=hf,
        hip_adduction_rad=ha,
        hip_rotation_rad=hr,
        knee_flexion_rad=kf,
        hip_extension_velocity_rad_s=-np.gradient(hf, t),
        knee_flexion_velocity_rad_s=np.gradient(kf, t),
        hip_extension_moment_nm=-hip_m,
        knee_flexion_moment_nm=knee_m,
        notes=tuple(notes),
    )


def share_of_capacity(*, demand: DemandCurve, capacity: Any) -> dict[str, Any]:
    """Share of a person's capacity the task uses over its cycle.

    Parameters
    ----------
    demand
        A ``DemandCurve``.
    capacity
        A ``hipext.biomech.capacity.PersonCapacity`` (Anderson 2007 surface scaled to the person).

    Returns
    -------
    dict with ``share_percent`` per frame (0 where the moment is not extension, NaN where the capacity surface
    predicts no torque), ``capacity_nm`` per frame, ``peak_share_percent``, ``reserve_percent`` and where the
    peak occurs.
    """
    cap = capacity.torque_nm(hip_flexion_rad=demand.hip_flexion_rad,
                             extension_velocity_rad_s=demand.hip_extension_velocity_rad_s)
    ext = np.clip(demand.hip_extension_moment_nm, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(ext <= 0, 0.0, np.where(cap > 0, 100.0 * ext / cap, np.nan))
    finite = np.where(np.isfinite(share), share, -np.inf)
    i = int(np.argmax(finite))
    n_nan = int(np.isnan(share).sum())
    return {
        "share_percent": share,
        "capacity_nm": cap,
        "peak_share_percent": float(share[i]),
        "reserve_percent": float(100.0 - share[i]),
        "at_time_s": float(demand.time_s[i]),
        "at_hip_flexion_deg": float(np.rad2deg(demand.hip_flexion_rad[i])),
        "at_hip_extension_velocity_deg_s": float(np.rad2deg(demand.hip_extension_velocity_rad_s[i])),
        "frames_without_capacity": n_nan,
    }
