"""Anderson et al. (2007) joint-level hip extension torque-angle-velocity surfaces.

The coefficients live in ``hipext/data/biomech/anderson2007_hip.yaml`` (secondary transcription, level
``secondary``). Hip angle is hip flexion in rad (flexion positive); angular velocity is in rad/s in the direction of
the exertion, i.e. for hip extension a positive velocity means the hip is extending (concentric) and a negative one
means it is being flexed while the extensors pull (eccentric).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hipext.biomech._data import load_yaml

if TYPE_CHECKING:
    import numpy as np

DATA_FILE = "anderson2007_hip.yaml"
SEXES = ("male", "female")


@dataclass(frozen=True)
class AndersonParameters:
    """Coefficients of one sex and age group (hip extension)."""

    sex: str
    age_group: str
    c1: float
    c2: float
    c3: float
    c4: float
    c5: float
    c6: float

    @property
    def max_concentric_velocity_rad_s(self) -> float:
        """Velocity at which the concentric curve reaches zero torque (rad/s)."""
        return 2.0 * self.c4 * self.c5 / (3.0 * self.c4 - self.c5)

    def active_torque_per_mgh(self, hip_flexion_rad: np.ndarray | float) -> Any:
        """Isometric active torque normalised by m*g*h, zero outside the positive cosine lobe.

        A float for a scalar angle (plain math: a case evaluation then needs no numpy), else an array.
        """
        if isinstance(hip_flexion_rad, numbers.Real):
            phase_s = self.c2 * (float(hip_flexion_rad) - self.c3)
            return self.c1 * math.cos(phase_s) if abs(phase_s) < math.pi / 2 else 0.0
        import numpy as np

        theta = np.asarray(hip_flexion_rad, dtype=float)
        phase = self.c2 * (theta - self.c3)
        return np.where(np.abs(phase) < np.pi / 2, self.c1 * np.cos(phase), 0.0)

    def velocity_factor(self, extension_velocity_rad_s: np.ndarray | float) -> Any:
        """Torque-velocity factor f_V (1 when isometric), clipped at zero.

        Parameters
        ----------
        extension_velocity_rad_s
            Hip extension angular velocity in rad/s; positive concentric, negative eccentric.

        A float for a scalar velocity, else an array.
        """
        c4, c5 = self.c4, self.c5
        if isinstance(extension_velocity_rad_s, numbers.Real):
            ws = float(extension_velocity_rad_s)
            a_s = abs(ws)
            if a_s >= self.max_concentric_velocity_rad_s:
                return 0.0
            conc_s = (2 * c4 * c5 + a_s * (c5 - 3 * c4)) / (2 * c4 * c5 + a_s * (2 * c5 - 4 * c4))
            return max(conc_s if ws >= 0 else conc_s * (1.0 - self.c6 * ws), 0.0)
        import numpy as np

        w = np.asarray(extension_velocity_rad_s, dtype=float)
        a = np.abs(w)
        conc = (2 * c4 * c5 + a * (c5 - 3 * c4)) / (2 * c4 * c5 + a * (2 * c5 - 4 * c4))
        # The rational function has a pole beyond w_max; clip to the physically meaningful branch.
        conc = np.where(a >= self.max_concentric_velocity_rad_s, 0.0, conc)
        f = np.where(w >= 0, conc, conc * (1.0 - self.c6 * w))
        return np.clip(f, 0.0, None)

    def torque_per_mgh(
        self, hip_flexion_rad: np.ndarray | float, extension_velocity_rad_s: np.ndarray | float = 0.0
    ) -> Any:
        """Maximum voluntary hip extension torque normalised by m*g*h (dimensionless): a float for scalar
        inputs, else an array."""
        return self.active_torque_per_mgh(hip_flexion_rad) * self.velocity_factor(extension_velocity_rad_s)


def _normalise_sex(sex: str) -> str:
    s = str(sex).strip().lower()
    s = {"m": "male", "f": "female", "man": "male", "woman": "female"}.get(s, s)
    if s not in SEXES:
        raise ValueError(f"sex: got {sex!r}; expected 'male' or 'female'")
    return s


def select_group(*, sex: str, age: int) -> tuple[AndersonParameters, list[str]]:
    """Coefficients for a person's sex and age, with caveats when the age lies outside the studied groups.

    Parameters
    ----------
    sex
        'male' or 'female'.
    age
        Age in years (1 to 120).

    Returns
    -------
    (parameters, caveats)
    """
    s = _normalise_sex(sex)
    if not isinstance(age, numbers.Real) or not (1 <= float(age) <= 120):  # numpy's numbers are Real too
        raise ValueError(f"age: got {age!r}; expected years between 1 and 120")
    age = float(age)
    caveats: list[str] = []
    data = load_yaml(DATA_FILE)
    group = _age_group(data["age_groups"], age, caveats)
    for row in data["hip_extension"]:
        if row["sex"] == s and row["age_group"] == group:
            params = AndersonParameters(
                sex=s, age_group=group, **{k: float(row[k]) for k in ("c1", "c2", "c3", "c4", "c5", "c6")}
            )
            return params, caveats
    raise LookupError(f"no Anderson 2007 row for sex={s} age_group={group}")  # pragma: no cover - data error


def _age_group(groups: list[dict[str, Any]], age: float, caveats: list[str]) -> str:
    """The data's age group holding this age, else the nearest one (the age windows are the study's, in the data)."""
    def gap(g: dict[str, Any]) -> float:
        lo, hi = g["age_min"], g["age_max"]
        return max(lo - age, 0.0, age - hi if hi is not None else 0.0)

    nearest = min(groups, key=gap)
    if gap(nearest) > 0:
        names = " and ".join(f"{g['id']} y" for g in groups)
        caveats.append(f"Age {age:g} is outside the Anderson 2007 groups ({names}); the nearest group "
                       f"({nearest['id']}) is used.")
    return str(nearest["id"])


def c1_sd(params: AndersonParameters) -> float:
    """Between-subject SD of C1 (peak isometric torque per m*g*h) for the parameters' group."""
    for row in load_yaml(DATA_FILE)["hip_extension_sd"]:
        if row["sex"] == params.sex and row["age_group"] == params.age_group:
            return float(row["c1"])
    raise LookupError(f"no Anderson 2007 SD row for {params.sex} {params.age_group}")  # pragma: no cover


def data_caveats() -> list[str]:
    """Caveats stated in the data file."""
    return list(load_yaml(DATA_FILE)["caveats"])


def gravity_m_per_s2() -> float:
    return float(load_yaml(DATA_FILE)["gravity_m_per_s2"])
