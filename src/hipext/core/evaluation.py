"""What the core says about measurements: results (against norms, the other side and the last visit) and findings.

These are sections of the evaluation document (`hipext.document.Evaluation`), which also holds the care sections;
the core does not import `hipext.care` (care builds on these models, not the other way round).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hipext.core.case import DeviceMetrics

Verdict = Literal[
    "real_change",  # beyond the upper MDC (or the MCID for questionnaires)
    "possibly_real",  # inside a published MDC range: beyond its low end, not its high end
    "within_measurement_error",
    "not_comparable",  # different set-up; the reason says which
    "no_error_estimate",  # no published MDC/MCID for this protocol
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialSummary(_Out):
    n: int
    trials: list[float] = Field(description="Trials in the reported unit (N for force, N m for torque).")
    best: float = Field(description="The reported value: the best trial, as in dynamometry practice.")
    mean: float
    cv_percent: float | None = Field(description="Trial-to-trial coefficient of variation; None for one trial.")
    unit: str


class NormComparison(_Out):
    available: bool
    statement: str
    norm_id: str | None = None
    population: str | None = None
    quantity: str | None = None
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    label: str | None = None
    band: str | None = Field(default=None, description="The reference band in words, both ends or below/above.")
    status: Literal["below", "within", "above", "not_applicable"] | None = None
    caveat: str | None = None
    level: str | None = None
    sources: list[str] = Field(default_factory=list)


class Change(_Out):
    previous_date: dt.date | None = None
    previous_value: float | None = None
    delta: float | None = Field(default=None, description="Current minus previous, in `unit`.")
    delta_percent: float | None = None
    unit: str | None = None
    mdc: float | None = Field(default=None, description="Threshold used, in `unit` (MDC, or MCID for PROMs).")
    mdc_range: tuple[float, float] | None = Field(default=None, description="Published MDC range in `unit`.")
    mdc_basis: str | None = Field(default=None, description="How `mdc` was derived when the source gives a percent.")
    threshold_kind: Literal["mdc", "mcid", "mic"] | None = None
    meaningful: bool | None = Field(default=None, description="True only when the change exceeds the threshold.")
    verdict: Verdict
    direction: Literal["better", "worse", "unchanged"] | None = None
    reason: str
    sources: list[str] = Field(default_factory=list)


class Result(_Out):
    test: str
    name: str
    kind: str
    side: Literal["left", "right"] | None = None
    context: str | None = None
    date: dt.date
    value: float | str | None = Field(description="Reported value: torque for dynamometry, grade for MMT, score...")
    unit: str
    trials: TrialSummary | None = None
    force_n: float | None = None
    force_percent_bw: float | None = Field(default=None, description="Best force as % of body weight.")
    torque_nm: float | None = None
    torque_nm_per_kg: float | None = None
    subscales: dict[str, float | None] = Field(default_factory=dict)
    norm: NormComparison
    lsi_percent: float | None = Field(default=None, description="Involved / uninvolved x 100.")
    lsi_basis: str | None = None
    lsi_target_percent: float | None = Field(
        default=None, description="The LSI target this result is read against (evidence threshold `lsi_target`).")
    asymmetry_percent: float | None = Field(
        default=None, description="(stronger - weaker) / stronger x 100, when no single side is involved."
    )
    change: Change | None = None
    device_metrics: DeviceMetrics | None = Field(
        default=None, description="From an imported dynamometer file: repetitions, rate of force development, impulse."
    )
    flags: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)


class Finding(_Out):
    statement: str
    topic: Literal["strength", "symmetry", "function", "pain", "questionnaire", "movement", "measurement", "change"]
    concern: bool = Field(default=False, description="True when it points to a deficit worth acting on.")
    sources: list[str] = Field(default_factory=list)
