"""C3D files from gait labs: processed gait outputs (angles, moments, events, body mass) as demand curves.

Read with ``ezc3d`` (pyomeca, MIT). Plug-in Gait / CGM processing stores its outputs as "points": ``LHipAngles``,
``LKneeAngles``, ``LHipMoment``, ... Angles are in degrees (X flexion +, Y adduction +, Z internal rotation +).
Moments are **internal** moments, X positive = extensor, in **N mm per kg** of body mass even though the file's
``POINT:MOMENT_UNITS`` usually says ``Nmm``; the body mass is ``PROCESSING:Bodymass``. Frames without kinetics
hold NaN (ezc3d's reading of an invalid residual) or zeros. Gait events live in the ``EVENT`` group (``LABELS``,
``CONTEXTS`` Left/Right, ``TIMES`` as minutes and seconds). Other labelling schemes are read by changing the
channel names (``GaitChannels``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hipext.biomech.tasks import SIDE_WORDS, SIDES, DemandCurve, build_demand, check_moment_units, checks

MomentUnits = Literal["auto", "N mm/kg", "N m/kg", "N mm", "N m"]


class MissingChannel(ValueError):
    """A C3D file lacks a point or channel the analysis needs (perhaps a different kind of recording)."""


@dataclass(frozen=True)
class C3DEvent:
    label: str
    context: str
    time_s: float


@dataclass(frozen=True)
class C3DData:
    """What hipext reads from a C3D file: points (3 x frames, NaN where invalid), analogs, parameters, events."""

    path: Path
    point_rate_hz: float
    first_frame: int  # 0-based index of the first stored frame in the recording
    points: dict[str, np.ndarray]
    analog_rate_hz: float
    analogs: dict[str, np.ndarray]
    analog_units: dict[str, str]
    parameters: dict[str, dict[str, Any]]
    events: tuple[C3DEvent, ...] = field(default=())

    @property
    def n_frames(self) -> int:
        return next(iter(self.points.values())).shape[1] if self.points else 0

    def point_time_s(self) -> np.ndarray:
        """Time of each stored point frame (s), on the recording's clock (the events' clock)."""
        return (self.first_frame + np.arange(self.n_frames)) / self.point_rate_hz

    def analog_time_s(self) -> np.ndarray:
        n = len(next(iter(self.analogs.values()))) if self.analogs else 0
        return self.first_frame / self.point_rate_hz + np.arange(n) / self.analog_rate_hz

    def parameter(self, group: str, name: str) -> Any:
        """A parameter's value (a list), or None when absent."""
        return self.parameters.get(group, {}).get(name)

    def point(self, label: str, *, what: str) -> np.ndarray:
        try:
            return self.points[label]
        except KeyError:
            near = [k for k in self.points if what.lower() in k.lower()][:8]
            raise MissingChannel(f"{self.path.name}: no point {label!r} ({what}); points with {what!r} in the name: "
                             f"{', '.join(near) or 'none'}. Set the channel names for this labelling scheme "
                             "(--channel).") from None


def read_c3d(path: str | Path) -> C3DData:
    """Read a C3D file with ezc3d. Raises ``ValueError`` naming the file when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"file: no such file {str(p)!r}")
    import ezc3d  # imported here: the CLI stays fast when no C3D is read

    try:
        c = ezc3d.c3d(str(p))
    except Exception as exc:  # noqa: BLE001 - ezc3d raises plain RuntimeError/IOError for any bad file
        raise ValueError(f"{p.name}: not a readable C3D file ({exc})") from None
    declared = _declared_frames(p)
    pts = np.asarray(c["data"]["points"], dtype=float)
    if declared is not None and pts.shape[2] < declared:
        raise ValueError(f"{p.name}: truncated: the header declares {declared} frames but the file holds "
                         f"{pts.shape[2]}")
    params: dict[str, dict[str, Any]] = {}
    for group, content in c["parameters"].items():
        if isinstance(content, dict):
            params[group] = {k: _value(v) for k, v in content.items() if isinstance(v, dict) and "value" in v}
    labels = list(params.get("POINT", {}).get("LABELS") or [])
    points = {lab: pts[:3, i, :] for i, lab in enumerate(labels) if i < pts.shape[1]}
    a_labels = list(params.get("ANALOG", {}).get("LABELS") or [])
    a_units = list(params.get("ANALOG", {}).get("UNITS") or [])
    an = np.asarray(c["data"]["analogs"], dtype=float)
    analogs = {lab: an[0, i, :] for i, lab in enumerate(a_labels) if an.ndim == 3 and i < an.shape[1]}
    units = {lab: (a_units[i] if i < len(a_units) else "") for i, lab in enumerate(a_labels)}
    rate = float(c["header"]["points"]["frame_rate"] or (params.get("POINT", {}).get("RATE") or [0])[0])
    a_rate = float((params.get("ANALOG", {}).get("RATE") or [0])[0] or 0)
    return C3DData(path=p, point_rate_hz=rate, first_frame=int(c["header"]["points"]["first_frame"]),
                   points=points, analog_rate_hz=a_rate, analogs=analogs, analog_units=units, parameters=params,
                   events=_events(params))


def _declared_frames(path: Path) -> int | None:
    """Frame count declared in the raw C3D header (ezc3d quietly reads a truncated file as a shorter one).

    Header words 4 and 5 hold the first and last frame; their byte order follows the processor type stored in
    the parameter section (86 = MIPS, big-endian; 84 Intel and 85 DEC, little-endian). None when unknown (a last
    frame of 65535 means the real count lives in TRIAL:ACTUAL_END_FIELD, which ezc3d already uses).
    """
    with path.open("rb") as fh:
        head = fh.read(512)
        if len(head) < 10:
            return None
        fh.seek(max(0, (head[0] - 1) * 512))
        phead = fh.read(4)
    order: Literal["big", "little"] = "big" if len(phead) == 4 and phead[3] == 86 else "little"
    first = int.from_bytes(head[6:8], order)
    last = int.from_bytes(head[8:10], order)
    if last == 0xFFFF or last < first:
        return None
    return last - first + 1


def _value(v: dict[str, Any]) -> Any:
    x = v["value"]
    return x.tolist() if isinstance(x, np.ndarray) else x


def _events(params: dict[str, dict[str, Any]]) -> tuple[C3DEvent, ...]:
    ev = params.get("EVENT", {})
    labels, contexts, times = ev.get("LABELS") or [], ev.get("CONTEXTS") or [], ev.get("TIMES")
    if not labels or times is None:
        return ()
    t = np.asarray(times, dtype=float)
    if t.ndim == 2 and t.shape[0] == 2:  # minutes, seconds
        secs = 60.0 * t[0] + t[1]
    else:
        secs = t.ravel()
    n = min(len(labels), len(secs))
    return tuple(C3DEvent(str(labels[i]).strip(), str(contexts[i]).strip() if i < len(contexts) else "",
                          float(secs[i])) for i in range(n))


# ------------------------------------------------------------------------------------------ gait
class GaitChannels(BaseModel):
    """Channel names and conventions of a processed gait C3D (defaults: Vicon Plug-in Gait / CGM).

    ``{S}`` in a point name is replaced by the side prefix (``L`` or ``R``).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hip_angles: str = "{S}HipAngles"
    knee_angles: str = "{S}KneeAngles"
    hip_moment: str = "{S}HipMoment"
    knee_moment: str = "{S}KneeMoment"
    left_prefix: str = "L"
    right_prefix: str = "R"
    body_mass_parameter: str = Field("PROCESSING:Bodymass", pattern=r"^[^:]+:[^:]+$")
    moment_units: MomentUnits = "auto"
    hip_extension_sign: Literal[1, -1] = Field(1, description="+1 when the moment's X component is positive for "
                                               "an internal hip extension moment (Plug-in Gait, CGM)")
    knee_extension_sign: Literal[1, -1] = 1
    foot_strike: str = "Foot Strike"
    foot_off: str = "Foot Off"

    @field_validator("hip_angles", "knee_angles", "hip_moment", "knee_moment")
    @classmethod
    def _has_name(cls, v: str) -> str:
        if not v:
            raise ValueError("expected a point label, e.g. {S}HipMoment")
        return v

    def label(self, key: str, side: str) -> str:
        return str(getattr(self, key)).replace("{S}", self.left_prefix if side == "l" else self.right_prefix)

    @classmethod
    def from_pairs(cls, pairs: list[str] | tuple[str, ...]) -> GaitChannels:
        """Build from 'key=value' strings as typed on the command line (``--channel hip_moment={S}HipMoment``)."""
        values: dict[str, Any] = {}
        bad = []
        for pair in pairs:
            k, sep, v = pair.partition("=")
            if not sep or k.strip() not in cls.model_fields:
                bad.append(pair)
                continue
            values[k.strip()] = int(v) if k.strip().endswith("_sign") and v.strip().lstrip("-").isdigit() else v
        if bad:
            raise ValueError(f"--channel: got {', '.join(map(repr, bad))}; expected key=value with key one of "
                             f"{', '.join(cls.model_fields)}")
        return cls(**values)


@dataclass(frozen=True)
class GaitTrial:
    """Demand curves of one processed gait C3D, one per analysed cycle (or the whole trial without events)."""

    path: Path
    side: str
    body_mass_kg: float
    cycles: tuple[DemandCurve, ...]
    cycle_numbers: tuple[int | None, ...]
    file_peak_hip_extension_nm_per_kg: float  # the file's own values over the analysed frames, converted
    moment_units: str
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def _valid_moment_frames(m: np.ndarray) -> np.ndarray:
    """Frames with kinetics: finite and not exactly zero in all three components."""
    return np.isfinite(m).all(axis=0) & ~(m == 0).all(axis=0)


def _moment_units(values_x: np.ndarray, declared: str, chosen: MomentUnits, notes: list[str]) -> str:
    """Resolve 'auto' moment units from the file's MOMENT_UNITS and the values' size."""
    if chosen != "auto":
        return chosen
    base = "N mm" if "mm" in declared.replace(" ", "").lower() else "N m"
    peak = float(np.nanmax(np.abs(values_x))) if np.isfinite(values_x).any() else 0.0
    in_nm = peak / (1000.0 if base == "N mm" else 1.0)
    per_kg = in_nm <= checks()["hip_moment_peak_nm_per_kg"]["high"]
    units = f"{base}/kg" if per_kg else base
    notes.append(f"moments read as internal moments in {units} (file's MOMENT_UNITS {declared or 'not given'!r}, "
                 f"peak {peak:.4g}); Plug-in Gait / CGM store N mm per kg of body mass")
    return units


def gait_trial(
    path: str | Path,
    *,
    side: str,
    cycle: int | Literal["all"] = "all",
    channels: GaitChannels | None = None,
    body_mass_kg: float | None = None,
) -> GaitTrial:
    """Hip demand of one side of a processed gait C3D, cut into cycles at that side's foot strikes.

    Parameters
    ----------
    path
        The C3D file.
    side
        'l' or 'r'.
    cycle
        1-based cycle number (foot strike to the next foot strike of the same side), or 'all'.
    channels
        Channel names and conventions (default Plug-in Gait / CGM).
    body_mass_kg
        Overrides ``PROCESSING:Bodymass`` (needed when the file has none and the moments are per kg); a mass that
        differs from the file's by more than ``trial_checks.yaml`` allows is a warning.
    """
    if side not in SIDES:
        raise ValueError(f"side: got {side!r}; expected 'r' or 'l'")
    ch = channels or GaitChannels()
    c = read_c3d(path)
    notes: list[str] = []
    warnings: list[str] = []
    hip_a = c.point(ch.label("hip_angles", side), what="HipAngles")
    knee_a = c.point(ch.label("knee_angles", side), what="KneeAngles")
    if ch.label("hip_moment", side) not in c.points and not any("moment" in k.lower() for k in c.points):
        # A lab's folder holds static calibration and kinematics-only trials next to the walks.
        raise MissingChannel(f"{c.path.name}: no moments at all ({ch.label('hip_moment', side)} or any point named "
                             f"like it), only angles: a static or kinematics-only trial (no force plate contact, or "
                             f"kinetics not processed)? Expected a processed gait trial with kinetics; for other "
                             f"channel names use --channel hip_moment=...")
    hip_m = c.point(ch.label("hip_moment", side), what="HipMoment")
    knee_m = c.points.get(ch.label("knee_moment", side))
    if knee_m is None:
        notes.append(f"no {ch.label('knee_moment', side)} point: muscles are split on the hip moment only")
    angle_units = str((c.parameter("POINT", "ANGLE_UNITS") or ["deg"])[0]).strip().lower()
    declared = str((c.parameter("POINT", "MOMENT_UNITS") or [""])[0]).strip()
    units = _moment_units(hip_m[0], declared, ch.moment_units, notes)
    group, _, name = ch.body_mass_parameter.partition(":")
    file_mass = c.parameter(group, name)
    file_mass_kg = float(file_mass[0]) if file_mass else None
    mass = _resolve_mass(file_mass_kg, body_mass_kg, ch.body_mass_parameter, units, warnings)
    to_nm = (0.001 if units.startswith("N mm") else 1.0) * (mass if units.endswith("/kg") else 1.0)
    if units.endswith("/kg"):
        notes.append(f"moments converted to N m: x {0.001 if units.startswith('N mm') else 1:g} x {mass:g} kg "
                     f"({'from ' + ch.body_mass_parameter if file_mass_kg and not body_mass_kg else 'given'})")
    deg = angle_units.startswith("deg")
    to_rad = np.pi / 180.0 if deg else 1.0
    if deg and np.isfinite(hip_a[0]).any() and np.nanmax(np.abs(hip_a[0])) <= np.pi:
        warnings.append(f"{ch.label('hip_angles', side)}: declared in degrees but never exceeds "
                        f"{np.nanmax(np.abs(hip_a[0])):.2f}, which looks like radians; check the file's angle unit")
    t = c.point_time_s()
    angles_ok = np.isfinite(hip_a).all(axis=0) & np.isfinite(knee_a[0])
    kinetics = _valid_moment_frames(hip_m) & angles_ok
    whole = build_demand(
        name=c.path.stem, side=side, time_s=t, hip_flexion_rad=np.nan_to_num(hip_a[0]) * to_rad,
        hip_adduction_rad=np.nan_to_num(hip_a[1]) * to_rad, hip_rotation_rad=np.nan_to_num(hip_a[2]) * to_rad,
        knee_flexion_rad=np.nan_to_num(knee_a[0]) * to_rad,
        hip_extension_moment_nm=ch.hip_extension_sign * hip_m[0] * to_nm,
        knee_flexion_moment_nm=None if knee_m is None else -ch.knee_extension_sign * knee_m[0] * to_nm,
        notes=[], warnings=[], body_mass_kg=mass)
    windows, numbers = _cycles(c, side, cycle, ch, notes)
    curves, kept = [], []
    for (t0, t1), k in zip(windows, numbers, strict=True):
        in_cycle = (t >= t0 - 1e-9) & (t <= t1 + 1e-9)
        use = in_cycle & kinetics
        label = c.path.stem if k is None else f"{c.path.stem} cycle {k}"
        if use.sum() < 3:
            msg = f"{label}: no kinetics in {t0:.2f}-{t1:.2f} s (moments missing: no force plate contact?)"
            if cycle != "all":
                raise ValueError(msg)
            warnings.append(msg + "; not analysed")
            continue
        cnotes = []
        if use.sum() < in_cycle.sum():
            cnotes.append(f"kinetics in {int(use.sum())} of {int(in_cycle.sum())} frames of {t0:.2f}-{t1:.2f} s; "
                          "the rest has no moments and is not analysed")
        curves.append(_subset(whole, use, label, cnotes))
        kept.append(k)
    if not curves:
        raise ValueError(f"{c.path.name}: no {SIDE_WORDS[side]} cycle with kinetics; expected moments in "
                         f"{ch.label('hip_moment', side)} inside the analysed cycles")
    for cv in curves:
        warnings.extend(check_moment_units(cv, body_mass_kg=mass, units="N m"))
    file_peak = max(float(np.max(cv.hip_extension_moment_nm)) for cv in curves) / mass
    return GaitTrial(path=c.path, side=side, body_mass_kg=mass, cycles=tuple(curves), cycle_numbers=tuple(kept),
                     file_peak_hip_extension_nm_per_kg=file_peak, moment_units=units,
                     notes=tuple(dict.fromkeys(notes)), warnings=tuple(dict.fromkeys(warnings)))


def _resolve_mass(file_mass: float | None, given: float | None, param: str, units: str,
                  warnings: list[str]) -> float:
    if given is not None and file_mass:
        tol = checks()["body_mass_mismatch_percent"]["value"]
        if abs(given - file_mass) > tol / 100.0 * file_mass:
            warnings.append(f"body mass {given:g} kg differs from the file's {param} {file_mass:g} kg by more than "
                            f"{tol:g} %: another person or another day? The given mass is used")
        return float(given)
    if file_mass:
        return float(file_mass)
    if given is not None:
        return float(given)
    if units.endswith("/kg"):
        raise ValueError(f"body mass: the moments are per kg and the file has no {param}; give the body mass "
                         "(--mass-kg)")
    raise ValueError(f"body mass: the file has no {param}; give the body mass (--mass-kg)")


def _cycles(c: C3DData, side: str, cycle: int | Literal["all"], ch: GaitChannels,
            notes: list[str]) -> tuple[list[tuple[float, float]], list[int | None]]:
    word = SIDE_WORDS[side]
    strikes = sorted(e.time_s for e in c.events if e.label.lower() == ch.foot_strike.lower()
                     and e.context.lower() == word)
    t = c.point_time_s()
    if len(strikes) < 2:
        if cycle != "all":
            raise ValueError(f"--cycle: got {cycle}, but {c.path.name} has {len(strikes)} {word} "
                             f"'{ch.foot_strike}' event(s); cycles need two")
        notes.append(f"fewer than two {word} '{ch.foot_strike}' events: the whole trial is analysed as one piece")
        return [(float(t[0]), float(t[-1]))], [None]
    windows = list(zip(strikes[:-1], strikes[1:], strict=True))
    numbers: list[int | None] = list(range(1, len(windows) + 1))
    if cycle == "all":
        return windows, numbers
    if not 1 <= int(cycle) <= len(windows):
        raise ValueError(f"--cycle: got {cycle}; {c.path.name} has {len(windows)} {word} cycle(s) "
                         f"(1 to {len(windows)})")
    return [windows[int(cycle) - 1]], [int(cycle)]


def _subset(d: DemandCurve, mask: np.ndarray, name: str, notes: list[str]) -> DemandCurve:
    """Frames of a curve (velocities were computed on the whole trial, so gaps do not distort them)."""
    def s(a: np.ndarray) -> np.ndarray:
        return a[mask]

    return DemandCurve(
        name=name, side=d.side, time_s=s(d.time_s), hip_flexion_rad=s(d.hip_flexion_rad),
        hip_adduction_rad=s(d.hip_adduction_rad), hip_rotation_rad=s(d.hip_rotation_rad),
        knee_flexion_rad=s(d.knee_flexion_rad), hip_extension_velocity_rad_s=s(d.hip_extension_velocity_rad_s),
        knee_flexion_velocity_rad_s=s(d.knee_flexion_velocity_rad_s),
        hip_extension_moment_nm=s(d.hip_extension_moment_nm), knee_flexion_moment_nm=s(d.knee_flexion_moment_nm),
        notes=d.notes + tuple(notes), warnings=d.warnings, body_mass_kg=d.body_mass_kg,
        has_knee_moment=d.has_knee_moment)
