"""Small C3D files written with ezc3d (the library hipext reads them with), shaped like the labs' files.

``write_gait_c3d`` builds a Plug-in Gait / CGM processed walking trial from the shared OpenSim walking example
(hip and knee angles in degrees, internal moments in N mm/kg with MOMENT_UNITS 'Nmm', PROCESSING:Bodymass,
foot strike / foot off events, frames without kinetics as NaN), repeated over several cycles.
``write_isokinetic_c3d`` builds an isokinetic dynamometer export (angle, torque, velocity, EMG analog channels).
"""

from __future__ import annotations

from pathlib import Path

import ezc3d
import numpy as np

from hipext.biomech.tasks import demand_curve

from .conftest import SHARED

WALK = SHARED / "data" / "walking_gait2392"


def walking_cycle() -> dict[str, np.ndarray]:
    """One walking cycle of the shared example on a 100 Hz grid (degrees; N m; right leg)."""
    d = demand_curve(kinematics_path=WALK / "subject01_walk1_ik.mot",
                     moments_path=WALK / "subject01_walk1_inverse_dynamics.sto")
    t = np.arange(d.time_s[0], d.time_s[-1], 0.01)
    deg = {k: np.rad2deg(np.interp(t, d.time_s, getattr(d, k))) for k in
           ("hip_flexion_rad", "hip_adduction_rad", "hip_rotation_rad", "knee_flexion_rad")}
    return {"hip": np.stack([deg["hip_flexion_rad"], deg["hip_adduction_rad"], deg["hip_rotation_rad"]]),
            "knee": np.stack([deg["knee_flexion_rad"], np.zeros_like(t), np.zeros_like(t)]),
            "hip_ext_nm": np.interp(t, d.time_s, d.hip_extension_moment_nm),
            "knee_flex_nm": np.interp(t, d.time_s, d.knee_flexion_moment_nm)}


def write_gait_c3d(path: Path, *, mass_kg: float = 72.6, cycles: int = 3, side: str = "L", rate: float = 100.0,
                   first_frame: int = 20, moment_scale: float = 1.0, no_kinetics_cycle: int | None = None,
                   labels: dict[str, str] | None = None, moment_units: str = "Nmm", per_kg: bool = True,
                   body_mass_parameter: bool = True, events: bool = True) -> dict[str, float]:
    """Write a processed gait C3D; returns the file's own peak hip extension moment (N mm/kg and N m)."""
    cyc = walking_cycle()
    n1 = cyc["hip"].shape[1]
    n = n1 * cycles
    names = {"hip_angles": f"{side}HipAngles", "knee_angles": f"{side}KneeAngles",
             "hip_moment": f"{side}HipMoment", "knee_moment": f"{side}KneeMoment", **(labels or {})}
    other = "R" if side == "L" else "L"
    hip_x = np.tile(cyc["hip_ext_nm"], cycles) * moment_scale  # internal extensor moment, N m
    knee_x = -np.tile(cyc["knee_flex_nm"], cycles) * moment_scale  # internal extensor moment, N m
    factor = (1000.0 if moment_units.lower().startswith("nmm") else 1.0) / (mass_kg if per_kg else 1.0)
    pts = np.zeros((4, 6, n))
    pts[3] = 0.0  # residual 0: valid
    pts[:3, 0] = np.tile(cyc["hip"], cycles)
    pts[:3, 1] = np.tile(cyc["knee"], cycles)
    pts[0, 2] = hip_x * factor
    pts[0, 3] = knee_x * factor
    pts[:3, 4] = np.tile(cyc["hip"], cycles)  # the other side's angles (same data)
    pts[:3, 5] = 10.0  # a marker
    if no_kinetics_cycle is not None:
        k = no_kinetics_cycle - 1
        pts[:3, 2:4, k * n1:(k + 1) * n1] = np.nan
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [rate]
    c["parameters"]["POINT"]["LABELS"]["value"] = (names["hip_angles"], names["knee_angles"], names["hip_moment"],
                                                   names["knee_moment"], f"{other}HipAngles", f"{side}ASI")
    c["data"]["points"] = pts
    c["header"]["points"]["first_frame"] = first_frame
    c.add_parameter("POINT", "ANGLE_UNITS", ["deg"])
    c.add_parameter("POINT", "MOMENT_UNITS", [moment_units])
    if body_mass_parameter:
        c.add_parameter("PROCESSING", "Bodymass", [mass_kg])
    if events:
        t0 = first_frame / rate
        strikes = [t0 + i * n1 / rate for i in range(cycles)] + [t0 + (n - 1) / rate]
        word = "Left" if side == "L" else "Right"
        labs = ["Foot Strike"] * len(strikes) + ["Foot Off"] * cycles
        ctx = [word] * len(labs)
        times = strikes + [s + 0.6 * n1 / rate for s in strikes[:-1]]
        c.add_parameter("EVENT", "USED", [len(labs)])
        c.add_parameter("EVENT", "LABELS", labs)
        c.add_parameter("EVENT", "CONTEXTS", ctx)
        c.add_parameter("EVENT", "TIMES", np.array([np.zeros(len(times)), times]))
    c.write(str(path))
    stored = pts[0, 2]
    return {"peak_stored": float(np.nanmax(stored)), "peak_nm": float(np.nanmax(hip_x[np.isfinite(stored)]))}


def write_isokinetic_c3d(path: Path, *, reps: int = 4, velocity_deg_s: float = 60.0, peak_nm: float = 180.0,
                         rate: float = 1000.0, start_deg: float = 90.0, end_deg: float = 0.0,
                         labels: tuple[str, str, str] = ("Angle", "Torque", "Velocity"),
                         units: tuple[str, str, str] = ("deg", "Nm", "deg/s"), emg: bool = True,
                         rest_s: float = 0.8) -> dict[str, list[float]]:
    """Write a concentric hip extension isokinetic test: each repetition sweeps start_deg -> end_deg (hip
    flexion falling) at constant speed with a sine-shaped torque, then the limb returns passively.

    Returns the expected peak torque, angle of peak and work (J) per repetition.
    """
    dt = 1.0 / rate
    sweep_s = abs(start_deg - end_deg) / velocity_deg_s
    ang, tq, vel = [], [], []
    peaks, at_peak, works = [], [], []
    for r in range(reps):
        pk = peak_nm * (1.0 - 0.03 * r)
        n = int(round(sweep_s * rate))
        a = np.linspace(start_deg, end_deg, n)
        s = np.sin(np.linspace(0, np.pi, n)) ** 1.5
        t = pk * s
        ang.append(a)
        tq.append(t)
        vel.append(np.full(n, velocity_deg_s))
        i = int(np.argmax(t))
        peaks.append(float(t[i]))
        at_peak.append(float(a[i]))
        works.append(float(np.trapezoid(t, np.deg2rad(start_deg - a))))
        m = int(round(rest_s * rate))  # passive return and rest: flexing back, no extension torque
        back = np.linspace(end_deg, start_deg, m)
        ang.append(back)
        tq.append(np.full(m, -2.0))
        vel.append(np.full(m, -(start_deg - end_deg) / rest_s))
    angle, torque, velocity = (np.concatenate(x) for x in (ang, tq, vel))
    chans = [angle, torque, velocity]
    names = list(labels)
    unit_list = list(units)
    if emg:
        rng = np.random.default_rng(0)
        chans += [rng.normal(0, 0.05, angle.size), rng.normal(0, 0.05, angle.size)]
        names += ["EMG GMax", "EMG BF"]
        unit_list += ["mV", "mV"]
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [100.0]
    c["parameters"]["ANALOG"]["RATE"]["value"] = [rate]
    c["parameters"]["ANALOG"]["LABELS"]["value"] = tuple(names)
    c["parameters"]["ANALOG"]["UNITS"]["value"] = tuple(unit_list)
    ratio = int(rate / 100.0)
    n_frames = angle.size // ratio
    analogs = np.stack(chans)[:, : n_frames * ratio]
    c["data"]["analogs"] = analogs[None]
    c["data"]["points"] = np.zeros((4, 0, n_frames))
    c.write(str(path))
    return {"peak_nm": peaks, "angle_deg": at_peak, "work_j": works, "dt": [dt]}
