"""What an importer takes (options) and gives back (typed measurements, and traces to draw)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from hipext.core.case import ContractionMode, Fixation, Measurement, RepetitionMetrics, Side
from hipext.core.errors import CaseInputError
from hipext.importers.force_time import Onset


class ImportOptions(BaseModel):
    """What the file may not say itself. A column in the file wins over none; a clash between the two is a problem."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    test: str | None = Field(default=None, description="Test id for every row (`hipext evidence list`).")
    side: Side | None = None
    lever_arm_m: float | None = Field(default=None, ge=0.1, le=1.0)
    fixation: Fixation | None = None
    device: str | None = None
    velocity_deg_s: float | None = Field(default=None, gt=0, le=500)
    mode: ContractionMode | None = None
    layout: str | None = Field(default=None, description="Force a layout instead of detecting it.")
    columns: dict[str, str] = Field(default_factory=dict, description="hipext column -> the file's column name.")
    values: dict[str, dict[str, str]] = Field(default_factory=dict, description="column -> {file word: hipext word}.")
    onset: Onset | None = None


@dataclass(frozen=True)
class TraceView:
    """A force-time trace to draw: thinned to at most a few thousand points, with its repetitions marked."""

    label: str
    time_s: list[float]
    force_n: list[float]
    repetitions: list[RepetitionMetrics]
    peaks: list[tuple[float, float]]  # (time s, force N as recorded) of each repetition's peak


@dataclass
class DeviceImport:
    """Measurements read from one file, ready to add to a visit, and what to show the user about them."""

    layout: str
    file_name: str
    measurements: list[Measurement]
    traces: list[TraceView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class ImportFileError(CaseInputError):
    """Every problem in an imported file, each with its row and column; nothing was added."""
