"""Everything that talks to OpenSim (optional extra ``hipext[opensim]``).

The runtime never imports this module; the model compiler, the agreement tests and the benchmarks do.
Coordinates are handled in the public convention: hip flexion, hip adduction, hip rotation and knee flexion,
all in rad and with knee flexion positive. gait2392's knee coordinate is negative in flexion and is converted here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COORDINATES = ("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion")

DEFAULT_MUSCLES = {
    "rajagopal": (
        "glmax1_r", "glmax2_r", "glmax3_r", "bflh_r", "semiten_r", "semimem_r",
        "addmagIsch_r", "addmagDist_r", "addmagMid_r", "addmagProx_r", "glmed3_r", "glmin3_r",
    ),
    "gait2392": (
        "glut_max1_r", "glut_max2_r", "glut_max3_r", "bifemlh_r", "semiten_r", "semimem_r",
        "add_mag1_r", "add_mag2_r", "add_mag3_r", "glut_med3_r", "glut_min3_r",
    ),
}


def import_opensim() -> Any:
    """Import the ``opensim`` package or raise a clear error naming the extra to install."""
    try:
        import opensim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the OpenSim Python package is needed for this command: pip install 'hipext[opensim]'"
        ) from exc
    opensim.Logger.setLevelString("error")
    return opensim


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class OpenSimLeg:
    """An OpenSim model opened for sampling the right-leg hip extensors."""

    path: Path
    muscles: tuple[str, ...]
    model: Any
    state: Any
    coords: list[Any]  # hip flexion, adduction, rotation, knee
    coupled: list[Any]  # coordinates that must follow the knee (Rajagopal patella coupler)
    knee_sign: float  # +1 when the model's knee coordinate is positive in flexion, -1 for gait2392
    family: str
    osim: Any

    @classmethod
    def open(cls, path: str | Path, *, muscles: tuple[str, ...] | None = None) -> OpenSimLeg:
        osim = import_opensim()
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"model: no such file {str(path)!r}")
        model = osim.Model(str(path))
        state = model.initSystem()
        cs = model.getCoordinateSet()
        names = [cs.get(i).getName() for i in range(cs.getSize())]
        needed = ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r"]
        missing = [n for n in needed if n not in names]
        if missing:
            raise ValueError(f"model: {path.name} lacks coordinates {missing}; expected {needed}")
        mset = model.getMuscles()
        mnames = {mset.get(i).getName() for i in range(mset.getSize())}
        family = "rajagopal" if "glmax1_r" in mnames else "gait2392" if "glut_max1_r" in mnames else "custom"
        if muscles is None:
            if family == "custom":
                raise ValueError(f"muscles: {path.name} is not a Rajagopal or gait2392 model; list the muscles")
            muscles = DEFAULT_MUSCLES[family]
        unknown = [m for m in muscles if m not in mnames]
        if unknown:
            raise ValueError(f"muscles: {unknown} not in {path.name}")
        knee = cs.get("knee_angle_r")
        knee_sign = -1.0 if knee.getRangeMax() < 0.5 and knee.getRangeMin() < -1.0 else 1.0
        coupled = [cs.get(n) for n in names if n == "knee_angle_r_beta"]
        return cls(
            path=path, muscles=tuple(muscles), model=model, state=state,
            coords=[cs.get(n) for n in needed], coupled=coupled, knee_sign=knee_sign, family=family, osim=osim,
        )

    def set_pose(self, q: np.ndarray) -> None:
        """Set one pose (rad, public convention) and realise positions."""
        hf, ha, hr, kf = (float(v) for v in q)
        knee = self.knee_sign * kf
        self.coords[0].setValue(self.state, hf, False)
        self.coords[1].setValue(self.state, ha, False)
        self.coords[2].setValue(self.state, hr, False)
        self.coords[3].setValue(self.state, knee, False)
        for c in self.coupled:
            c.setValue(self.state, knee, False)
        self.model.realizePosition(self.state)

    def muscle(self, name: str) -> Any:
        return self.model.getMuscles().get(name)

    def sample(
        self, poses_rad: np.ndarray, *, moment_arms: bool = True, progress: bool = False, hip_only: bool = False
    ) -> dict[str, np.ndarray]:
        """Lengths (N, M) and moment arms (N, M, 4) about the public coordinates, as OpenSim computes them.

        ``hip_only`` computes the moment arms about hip flexion (and about the knee for muscles named in
        ``knee_muscles``) only, as in the reference timing; the other columns are NaN.
        """
        poses = np.atleast_2d(np.asarray(poses_rad, dtype=float))
        n, m = poses.shape[0], len(self.muscles)
        lengths = np.empty((n, m))
        mas = np.full((n, m, 4), np.nan)
        mus = [self.muscle(name) for name in self.muscles]
        it = range(n)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="OpenSim poses", delay=1.0, unit="pose")
        for i in it:
            self.set_pose(poses[i])
            for j, mu in enumerate(mus):
                lengths[i, j] = mu.getLength(self.state)
                if moment_arms:
                    if hip_only:
                        mas[i, j, 0] = mu.computeMomentArm(self.state, self.coords[0])
                    else:
                        for k, c in enumerate(self.coords):
                            mas[i, j, k] = mu.computeMomentArm(self.state, c)
        mas[:, :, 3] *= self.knee_sign
        return {"lengths_m": lengths, "moment_arms_m": mas}

    def isometric_forces(self, poses_rad: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """Tendon force (N) of each muscle at full activation, zero speed, after equilibrating the muscles."""
        poses = np.atleast_2d(np.asarray(poses_rad, dtype=float))
        forces = np.empty((poses.shape[0], len(self.muscles)))
        mus = [self.muscle(name) for name in self.muscles]
        mset = self.model.getMuscles()
        it = range(poses.shape[0])
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="OpenSim forces", delay=1.0, unit="pose")
        for i in it:
            self.set_pose(poses[i])
            for k in range(mset.getSize()):
                mset.get(k).setActivation(self.state, 0.0)
            for mu in mus:
                mu.setActivation(self.state, 1.0)
            self.model.equilibrateMuscles(self.state)
            self.model.realizeDynamics(self.state)
            for j, mu in enumerate(mus):
                forces[i, j] = mu.getTendonForce(self.state)
        return forces

    def unit_speeds(self) -> list[Any]:
        """Speed vectors (OpenSim ``Vector`` of all u) with one public coordinate moving at 1 rad/s, the rest still.

        The knee's coupled coordinates (Rajagopal's patella) move with it, as the coupler constraint requires.
        Index 4 is all speeds zero.
        """
        if not hasattr(self, "_units"):
            units = []
            for k in range(5):
                for c in self.coords + self.coupled:
                    c.setSpeedValue(self.state, 0.0)
                if k < 4:
                    for c in [self.coords[k]] + (self.coupled if k == 3 else []):
                        c.setSpeedValue(self.state, 1.0)
                units.append(self.osim.Vector(self.state.getU()))
            self._units = units
        return self._units

    def sample_fast(
        self, poses_rad: np.ndarray, *, coordinates: tuple[int, ...] = (0, 1, 2, 3)
    ) -> dict[str, np.ndarray]:
        """As ``sample``, the way a competent OpenSim user computes moment arms: one ``realizeVelocity`` per
        coordinate with that coordinate's speed at 1 and the others at 0; every path's lengthening speed is then
        -moment arm (the path velocity method; equal to ``computeMomentArm`` to 1e-15 m on these models).
        Moment arms about coordinates not listed are NaN.
        """
        poses = np.atleast_2d(np.asarray(poses_rad, dtype=float))
        n, m = poses.shape[0], len(self.muscles)
        lengths = np.empty((n, m))
        mas = np.full((n, m, 4), np.nan)
        mus = [self.muscle(name) for name in self.muscles]
        units, state, model = self.unit_speeds(), self.state, self.model
        for i in range(n):
            self.set_pose(poses[i])
            for j, mu in enumerate(mus):
                lengths[i, j] = mu.getLength(state)
            for k in coordinates:
                state.setU(units[k])
                model.realizeVelocity(state)
                for j, mu in enumerate(mus):
                    mas[i, j, k] = -mu.getLengtheningSpeed(state)
        mas[:, :, 3] *= self.knee_sign
        return {"lengths_m": lengths, "moment_arms_m": mas}

    def isometric_hip_extension_lean(self, poses_rad: np.ndarray) -> dict[str, np.ndarray]:
        """Tendon force (N, M) at full activation and zero speed, and hip flexion moment arms (N, M), used
        competently: activations set once (these muscles at 1, the others at 0), speeds zero, each listed
        muscle's fibre-tendon equilibrium computed (not all 80 muscles), no ``realizeDynamics``; moment arms by
        the path velocity method. Same numbers as ``isometric_forces`` and ``computeMomentArm``.
        """
        poses = np.atleast_2d(np.asarray(poses_rad, dtype=float))
        n, m = poses.shape[0], len(self.muscles)
        forces, mas = np.empty((n, m)), np.empty((n, m))
        mus = [self.osim.Millard2012EquilibriumMuscle.safeDownCast(self.muscle(name)) for name in self.muscles]
        if any(mu is None for mu in mus):
            raise ValueError("muscles: the lean isometric path needs Millard2012EquilibriumMuscle muscles")
        mset, state, model = self.model.getMuscles(), self.state, self.model
        for k in range(mset.getSize()):
            mset.get(k).setActivation(state, 0.0)
        for mu in mus:
            mu.setActivation(state, 1.0)
        hip, still = self.unit_speeds()[0], self.unit_speeds()[4]
        for i in range(n):
            self.set_pose(poses[i])
            state.setU(still)
            model.realizeVelocity(state)
            for j, mu in enumerate(mus):
                mu.computeInitialFiberEquilibrium(state)
                forces[i, j] = mu.getTendonForce(state)
            state.setU(hip)
            model.realizeVelocity(state)
            for j, mu in enumerate(mus):
                mas[i, j] = -mu.getLengtheningSpeed(state)
        state.setU(still)
        return {"tendon_force_n": forces, "hip_flexion_moment_arm_m": mas}

    def muscle_parameters(self) -> dict[str, np.ndarray]:
        out: dict[str, list[Any]] = {k: [] for k in (
            "max_isometric_force_n", "optimal_fiber_length_m", "tendon_slack_length_m",
            "pennation_at_optimal_rad", "max_contraction_velocity_lopt_per_s", "rigid_tendon", "muscle_class")}
        for name in self.muscles:
            mu = self.muscle(name)
            out["max_isometric_force_n"].append(mu.getMaxIsometricForce())
            out["optimal_fiber_length_m"].append(mu.getOptimalFiberLength())
            out["tendon_slack_length_m"].append(mu.getTendonSlackLength())
            out["pennation_at_optimal_rad"].append(mu.getPennationAngleAtOptimalFiberLength())
            out["max_contraction_velocity_lopt_per_s"].append(mu.getMaxContractionVelocity())
            out["rigid_tendon"].append(bool(mu.get_ignore_tendon_compliance()))
            out["muscle_class"].append(mu.getConcreteClassName())
        return {k: np.asarray(v) for k, v in out.items()}

    def curve_tables(self, grid: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Sample each muscle's own Millard curves on common grids; None when the muscles are not Millard."""
        osim = self.osim
        tables: dict[str, list[np.ndarray]] = {"active_fl": [], "passive_fl": [], "fv": [], "tendon_fl": []}
        minlen = []
        for name in self.muscles:
            mm = osim.Millard2012EquilibriumMuscle.safeDownCast(self.muscle(name))
            if mm is None:
                return None
            afl, pfl = mm.getActiveForceLengthCurve(), mm.getFiberForceLengthCurve()
            fv, tfl = mm.getForceVelocityCurve(), mm.getTendonForceLengthCurve()
            tables["active_fl"].append(np.array([afl.calcValue(float(x)) for x in grid["fiber_length_norm"]]))
            tables["passive_fl"].append(np.array([pfl.calcValue(float(x)) for x in grid["fiber_length_norm"]]))
            tables["fv"].append(np.array([fv.calcValue(float(x)) for x in grid["fiber_velocity_norm"]]))
            tables["tendon_fl"].append(np.array([tfl.calcValue(float(x)) for x in grid["tendon_length_norm"]]))
            minlen.append(mm.getMinimumFiberLength())
        out = {k: np.vstack(v) for k, v in tables.items()}
        out["min_fiber_length_m"] = np.asarray(minlen)
        return out
