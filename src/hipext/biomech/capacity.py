"""Clinical hip extension strength capacity (Anderson et al. 2007) and the share of it that tasks use.

``capacity_report`` is called by ``hipext evaluate``; it needs only numpy (and PyYAML for the data files).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hipext.biomech import anderson
from hipext.biomech._data import load_yaml

TASKS_FILE = "task_demands.yaml"
MODES = ("isometric", "concentric", "eccentric")
CURVE_HIP_FLEXION_DEG = tuple(range(-20, 121, 10))
CURVE_VELOCITY_DEG_S = 60.0


@dataclass(frozen=True)
class PersonCapacity:
    """Hip extension capacity of one person: an Anderson 2007 surface times a torque scale.

    ``torque_scale_nm`` multiplies the normalised (per m*g*h) surface. It equals m*g*h for the group mean, and
    m*g*h times the person's scale factor when scaled to a measurement.
    """

    params: anderson.AndersonParameters
    torque_scale_nm: float
    scale_factor: float | None
    caveats: list[str] = field(default_factory=list)

    def torque_nm(
        self, *, hip_flexion_rad: np.ndarray | float, extension_velocity_rad_s: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """Maximum voluntary hip extension torque (N m).

        Parameters
        ----------
        hip_flexion_rad
            Hip flexion angle(s) in rad (flexion positive).
        extension_velocity_rad_s
            Hip extension velocity in rad/s: positive concentric, negative eccentric.
        """
        return self.torque_scale_nm * self.params.torque_per_mgh(hip_flexion_rad, extension_velocity_rad_s)

    def peak_isometric_nm(self) -> tuple[float, float]:
        """(peak isometric torque N m, hip flexion rad at the peak) over -20..120 deg."""
        theta = np.deg2rad(np.linspace(-20, 120, 1401))
        t = self.torque_nm(hip_flexion_rad=theta)
        i = int(np.argmax(t))
        return float(t[i]), float(theta[i])


def _check_positive(name: str, value: Any, *, low: float, high: float, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: got {value!r}; expected a number in {unit}") from None
    if not math.isfinite(v) or not (low <= v <= high):
        raise ValueError(f"{name}: got {value!r}; expected {low:g} to {high:g} {unit}")
    return v


def signed_velocity_rad_s(*, velocity_deg_s: float, mode: str) -> float:
    """Convert a test speed (deg/s, magnitude) and mode into a signed extension velocity (rad/s)."""
    if mode not in MODES:
        raise ValueError(f"test_mode: got {mode!r}; expected one of {', '.join(MODES)}")
    v = _check_positive("test_velocity_deg_s", velocity_deg_s, low=0.0, high=1000.0, unit="deg/s")
    if mode == "isometric":
        if v != 0:
            raise ValueError(f"test_velocity_deg_s: got {velocity_deg_s!r}; expected 0 for an isometric test")
        return 0.0
    if v == 0:
        raise ValueError(f"test_velocity_deg_s: got 0 with test_mode {mode!r}; expected a speed above 0 deg/s")
    w = math.radians(v)
    return w if mode == "concentric" else -w


def person_capacity(
    *,
    sex: str,
    age: int,
    body_mass_kg: float,
    height_m: float | None,
    measured_torque_nm: float | None = None,
    test_hip_flexion_deg: float | None = None,
    test_velocity_deg_s: float = 0.0,
    test_mode: str = "isometric",
) -> PersonCapacity | None:
    """Build a person's capacity surface; ``None`` when neither height nor a measurement is available.

    Parameters
    ----------
    sex, age
        Select the Anderson 2007 group.
    body_mass_kg, height_m
        Body mass (kg) and height (m); Anderson normalises torque by m*g*h.
    measured_torque_nm
        Measured maximum hip extension torque (N m) at ``test_hip_flexion_deg`` and the given speed and mode.
    """
    params, caveats = anderson.select_group(sex=sex, age=age)
    mass = _check_positive("body_mass_kg", body_mass_kg, low=10.0, high=400.0, unit="kg")
    height = None if height_m is None else _check_positive("height_m", height_m, low=0.5, high=2.6, unit="m")
    w_test = signed_velocity_rad_s(velocity_deg_s=test_velocity_deg_s, mode=test_mode)
    g = anderson.gravity_m_per_s2()
    if measured_torque_nm is None:
        if height is None:
            return None
        return PersonCapacity(params=params, torque_scale_nm=mass * g * height, scale_factor=None, caveats=caveats)
    measured = _check_positive("measured_torque_nm", measured_torque_nm, low=1e-6, high=2000.0, unit="N m")
    if test_hip_flexion_deg is None:
        raise ValueError("test_hip_flexion_deg: got None; a measured torque needs the hip flexion angle of the test")
    theta = math.radians(_check_positive("test_hip_flexion_deg", test_hip_flexion_deg, low=-30, high=130, unit="deg"))
    predicted_per_mgh = float(params.torque_per_mgh(theta, w_test))
    if predicted_per_mgh <= 1e-6:
        raise ValueError(
            f"test_hip_flexion_deg: got {test_hip_flexion_deg!r} at {test_velocity_deg_s!r} deg/s {test_mode}; "
            "the Anderson 2007 surface predicts no torque there, so it cannot be scaled to the measurement"
        )
    scale_nm = measured / predicted_per_mgh
    if height is None:
        caveats = caveats + [
            "Height not given: the curve is the Anderson 2007 shape passed through the measured torque; "
            "no comparison with the group mean (which needs m*g*h) is possible."
        ]
        return PersonCapacity(params=params, torque_scale_nm=scale_nm, scale_factor=None, caveats=caveats)
    return PersonCapacity(
        params=params, torque_scale_nm=scale_nm, scale_factor=scale_nm / (mass * g * height), caveats=caveats
    )


def task_table() -> list[dict[str, Any]]:
    """The task demand rows of ``task_demands.yaml``."""
    return list(load_yaml(TASKS_FILE)["tasks"])


def task_rows(cap: PersonCapacity | None, *, body_mass_kg: float) -> list[dict[str, Any]]:
    """Peak demand of each task and the share of the person's capacity it uses."""
    rows = []
    for t in task_table():
        per_kg = t.get("peak_hip_extension_moment_nm_per_kg")
        row: dict[str, Any] = {
            "task": t["id"],
            "label": t["label"],
            "peak_demand_nm": None,
            "peak_demand_nm_per_kg": per_kg,
            "share_of_capacity_percent": None,
            "reserve_percent": None,
            "at_hip_flexion_deg": t.get("at_hip_flexion_deg"),
            "hip_extension_velocity_deg_s": t.get("hip_extension_velocity_deg_s"),
            "sources": [t["source"]] + (["anderson2007"] if cap is not None else []),
            "level": t["level"],
            "note": t.get("note") or "",
        }
        if per_kg is None:
            if "no published value retrieved" not in row["note"].lower():
                row["note"] = "No published value retrieved. " + row["note"]
            rows.append(row)
            continue
        demand = float(per_kg) * body_mass_kg
        row["peak_demand_nm"] = round(demand, 1)
        if cap is not None:
            if t.get("at_hip_flexion_deg") is None:
                capacity, _ = cap.peak_isometric_nm()
            else:
                vel = t.get("hip_extension_velocity_deg_s") or 0.0
                capacity = float(
                    cap.torque_nm(
                        hip_flexion_rad=math.radians(t["at_hip_flexion_deg"]),
                        extension_velocity_rad_s=math.radians(vel),
                    )
                )
            if capacity > 0:
                share = 100.0 * demand / capacity
                row["share_of_capacity_percent"] = round(share, 1)
                row["reserve_percent"] = round(100.0 - share, 1)
                row["capacity_nm"] = round(capacity, 1)
        rows.append(row)
    return rows


def capacity_report(
    *,
    sex: str,
    age: int,
    body_mass_kg: float,
    height_m: float | None,
    measured_torque_nm: float | None,
    test_hip_flexion_deg: float | None,
    test_knee_flexion_deg: float | None,
    test_velocity_deg_s: float = 0.0,
    test_mode: str = "isometric",
) -> dict[str, Any]:
    """Predicted hip extension torque-angle curve and the share of capacity each task uses.

    Parameters
    ----------
    sex
        'male' or 'female'.
    age
        Years.
    body_mass_kg
        Body mass (kg).
    height_m
        Height (m) or None. Anderson 2007 normalises by m*g*h: without height the absolute curve is available
        only when scaled to a measured torque.
    measured_torque_nm
        Measured maximum hip extension torque (N m) or None.
    test_hip_flexion_deg, test_knee_flexion_deg
        Hip and knee flexion angles (deg) of the test.
    test_velocity_deg_s
        Test speed magnitude (deg/s); 0 for isometric.
    test_mode
        'isometric', 'concentric' or 'eccentric'.

    Returns
    -------
    dict
        JSON-serialisable report (see the module documentation of hipext.biomech.capacity).
    """
    mass = _check_positive("body_mass_kg", body_mass_kg, low=10.0, high=400.0, unit="kg")
    if test_knee_flexion_deg is not None:
        _check_positive("test_knee_flexion_deg", test_knee_flexion_deg, low=-10, high=160, unit="deg")
    cap = person_capacity(
        sex=sex,
        age=age,
        body_mass_kg=mass,
        height_m=height_m,
        measured_torque_nm=measured_torque_nm,
        test_hip_flexion_deg=test_hip_flexion_deg,
        test_velocity_deg_s=test_velocity_deg_s,
        test_mode=test_mode,
    )
    params, group_caveats = anderson.select_group(sex=sex, age=age)
    caveats = list(group_caveats)
    curve: list[dict[str, Any]] = []
    if cap is None:
        caveats.append(
            "Height not given and no measured torque: the absolute torque-angle curve and the share of capacity "
            "cannot be computed (Anderson 2007 torques scale with body mass x g x height)."
        )
    else:
        caveats = list(cap.caveats)
        theta = np.deg2rad(np.array(CURVE_HIP_FLEXION_DEG, dtype=float))
        w = math.radians(CURVE_VELOCITY_DEG_S)
        iso = cap.torque_nm(hip_flexion_rad=theta)
        con = cap.torque_nm(hip_flexion_rad=theta, extension_velocity_rad_s=w)
        ecc = cap.torque_nm(hip_flexion_rad=theta, extension_velocity_rad_s=-w)
        curve = [
            {
                "hip_flexion_deg": float(d),
                "isometric_nm": round(float(a), 1),
                "concentric_60_nm": round(float(b), 1),
                "eccentric_60_nm": round(float(c), 1),
            }
            for d, a, b, c in zip(CURVE_HIP_FLEXION_DEG, iso, con, ecc, strict=True)
        ]
    if test_knee_flexion_deg is not None and test_knee_flexion_deg >= 60:
        caveats.append(
            f"Tested with the knee flexed {test_knee_flexion_deg:g} deg: the hamstrings are shortened and contribute "
            "less, so the measured torque mostly reflects gluteus maximus and underestimates whole-extensor capacity."
        )
    caveats.extend(anderson.data_caveats())
    # Where the (unverified) eccentric curve peaks and where it falls below isometric.
    ws = np.linspace(0, 8, 1601)
    f_ecc = params.velocity_factor(-ws)
    i_max = int(np.argmax(f_ecc))
    below = ws[(f_ecc < 1.0) & (ws > ws[i_max])]
    caveats.append(
        f"For this group the eccentric curve peaks at {f_ecc[i_max]:.3f} x isometric at "
        f"{math.degrees(ws[i_max]):.0f} deg/s"
        + (f" and falls below isometric above about {math.degrees(below[0]):.0f} deg/s" if below.size else "")
        + " (behaviour of the unverified eccentric form, not a measured finding)."
    )
    knee_effect = None
    if test_knee_flexion_deg is not None and test_hip_flexion_deg is not None:
        knee_effect = knee_effect_at_test(hip_flexion_deg=float(test_hip_flexion_deg),
                                          knee_flexion_deg=float(test_knee_flexion_deg))
        if knee_effect and knee_effect["ratio_to_knee_extended"] < 0.95:
            left = 100 * knee_effect["ratio_to_knee_extended"]
            caveats.append(
                f"Musculoskeletal model (RajagopalLaiUhlrich2023): at {test_hip_flexion_deg:g} deg hip flexion the "
                f"knee-{test_knee_flexion_deg:g}-deg position leaves {left:.0f} % "
                "of the knee-extended maximum hip extension torque; gluteus maximus makes "
                f"{knee_effect['gluteus_maximus_share_percent']:.0f} % of it (vs "
                f"{knee_effect['gluteus_maximus_share_percent_knee_extended']:.0f} % knee extended). "
                "The curve is not corrected for this because the knee position of Anderson's tests was not read."
            )
    tasks = task_rows(cap, body_mass_kg=mass)
    sources = ["anderson2007", "millard_rbdl"] + sorted({s for t in tasks for s in t["sources"]} - {"anderson2007"})
    return {
        "model": "anderson2007",
        "level": "secondary",
        "group": {"sex": params.sex, "age_group": params.age_group},
        "scaled_to_measurement": measured_torque_nm is not None and cap is not None,
        "scale_factor": None if cap is None or cap.scale_factor is None else round(cap.scale_factor, 3),
        "test": {
            "measured_torque_nm": measured_torque_nm,
            "hip_flexion_deg": test_hip_flexion_deg,
            "knee_flexion_deg": test_knee_flexion_deg,
            "velocity_deg_s": test_velocity_deg_s,
            "mode": test_mode,
        },
        "torque_angle_curve": curve,
        "knee_effect": knee_effect,
        "tasks": tasks,
        "caveats": caveats,
        "sources": sources,
    }


GLMAX = ("glmax1_r", "glmax2_r", "glmax3_r")
HAMSTRINGS = ("bflh_r", "semiten_r", "semimem_r")


def knee_effect_at_test(*, hip_flexion_deg: float, knee_flexion_deg: float) -> dict[str, Any] | None:
    """What the knee angle of a strength test does to hip extension torque, from the shipped musculoskeletal model.

    Returns the ratio of the model's maximum isometric hip extension torque at the test knee angle to that with
    the knee extended (same hip angle), and the gluteus maximus and hamstring shares at both; None when the
    compiled model is unavailable. Angles are clipped to the model's fitted range.
    """
    try:
        from hipext.biomech.model import HipExtensorModel, poses_from_degrees

        m = HipExtensorModel.load()
    except (OSError, ValueError, KeyError):
        return None
    q = poses_from_degrees(hip_flexion_deg=[hip_flexion_deg, hip_flexion_deg],
                           knee_flexion_deg=[knee_flexion_deg, 0.0])
    r = m.hip_extension_torque(poses_rad=q, out_of_range="clip")
    gl = [m.muscles.index(x) for x in GLMAX if x in m.muscles]
    ha = [m.muscles.index(x) for x in HAMSTRINGS if x in m.muscles]
    sh = r["share_percent"]
    return {
        "model": m.provenance.get("model_file", "compiled model"),
        "hip_flexion_deg": hip_flexion_deg,
        "knee_flexion_deg": knee_flexion_deg,
        "ratio_to_knee_extended": round(float(r["total_nm"][0] / r["total_nm"][1]), 3),
        "gluteus_maximus_share_percent": round(float(sh[0, gl].sum()), 1),
        "gluteus_maximus_share_percent_knee_extended": round(float(sh[1, gl].sum()), 1),
        "hamstrings_share_percent": round(float(sh[0, ha].sum()), 1),
        "hamstrings_share_percent_knee_extended": round(float(sh[1, ha].sum()), 1),
        "level": "secondary",
        "sources": ["rajagopal2016", "lai2017", "uhlrich2022"],
        "note": "Model estimate (OpenSim RajagopalLaiUhlrich2023 muscles at full activation), not a measurement.",
    }
