"""Isokinetic dynamometer recordings in C3D: repetitions, peak torque, angle of peak, work, velocity.

Dynamometers (Biodex, Humac, Con-Trex, IsoMed) export the test as analog channels of a C3D file: angle, torque and
velocity (and often EMG) at 1 kHz or more. ``read_isokinetic_c3d`` finds each repetition from the motion, and
``IsokineticTest.measurement`` turns the test into an ``isokinetic_hip_extension`` measurement for a case.
EMG and other channels are kept (``other_channels``) but not interpreted.

Conventions: the angle is hip flexion (flexion positive; ``angle_convention='extension'`` for devices that count
the other way), torque is positive for hip extension (``extension_torque_sign=-1`` for devices that record it
negative). Concentric extension moves towards extension while the extensors pull; eccentric moves towards flexion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from hipext.biomech.c3d import C3DData, read_c3d
from hipext.biomech.tasks import checks
from hipext.core.case import Measurement

# Exact unit definitions (not clinical numbers): 1 ft = 0.3048 m; 1 lbf = 4.4482216152605 N.
NM_PER_FT_LBF = 0.3048 * 4.4482216152605
TORQUE_UNITS = {"nm": 1.0, "n.m": 1.0, "n m": 1.0, "n·m": 1.0, "newton-meter": 1.0, "ft-lb": NM_PER_FT_LBF,
                "ft-lbs": NM_PER_FT_LBF, "ftlb": NM_PER_FT_LBF, "ft lb": NM_PER_FT_LBF, "lbf ft": NM_PER_FT_LBF,
                "ft-lbf": NM_PER_FT_LBF, "nmm": 0.001, "n mm": 0.001}
ANGLE_UNITS = {"deg": 1.0, "degree": 1.0, "degrees": 1.0, "°": 1.0, "rad": 180.0 / math.pi, "radian": 180.0 / math.pi}
VELOCITY_UNITS = {"deg/s": 1.0, "°/s": 1.0, "degrees/s": 1.0, "dps": 1.0, "rad/s": 180.0 / math.pi}
KEYWORDS = {"angle": ("angle", "position", "pos"), "torque": ("torque", "moment"),
            "velocity": ("velocity", "speed", "vel")}


class IsokineticChannels(BaseModel):
    """Which analog channels hold angle, torque and velocity (None: found from the labels), and conventions."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    angle: str | None = None
    torque: str | None = None
    velocity: str | None = None
    angle_convention: Literal["flexion", "extension"] = "flexion"
    extension_torque_sign: Literal[1, -1] = 1


@dataclass(frozen=True)
class Repetition:
    """One repetition: peak torque (N m), hip flexion angle at the peak (deg), work (J) and mean velocity (deg/s)."""

    number: int
    start_s: float
    end_s: float
    peak_torque_nm: float
    angle_at_peak_deg: float
    work_j: float
    velocity_deg_s: float
    range_deg: float


@dataclass(frozen=True)
class IsokineticTest:
    """An isokinetic hip extension test read from a C3D file."""

    path: Path
    side: Literal["left", "right"]
    mode: Literal["concentric", "eccentric"]
    velocity_deg_s: float
    repetitions: tuple[Repetition, ...]
    channels: dict[str, str]
    other_channels: dict[str, np.ndarray] = field(default_factory=dict)
    other_channel_units: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def peak_torque_nm(self) -> float:
        return max(r.peak_torque_nm for r in self.repetitions)

    def measurement(self, *, device: str | None = None) -> Measurement:
        """The case-file measurement (``isokinetic_hip_extension``): one trial per repetition's peak torque; the
        angle of each peak and the work go into its note (the case format has no fields for them)."""
        reps = self.repetitions
        detail = "; ".join(f"rep {r.number}: {r.peak_torque_nm:.0f} N m at {r.angle_at_peak_deg:.0f} deg, "
                           f"{r.work_j:.0f} J" for r in reps)
        note = f"Imported from {self.path.name}: {detail}."
        if self.other_channels:
            note += f" Channels kept, not interpreted: {', '.join(self.other_channels)}."
        return Measurement(test="isokinetic_hip_extension", side=self.side,
                           trials_nm=[round(r.peak_torque_nm, 1) for r in reps], velocity_deg_s=self.velocity_deg_s,
                           mode=self.mode, device=device, note=note)


def _unit_factor(unit: str, table: dict[str, float], channel: str, expected: str) -> float:
    u = unit.strip().lower()
    if u in table:
        return table[u]
    raise ValueError(f"{channel}: unit {unit!r} not understood; expected {expected}")


def _pick(c: C3DData, kind: str, given: str | None) -> str:
    if given is not None:
        if given not in c.analogs:
            raise ValueError(f"{c.path.name}: no analog channel {given!r} ({kind}); channels are "
                             f"{', '.join(c.analogs) or 'none'}")
        return given
    hits = [lab for lab in c.analogs if any(k in lab.lower() for k in KEYWORDS[kind])
            and not (kind == "angle" and "vel" in lab.lower())]
    if len(hits) != 1:
        raise ValueError(f"{c.path.name}: {'no' if not hits else 'several'} analog channel(s) for {kind} "
                         f"({', '.join(hits) or 'none'} among {', '.join(c.analogs) or 'none'}); name it with the "
                         f"{kind} channel option")
    return hits[0]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array (stop exclusive)."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2], edges[1::2], strict=True))


def read_isokinetic_c3d(
    path: str | Path,
    *,
    side: Literal["left", "right"],
    channels: IsokineticChannels | None = None,
    mode: Literal["auto", "concentric", "eccentric"] = "auto",
    velocity_deg_s: float | None = None,
) -> IsokineticTest:
    """Read an isokinetic hip extension test and find its repetitions.

    Parameters
    ----------
    path
        C3D file with analog angle, torque and velocity channels (velocity is derived from the angle when absent).
    side
        'left' or 'right' (the C3D does not say which leg was tested).
    channels
        Channel names and conventions; by default found from the labels ('angle'/'position', 'torque'/'moment',
        'velocity'/'speed').
    mode
        'concentric' or 'eccentric'; 'auto' decides from the direction of motion while the extensors pull.
    velocity_deg_s
        The set test speed (deg/s); measured from the recording when None.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side: got {side!r}; expected 'left' or 'right'")
    ch = channels or IsokineticChannels()
    c = read_c3d(path)
    if not c.analogs or c.analog_rate_hz <= 0:
        raise ValueError(f"{c.path.name}: no analog channels; expected angle, torque and velocity channels")
    notes: list[str] = []
    warnings: list[str] = []
    a_lab, t_lab = _pick(c, "angle", ch.angle), _pick(c, "torque", ch.torque)
    angle = c.analogs[a_lab] * _unit_factor(c.analog_units.get(a_lab) or "deg", ANGLE_UNITS, a_lab, "deg or rad")
    torque = c.analogs[t_lab] * _unit_factor(c.analog_units.get(t_lab) or "Nm", TORQUE_UNITS, t_lab,
                                             "N m, N mm or ft-lb")
    if ch.angle_convention == "extension":
        angle = -angle
    torque = ch.extension_torque_sign * torque
    dt = 1.0 / c.analog_rate_hz
    try:
        v_lab: str | None = _pick(c, "velocity", ch.velocity)
    except ValueError:
        if ch.velocity is not None:
            raise
        v_lab = None
    if v_lab is None:
        flex_rate = np.gradient(angle, dt)
        notes.append("no velocity channel: velocity derived from the angle")
    else:
        flex_rate = c.analogs[v_lab] * _unit_factor(c.analog_units.get(v_lab) or "deg/s", VELOCITY_UNITS, v_lab,
                                                    "deg/s or rad/s")
        # The velocity channel's sign is device-specific: orient it with the angle's own rate.
        if np.dot(flex_rate, np.gradient(angle, dt)) < 0:
            flex_rate = -flex_rate
    if np.max(torque) < -np.min(torque):
        warnings.append(f"{t_lab}: the largest torques are negative; if the device records extension as "
                        "negative, set extension_torque_sign=-1")
    seg = checks()["isokinetic_segmentation"]
    pulling = torque > 0
    ext_speed = np.where(pulling, -flex_rate, 0.0)  # > 0: extending while the extensors pull
    ecc_speed = np.where(pulling, flex_rate, 0.0)
    if mode == "auto":
        mode = "concentric" if np.sum(np.clip(ext_speed, 0, None) * torque) >= \
            np.sum(np.clip(ecc_speed, 0, None) * torque) else "eccentric"
        notes.append(f"mode: {mode} (from the direction of motion while the extensors pull)")
    speed = ext_speed if mode == "concentric" else ecc_speed
    fastest = float(np.max(speed))
    if fastest <= 0:
        raise ValueError(f"{c.path.name}: no {mode} hip extension movement found (no motion towards "
                         f"{'extension' if mode == 'concentric' else 'flexion'} while the torque is positive)")
    moving = speed > seg["moving_fraction"] * fastest
    reps: list[Repetition] = []
    plateau_speeds: list[float] = []
    for i0, i1 in _runs(moving):
        if (i1 - i0) * dt < seg["min_duration_s"]:
            continue
        sl = slice(i0, i1)
        k = i0 + int(np.argmax(torque[sl]))
        # Work = integral of torque over the angle travelled (rad): positive for the extensors' direction.
        work = float(np.sum(torque[sl] * speed[sl]) * dt * math.pi / 180.0)
        s = speed[sl]
        plateau = s[s >= seg["plateau_fraction"] * s.max()]
        plateau_speeds.append(float(plateau.mean()))
        reps.append(Repetition(number=len(reps) + 1, start_s=float(i0 * dt), end_s=float(i1 * dt),
                               peak_torque_nm=float(torque[k]), angle_at_peak_deg=float(angle[k]), work_j=work,
                               velocity_deg_s=float(plateau.mean()),
                               range_deg=float(np.ptp(angle[sl]))))
    if not reps:
        raise ValueError(f"{c.path.name}: no repetition found (no {mode} movement lasting "
                         f"{seg['min_duration_s']:g} s or more)")
    measured = float(np.median(plateau_speeds))
    if velocity_deg_s is None:
        velocity_deg_s = float(round(measured))
        notes.append(f"test speed {velocity_deg_s:g} deg/s (measured {measured:.1f} deg/s over the repetitions' "
                     "constant-speed part)")
    elif abs(measured - velocity_deg_s) > 0.1 * velocity_deg_s:
        warnings.append(f"the set speed {velocity_deg_s:g} deg/s differs from the measured {measured:.1f} deg/s")
    used = {"angle": a_lab, "torque": t_lab, **({"velocity": v_lab} if v_lab else {})}
    others = {lab: arr for lab, arr in c.analogs.items() if lab not in used.values()}
    return IsokineticTest(path=c.path, side=side, mode=mode, velocity_deg_s=velocity_deg_s,
                          repetitions=tuple(reps), channels=used, other_channels=others,
                          other_channel_units={lab: c.analog_units.get(lab, "") for lab in others},
                          notes=tuple(notes), warnings=tuple(warnings))
