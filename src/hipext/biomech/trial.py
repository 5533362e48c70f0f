"""One trial, start to finish: read the files, build the demand, judge it against capacity, split it among muscles.

``analyse_trial`` is the per-trial work of both ``hipext model task`` and ``hipext batch``: the single-trial
command prints its result, the batch turns it into one row of a table (``TrialResult.summary_row``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hipext.biomech.c3d import GaitChannels
from hipext.biomech.tasks import SIDE_WORDS, DemandCurve, muscle_labels


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonSpec(_Strict):
    """Who performed the trial and how their strength was tested (all optional: no capacity without them)."""

    sex: Literal["male", "female"] | None = None
    age: int | None = Field(None, ge=1, le=120)
    body_mass_kg: float | None = Field(None, ge=10, le=400)
    height_m: float | None = Field(None, ge=0.5, le=2.6)
    measured_torque_nm: float | None = Field(None, gt=0, le=2000)
    test_hip_flexion_deg: float | None = Field(None, ge=-30, le=130)
    test_knee_flexion_deg: float | None = Field(None, ge=-10, le=160)
    test_velocity_deg_s: float = Field(0.0, ge=0, le=1000)
    test_mode: Literal["isometric", "concentric", "eccentric"] = "isometric"


class TrialSpec(_Strict):
    """One trial: a processed gait C3D, or an OpenSim kinematics file with its moments file."""

    name: str | None = None
    c3d: Path | None = None
    kinematics: Path | None = None
    moments: Path | None = None
    side: Literal["l", "r"] = "r"
    cycle: int | Literal["all"] = "all"
    moment_units: Literal["N m", "N m/kg"] = "N m"
    channels: GaitChannels = Field(default_factory=GaitChannels)
    person: PersonSpec = Field(default_factory=PersonSpec)
    muscles: bool = True
    model_path: Path | None = None
    residual_optimal_moment_nm: float = Field(1.0, gt=0, description="Static optimisation: a residual moment of "
                                              "this size costs as much as one fully active muscle")

    @model_validator(mode="after")
    def _one_source(self) -> TrialSpec:
        if self.c3d is not None and (self.kinematics is not None or self.moments is not None):
            raise ValueError("give either a C3D file or a kinematics and a moments file, not both")
        if self.c3d is None and (self.kinematics is None or self.moments is None):
            raise ValueError("give a C3D file, or both a kinematics and a moments file")
        if isinstance(self.cycle, int) and self.cycle < 1:
            raise ValueError(f"cycle: got {self.cycle}; expected 1 or more, or 'all'")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return (self.c3d or self.moments or Path("trial")).stem


@dataclass(frozen=True)
class CycleResult:
    demand: DemandCurve
    cycle: int | None
    peak: dict[str, Any]
    share: dict[str, Any] | None
    muscle_share_percent: dict[str, float] | None
    frames_outside_model_range: int = 0
    activations: np.ndarray | None = None  # (frames, muscles) from static optimisation


@dataclass(frozen=True)
class TrialResult:
    spec: TrialSpec
    side: str
    body_mass_kg: float | None
    cycles: tuple[CycleResult, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    capacity_note: str | None = None
    file_peak_nm_per_kg: float | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.label

    def top_cycle(self) -> CycleResult:
        """The cycle with the largest hip extension moment."""
        return max(self.cycles, key=lambda c: c.peak["peak_hip_extension_moment_nm"])

    def summary_row(self) -> dict[str, Any]:
        """One flat row for a table: the trial's peak, its share of capacity (judged) and the muscle shares."""
        top = self.top_cycle()
        p = top.peak
        row: dict[str, Any] = {
            "trial": self.name,
            "file": str(self.spec.c3d or self.spec.moments),
            "side": SIDE_WORDS[self.side],
            "cycles_analysed": len(self.cycles),
            "peak_cycle": top.cycle,
            "frames": int(sum(len(c.demand.time_s) for c in self.cycles)),
            "body_mass_kg": self.body_mass_kg,
            "peak_hip_extension_moment_nm": round(p["peak_hip_extension_moment_nm"], 3),
            "peak_hip_extension_moment_nm_per_kg": (round(p["peak_hip_extension_moment_nm_per_kg"], 4)
                                                    if "peak_hip_extension_moment_nm_per_kg" in p else None),
            "mean_cycle_peak_nm": round(float(np.mean([c.peak["peak_hip_extension_moment_nm"]
                                                       for c in self.cycles])), 3),
            "peak_time_s": round(p["time_s"], 4),
            "peak_hip_flexion_deg": round(p["hip_flexion_deg"], 2),
            "peak_hip_extension_velocity_deg_s": round(p["hip_extension_velocity_deg_s"], 1),
            "peak_share_of_capacity_percent": None,
            "share_status": None,
            "share_range_low_percent": None,
            "share_range_high_percent": None,
            "reserve_percent": None,
            "likely_causes": None,
        }
        shared = [c for c in self.cycles if c.share is not None]
        if shared:
            worst = max(shared, key=lambda c: c.share["check"].share_percent)  # type: ignore[index]
            chk = worst.share["check"]  # type: ignore[index]
            row.update({
                "peak_share_of_capacity_percent": round(chk.share_percent, 1),
                "share_status": chk.status,
                "share_range_low_percent": None if chk.range_percent is None else round(chk.range_percent[0], 1),
                "share_range_high_percent": None if chk.range_percent is None else round(chk.range_percent[1], 1),
                "reserve_percent": None if chk.reserve_percent is None else round(chk.reserve_percent, 1),
                "likely_causes": ",".join(chk.likely_causes) or None,
            })
        muscles = [c.muscle_share_percent for c in self.cycles if c.muscle_share_percent]
        if muscles:
            for name in muscles[0]:
                row[f"share_{name}_percent"] = round(float(np.mean([m[name] for m in muscles])), 2)
        row["notes"] = "; ".join(self.notes) or None
        row["warnings"] = "; ".join(self.warnings) or None
        row["seconds"] = round(self.seconds, 4)
        row["error"] = None
        return row


@functools.lru_cache(maxsize=4)
def _model(path: str | None) -> Any:
    from hipext.biomech.model import HipExtensorModel

    return HipExtensorModel.load(path)


def _capacity(person: PersonSpec) -> tuple[Any, str | None]:
    """The person's capacity, or None and the reason."""
    from hipext.biomech.capacity import person_capacity

    if person.sex is None or person.age is None or person.body_mass_kg is None:
        missing = [n for n, v in (("sex", person.sex), ("age", person.age), ("body mass", person.body_mass_kg))
                   if v is None]
        return None, f"capacity: {', '.join(missing)} not given; the share of capacity cannot be computed"
    cap = person_capacity(sex=person.sex, age=person.age, body_mass_kg=person.body_mass_kg,
                          height_m=person.height_m, measured_torque_nm=person.measured_torque_nm,
                          test_hip_flexion_deg=person.test_hip_flexion_deg,
                          test_velocity_deg_s=person.test_velocity_deg_s, test_mode=person.test_mode,
                          test_knee_flexion_deg=person.test_knee_flexion_deg)
    if cap is None:
        return None, "capacity: height not given and no measured torque; share of capacity cannot be computed"
    return cap, None


def _muscle_split(d: DemandCurve, model: Any, residual_nm: float) -> tuple[dict[str, float], int, np.ndarray]:
    from hipext.biomech.static_optimisation import hip_extension_shares, static_optimisation

    if d.has_knee_moment:
        coords: tuple[str, ...] = ("hip_flexion", "knee_flexion")
        mom = np.stack([-d.hip_extension_moment_nm, d.knee_flexion_moment_nm], axis=1)
    else:
        coords = ("hip_flexion",)
        mom = -d.hip_extension_moment_nm[:, None]
    so = static_optimisation(model=model, poses_rad=d.poses_rad, moments_nm=mom, coordinates=coords,
                             joint_velocities_rad_s=d.joint_velocities_rad_s, residual_optimal_moment_nm=residual_nm)
    sh = hip_extension_shares(so)
    labels = muscle_labels(model.muscles, d.side)
    return dict(zip(labels, (float(s) for s in sh), strict=True)), int((~so["in_range"]).sum()), so["activations"]


def analyse_trial(spec: TrialSpec) -> TrialResult:
    """Demand, share of capacity (judged) and muscle split of one trial; raises ``ValueError`` on bad input."""
    from hipext.biomech.tasks import demand_curve, share_of_capacity

    start = time.perf_counter()
    person = spec.person
    notes: list[str] = []
    warnings: list[str] = []
    file_peak = None
    if spec.c3d is not None:
        from hipext.biomech.c3d import gait_trial

        g = gait_trial(spec.c3d, side=spec.side, cycle=spec.cycle, channels=spec.channels,
                       body_mass_kg=person.body_mass_kg)
        curves, numbers = list(g.cycles), list(g.cycle_numbers)
        mass: float | None = g.body_mass_kg
        notes += g.notes
        warnings += g.warnings
        file_peak = g.file_peak_hip_extension_nm_per_kg
        if person.body_mass_kg is None:
            person = person.model_copy(update={"body_mass_kg": mass})
    else:
        assert spec.kinematics is not None and spec.moments is not None
        if spec.cycle != "all":
            raise ValueError("--cycle: cycles are cut at the foot strikes of a C3D file; OpenSim files are "
                             "analysed whole (expected 'all')")
        d = demand_curve(kinematics_path=spec.kinematics, moments_path=spec.moments, side=spec.side,
                         name=spec.name, moment_units=spec.moment_units, body_mass_kg=person.body_mass_kg)
        curves, numbers, mass = [d], [None], person.body_mass_kg
    cap, cap_note = _capacity(person)
    model = _model(None if spec.model_path is None else str(spec.model_path)) if spec.muscles else None
    results = []
    for d, k in zip(curves, numbers, strict=True):
        notes += d.notes
        warnings += d.warnings
        share = None if cap is None else share_of_capacity(demand=d, capacity=cap, basis=cap.basis)
        split, clipped, act = (_muscle_split(d, model, spec.residual_optimal_moment_nm) if model is not None
                               else (None, 0, None))
        if clipped:
            notes.append(f"{d.name}: {clipped} frame(s) outside the model's fitted range were clipped to it")
        results.append(CycleResult(demand=d, cycle=k, peak=d.peak(body_mass_kg=mass), share=share,
                                   muscle_share_percent=split, frames_outside_model_range=clipped,
                                   activations=act))
    return TrialResult(spec=spec, side=spec.side, body_mass_kg=mass, cycles=tuple(results),
                       notes=tuple(dict.fromkeys(notes)), warnings=tuple(dict.fromkeys(warnings)),
                       capacity_note=cap_note, file_peak_nm_per_kg=file_peak,
                       seconds=time.perf_counter() - start)


def validation_text(exc: Any) -> str:
    """A pydantic ``ValidationError`` as one line: every field as the user named it, what it got, what is wrong."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith("function-"))
        parts.append(f"{loc}: {e['msg']} (got {e.get('input')!r})" if loc else str(e["msg"]))
    return "; ".join(parts)


def failed_row(name: str, file: str | None, error: str, seconds: float = 0.0) -> dict[str, Any]:
    """The table row of a trial that could not be analysed: its error in its own column."""
    return {"trial": name, "file": file, "error": error, "seconds": round(seconds, 4)}


def trial_row(spec: TrialSpec) -> dict[str, Any]:
    """``analyse_trial`` as a table row; any failure becomes the row's ``error`` (a batch never stops)."""
    start = time.perf_counter()
    try:
        return analyse_trial(spec).summary_row()
    except (ValueError, OSError, RuntimeError) as exc:
        return failed_row(spec.label, str(spec.c3d or spec.moments), str(exc), time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - an unexpected bug in one trial must not stop a study's batch
        return failed_row(spec.label, str(spec.c3d or spec.moments),
                          f"internal problem ({exc.__class__.__name__}: {exc})", time.perf_counter() - start)


__all__ = ["CycleResult", "PersonSpec", "TrialResult", "TrialSpec", "analyse_trial", "failed_row", "trial_row",
           "validation_text"]
