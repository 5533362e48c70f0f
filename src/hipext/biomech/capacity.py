"""Clinical hip extension strength capacity (Anderson et al. 2007) and the share of it that tasks use.

``capacity_report`` is called by ``hipext evaluate``; it needs only the standard library's math (and PyYAML for
the data files), so evaluating a case never imports numpy. Arrays of angles and speeds still work (numpy).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hipext.biomech import anderson
from hipext.biomech._data import load_yaml
from hipext.biomech.knee_effect import knee_effect_at_test

TASKS_FILE = "task_demands.yaml"
MODES = ("isometric", "concentric", "eccentric")
CURVE_HIP_FLEXION_DEG = tuple(range(-20, 121, 10))
CURVE_VELOCITY_DEG_S = 60.0
CHECKS_FILE = "trial_checks.yaml"
FULL_CAPACITY_PERCENT = 100.0  # by definition: a task cannot use more than the maximum
ShareStatus = Literal["plausible", "estimate", "implausible"]
PEAK_SEARCH_DEG = (-20, 120, 1401)  # hip flexion range and grid of the peak isometric torque search
ECCENTRIC_SEARCH_RAD_S = (0, 8, 1601)  # eccentric speeds searched for the curve's peak

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class CapacityBasis:
    """How a capacity was obtained, so the share of it a task uses can be judged.

    ``setup_ratio`` is the measured torque over the whole-extensor torque the test position allows (the shipped
    musculoskeletal model's knee effect; below 1 the test under-represents the hamstrings). ``group_range_ratio``
    is the spread (C1 minus/plus one SD over the mean) of a capacity taken from the Anderson 2007 group mean
    without a measurement. ``group_position_sd`` places a measured capacity in SDs of the group's C1;
    ``units_reason`` says why the measured torque looks like a value in another unit.
    """

    scaled_to_measurement: bool
    setup_ratio: float | None = None
    setup_reason: str | None = None
    group_range_ratio: tuple[float, float] | None = None
    group_position_sd: float | None = None
    units_reason: str | None = None


@dataclass(frozen=True)
class ShareCheck:
    """The share of capacity a task uses, judged: plausible, a flagged estimate (with a range) or implausible.

    ``share_percent`` is the best estimate (corrected for the test set-up where the model can);
    ``reserve_percent`` is given only for a plausible share, never for a flagged one.
    """

    status: ShareStatus
    share_percent: float
    uncorrected_share_percent: float
    range_percent: tuple[float, float] | None
    reserve_percent: float | None
    reasons: tuple[str, ...]
    likely_causes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["share_percent"] = round(self.share_percent, 1)
        d["uncorrected_share_percent"] = round(self.uncorrected_share_percent, 1)
        d["range_percent"] = None if self.range_percent is None else [round(x, 1) for x in self.range_percent]
        d["reserve_percent"] = None if self.reserve_percent is None else round(self.reserve_percent, 1)
        d["reasons"] = list(self.reasons)
        d["likely_causes"] = list(self.likely_causes)
        d["likely_cause_labels"] = [cause_label(c) for c in self.likely_causes]
        return d

    def describe(self) -> str:
        """One line for a person reading the output."""
        if self.status == "plausible":
            return f"{self.share_percent:.0f} % (reserve {self.reserve_percent:.0f} %)"
        rng = ("" if self.range_percent is None else
               f", range {self.range_percent[0]:.0f}-{self.range_percent[1]:.0f} %")
        causes = ", ".join(cause_label(c) for c in self.likely_causes)
        word = "IMPLAUSIBLE" if self.status == "implausible" else "estimate"
        return f"{self.share_percent:.0f} % ({word}{rng}; likely cause: {causes})"


def share_checks() -> dict[str, Any]:
    return dict(load_yaml(CHECKS_FILE)["share_flags"])


def causes() -> dict[str, dict[str, Any]]:
    """The likely causes of a misleading share, by id (``trial_checks.yaml``)."""
    return {c["id"]: c for c in load_yaml(CHECKS_FILE)["causes"]}


def cause_label(cause_id: str) -> str:
    return str(causes()[cause_id]["label"])


def check_share(
    *,
    share_percent: float,
    basis: CapacityBasis | None,
    capacity_fraction_of_peak: float | None = None,
    demand_causes: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    explanations: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
) -> ShareCheck:
    """Judge a share of capacity: correct it for the test set-up, give its range, and flag it.

    Parameters
    ----------
    share_percent
        Demand over capacity at the task's angle and speed (%), as computed.
    basis
        How the capacity was obtained (None: unknown, nothing corrected).
    capacity_fraction_of_peak
        The capacity at the task's angle and speed over the person's peak isometric capacity.
    demand_causes
        (cause id, reason) found in the demand data itself (mismatched files, suspicious units): they flag.
    explanations
        (cause id, reason) that explain an implausible share but do not flag a plausible one (for example, a
        published demand measured on another person).
    """
    flags = share_checks()
    found: list[tuple[str, str]] = []
    best = float(share_percent)
    low = high = best
    ratio = None if basis is None else basis.setup_ratio
    if basis is not None and ratio is not None and ratio < flags["knee_effect_flag_below_ratio"]:
        best = share_percent * ratio
        low, high = best, float(share_percent)
        found.append(("test_setup", basis.setup_reason or "the test position under-represents the extensors"))
    if basis is not None and basis.group_position_sd is not None and \
            basis.group_position_sd < flags["group_sd_flag_below"]:
        found.append(("test_setup", f"the measured capacity lies {abs(basis.group_position_sd):.1f} SD below the "
                      "Anderson 2007 group mean for this sex and age: check the set-up (fixation, examiner "
                      "strength, position) before reading the share"))
    if basis is not None and basis.units_reason:
        found.insert(0, ("units", basis.units_reason))
    if basis is not None and basis.group_range_ratio is not None:
        lo_r, hi_r = basis.group_range_ratio
        low, high = min(low, best / hi_r), max(high, best / lo_r)
        found.append(("scaling", "no strength measurement: the capacity is the Anderson 2007 group mean for this "
                      "sex, age and size, and the range spans one SD of the group"))
    if capacity_fraction_of_peak is not None and capacity_fraction_of_peak < flags["capacity_fraction_flag_below"]:
        found.append(("scaling", f"at the peak's hip angle and speed the capacity curve predicts only "
                      f"{100 * capacity_fraction_of_peak:.0f} % of the person's peak isometric torque: an "
                      "extrapolation of the scaled group curve"))
    found.extend(demand_causes)
    reasons = [r for _, r in found]
    if best > FULL_CAPACITY_PERCENT:
        status: ShareStatus = "implausible"
        found.extend(explanations)
        reasons = [f"{best:.0f} % would mean the task needs more than the person's maximum, which cannot be true "
                   "of a task the person performs: the combination of demand and capacity is implausible",
                   *(r for _, r in found)]
        ids = list(dict.fromkeys(c for c, _ in found)) or list(causes())
    else:
        status = "estimate" if found else "plausible"
        ids = list(dict.fromkeys(c for c, _ in found))
    return ShareCheck(
        status=status, share_percent=best, uncorrected_share_percent=float(share_percent),
        range_percent=(low, high) if (low, high) != (best, best) else None,
        reserve_percent=FULL_CAPACITY_PERCENT - best if status == "plausible" else None,
        reasons=tuple(dict.fromkeys(reasons)), likely_causes=tuple(ids),
    )


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
    basis: CapacityBasis | None = None

    def torque_nm(
        self, *, hip_flexion_rad: np.ndarray | float, extension_velocity_rad_s: np.ndarray | float = 0.0
    ) -> Any:
        """Maximum voluntary hip extension torque (N m): a float for scalar inputs, else an array.

        Parameters
        ----------
        hip_flexion_rad
            Hip flexion angle(s) in rad (flexion positive).
        extension_velocity_rad_s
            Hip extension velocity in rad/s: positive concentric, negative eccentric.
        """
        return self.torque_scale_nm * self.params.torque_per_mgh(hip_flexion_rad, extension_velocity_rad_s)

    @property
    def scaled_to_measurement_with_height(self) -> bool:
        """Scaled to a measurement and comparable with the group mean (height known)."""
        return self.scale_factor is not None

    def peak_isometric_nm(self) -> tuple[float, float]:
        """(peak isometric torque N m, hip flexion rad at the peak) over -20..120 deg."""
        per_mgh, theta = _peak_isometric_per_mgh(self.params)
        return self.torque_scale_nm * per_mgh, theta


def _linspace(start: float, stop: float, num: int) -> list[float]:
    """numpy.linspace in plain floats, the same arithmetic (start + i * step, the end point exact)."""
    start, stop = float(start), float(stop)
    step = (stop - start) / (num - 1)
    return [start + i * step for i in range(num - 1)] + [stop]


@functools.lru_cache(maxsize=64)
def _peak_isometric_per_mgh(params: anderson.AndersonParameters) -> tuple[float, float]:
    """(peak of the normalised isometric surface, hip flexion rad there), first maximum on the search grid.

    Depends on the group only (the person's scale multiplies it), so it is searched once per group and process.
    """
    theta = [math.radians(d) for d in _linspace(*PEAK_SEARCH_DEG)]
    isometric = params.velocity_factor(0.0)  # torque_per_mgh(x) is active(x) * this, the same arithmetic
    t = [params.active_torque_per_mgh(x) * isometric for x in theta]
    i = t.index(max(t))
    return t[i], theta[i]


@functools.lru_cache(maxsize=64)
def _eccentric_peak(params: anderson.AndersonParameters) -> tuple[float, float, float | None]:
    """(peak eccentric factor, rad/s there, lowest faster speed where it falls below isometric or None)."""
    ws = _linspace(*ECCENTRIC_SEARCH_RAD_S)
    f = [params.velocity_factor(-w) for w in ws]
    i = f.index(max(f))
    below = next((w for w, x in zip(ws[i + 1:], f[i + 1:], strict=True) if x < 1.0), None)
    return f[i], ws[i], below


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
    test_knee_flexion_deg: float | None = None,
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
    test_knee_flexion_deg
        Knee flexion of the test (deg): a flexed knee under-represents the hamstrings, which the capacity's
        ``basis`` records (from the musculoskeletal model) so shares can be corrected and flagged.
    """
    params, caveats = anderson.select_group(sex=sex, age=age)
    mass = _check_positive("body_mass_kg", body_mass_kg, low=10.0, high=400.0, unit="kg")
    height = None if height_m is None else _check_positive("height_m", height_m, low=0.5, high=2.6, unit="m")
    w_test = signed_velocity_rad_s(velocity_deg_s=test_velocity_deg_s, mode=test_mode)
    g = anderson.gravity_m_per_s2()
    if measured_torque_nm is None:
        if height is None:
            return None
        sd = anderson.c1_sd(params)
        spread = ((params.c1 - sd) / params.c1, (params.c1 + sd) / params.c1) if sd < params.c1 else None
        return PersonCapacity(params=params, torque_scale_nm=mass * g * height, scale_factor=None, caveats=caveats,
                              basis=CapacityBasis(scaled_to_measurement=False, group_range_ratio=spread))
    measured = _check_positive("measured_torque_nm", measured_torque_nm, low=1e-6, high=2000.0, unit="N m")
    if test_hip_flexion_deg is None:
        raise ValueError("test_hip_flexion_deg: got None; a measured torque needs the hip flexion angle of the test")
    theta = math.radians(_check_positive("test_hip_flexion_deg", test_hip_flexion_deg, low=-30, high=130, unit="deg"))
    if test_knee_flexion_deg is not None:
        _check_positive("test_knee_flexion_deg", test_knee_flexion_deg, low=-10, high=160, unit="deg")
    predicted_per_mgh = float(params.torque_per_mgh(theta, w_test))
    if predicted_per_mgh <= 1e-6:
        raise ValueError(
            f"test_hip_flexion_deg: got {test_hip_flexion_deg!r} at {test_velocity_deg_s!r} deg/s {test_mode}; "
            "the Anderson 2007 surface predicts no torque there, so it cannot be scaled to the measurement"
        )
    scale_nm = measured / predicted_per_mgh
    ratio, reason = _setup_effect(test_hip_flexion_deg, test_knee_flexion_deg)
    if height is None:
        caveats = caveats + [
            "Height not given: the curve is the Anderson 2007 shape passed through the measured torque; "
            "no comparison with the group mean (which needs m*g*h) is possible."
        ]
        return PersonCapacity(params=params, torque_scale_nm=scale_nm, scale_factor=None, caveats=caveats,
                              basis=CapacityBasis(scaled_to_measurement=True, setup_ratio=ratio,
                                                  setup_reason=reason))
    factor = scale_nm / (mass * g * height)
    position = (factor - 1.0) * params.c1 / anderson.c1_sd(params)
    units = None
    window = load_yaml(CHECKS_FILE)["hip_moment_peak_nm_per_kg"]
    if position < share_checks()["group_sd_flag_below"] and measured <= window["high"]:
        units = (f"the measured torque {measured:g} N m is far below the group and would fit a value in N m/kg "
                 f"({measured * mass:.0f} N m for {mass:g} kg): check its unit")
    return PersonCapacity(
        params=params, torque_scale_nm=scale_nm, scale_factor=factor, caveats=caveats,
        basis=CapacityBasis(scaled_to_measurement=True, setup_ratio=ratio, setup_reason=reason,
                            group_position_sd=position, units_reason=units),
    )


def _setup_effect(hip_flexion_deg: float | None, knee_flexion_deg: float | None) -> tuple[float | None, str | None]:
    """(measured / knee-extended torque, reason) of a knee-flexed test, from the musculoskeletal model."""
    if hip_flexion_deg is None or knee_flexion_deg is None:
        return None, None
    eff = knee_effect_at_test(hip_flexion_deg=float(hip_flexion_deg), knee_flexion_deg=float(knee_flexion_deg))
    if eff is None or eff["ratio_to_knee_extended"] >= share_checks()["knee_effect_flag_below_ratio"]:
        return None, None
    r = float(eff["ratio_to_knee_extended"])
    return r, (f"tested with the knee flexed {knee_flexion_deg:g} deg: the musculoskeletal model "
               f"(RajagopalLaiUhlrich2023) gives {100 * r:.0f} % of the knee-extended hip extension torque at "
               f"{hip_flexion_deg:g} deg hip flexion (hamstrings slack), so the capacity is divided by {r:.2f}; "
               "the range spans the uncorrected figure")


def task_table() -> list[dict[str, Any]]:
    """The task demand rows of ``task_demands.yaml``."""
    return list(load_yaml(TASKS_FILE)["tasks"])


def _task_capacity_nm(cap: PersonCapacity, task: dict[str, Any], peak_iso_nm: float) -> float:
    """Capacity at the task's peak angle and speed; the peak isometric capacity when the angle is unknown."""
    if task.get("at_hip_flexion_deg") is None:
        return peak_iso_nm
    vel = task.get("hip_extension_velocity_deg_s") or 0.0
    return float(cap.torque_nm(hip_flexion_rad=math.radians(task["at_hip_flexion_deg"]),
                               extension_velocity_rad_s=math.radians(vel)))


def task_rows(cap: PersonCapacity | None, *, body_mass_kg: float,
              group: PersonCapacity | None = None) -> list[dict[str, Any]]:
    """Peak demand of each task and the share of the person's capacity it uses, each share judged
    (``share_check``): corrected for the test set-up with its range, and flagged when implausible.

    ``group`` (the Anderson 2007 group mean for the person's sex, age and size) adds, for reference, the share
    the task would use for an average healthy adult (``group_mean_share_percent``).
    """
    rows = []
    peak_iso = cap.peak_isometric_nm()[0] if cap is not None else 0.0
    group_peak = group.peak_isometric_nm()[0] if group is not None else 0.0
    for t in task_table():
        per_kg = t.get("peak_hip_extension_moment_nm_per_kg")
        row: dict[str, Any] = {
            "task": t["id"],
            "label": t["label"],
            "peak_demand_nm": None,
            "peak_demand_nm_per_kg": per_kg,
            "share_of_capacity_percent": None,
            "reserve_percent": None,
            "share_status": None,
            "share_range_percent": None,
            "share_check": None,
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
        if group is not None and (g_cap := _task_capacity_nm(group, t, group_peak)) > 0:
            row["group_mean_share_percent"] = round(100.0 * demand / g_cap, 1)
        if cap is not None:
            capacity = _task_capacity_nm(cap, t, peak_iso)
            if capacity > 0:
                check = check_share(
                    share_percent=100.0 * demand / capacity, basis=cap.basis,
                    capacity_fraction_of_peak=capacity / peak_iso if peak_iso > 0 else None,
                    explanations=[("different_subjects", f"the demand is a published peak ({t['source']}: "
                                   f"{t.get('note') or t['label']}) scaled by body mass, not this person's own")],
                )
                row["share_of_capacity_percent"] = round(check.share_percent, 1)
                row["reserve_percent"] = None if check.reserve_percent is None else round(check.reserve_percent, 1)
                row["share_status"] = check.status
                row["share_range_percent"] = check.as_dict()["range_percent"]
                row["share_check"] = check.as_dict()
                row["capacity_nm"] = round(100.0 * demand / check.share_percent, 1)
                if check.status != "plausible":
                    row["sources"] = row["sources"] + [s for c in check.likely_causes
                                                       for s in causes()[c].get("sources", [])
                                                       if s not in row["sources"]]
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
        test_knee_flexion_deg=test_knee_flexion_deg,
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
        theta = [math.radians(float(d)) for d in CURVE_HIP_FLEXION_DEG]
        w = math.radians(CURVE_VELOCITY_DEG_S)
        iso = [cap.torque_nm(hip_flexion_rad=x) for x in theta]
        con = [cap.torque_nm(hip_flexion_rad=x, extension_velocity_rad_s=w) for x in theta]
        ecc = [cap.torque_nm(hip_flexion_rad=x, extension_velocity_rad_s=-w) for x in theta]
        curve = [
            {
                "hip_flexion_deg": float(d),
                "isometric_nm": round(float(a), 1),
                "concentric_60_nm": round(float(b), 1),
                "eccentric_60_nm": round(float(c), 1),
            }
            for d, a, b, c in zip(CURVE_HIP_FLEXION_DEG, iso, con, ecc, strict=True)
        ]
    caveats.extend(anderson.data_caveats())
    # Where the (unverified) eccentric curve peaks and where it falls below isometric.
    f_peak, w_peak, below = _eccentric_peak(params)
    caveats.append(
        f"For this group the eccentric curve peaks at {f_peak:.3f} x isometric at "
        f"{math.degrees(w_peak):.0f} deg/s"
        + (f" and falls below isometric above about {math.degrees(below):.0f} deg/s" if below is not None else "")
        + " (behaviour of the unverified eccentric form, not a measured finding)."
    )
    knee_effect = None
    if test_knee_flexion_deg is not None and test_hip_flexion_deg is not None:
        knee_effect = knee_effect_at_test(hip_flexion_deg=float(test_hip_flexion_deg),
                                          knee_flexion_deg=float(test_knee_flexion_deg))
        if knee_effect and cap is not None and cap.basis is not None and cap.basis.setup_ratio is not None:
            left = 100 * cap.basis.setup_ratio
            caveats.append(
                f"Tested with the knee flexed {test_knee_flexion_deg:g} deg: the hamstrings are shortened and "
                "contribute less, so the measured torque mostly reflects gluteus maximus. Musculoskeletal model "
                f"(RajagopalLaiUhlrich2023): at {test_hip_flexion_deg:g} deg hip flexion this position leaves "
                f"{left:.0f} % of the knee-extended maximum hip extension torque; gluteus maximus makes "
                f"{knee_effect['gluteus_maximus_share_percent']:.0f} % of it (vs "
                f"{knee_effect['gluteus_maximus_share_percent_knee_extended']:.0f} % knee extended). "
                "Task shares are therefore corrected for the position and shown as estimates with a range from the "
                "corrected to the uncorrected figure; the torque-angle curve itself is not corrected, because the "
                "knee position of Anderson's tests was not read."
            )
    group = None
    if cap is not None and cap.scaled_to_measurement_with_height:
        group = person_capacity(sex=sex, age=age, body_mass_kg=mass, height_m=height_m)
    tasks = task_rows(cap, body_mass_kg=mass, group=group)
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
