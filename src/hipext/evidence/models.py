"""Shapes of the evidence files. Every record that holds a clinical number names its source and evidence level."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["verified", "secondary", "clinical_default"]
Sex = Literal["female", "male"]
MeasurementKind = Literal["hhd", "isokinetic", "mmt", "count", "time", "rom", "prom", "pain", "special"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Data):
    """A record whose numbers come from `source` (a bibliography id) at evidence `level`."""

    source: str
    level: Level
    note: str | None = None


# Words that show a field was not read in the source (placeholders the dossier used).
PLACEHOLDERS = ("[", "unverified", "not retrieved", "not recorded", "unknown", "not named")


class Reference(_Data):
    """A bibliography record. Shown to clinicians only when complete: authors, year, title, journal (or site) and a
    DOI or URL, none of them a placeholder. A record that cannot be completed says why in `incomplete`."""

    id: str
    authors: str
    year: int | None = None
    title: str
    journal: str | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None
    incomplete: str | None = Field(default=None, description="Why the record cannot be completed.")

    def missing(self) -> list[str]:
        """The citation fields that are absent or placeholders."""
        out = []
        for name in ("authors", "title", "journal"):
            value = getattr(self, name)
            if not value or any(p in value.lower() for p in PLACEHOLDERS):
                out.append(name)
        if not self.year:
            out.append("year")
        if not (self.doi or self.url):
            out.append("doi or url")
        return out

    @property
    def complete(self) -> bool:
        return self.incomplete is None and not self.missing()

    @property
    def link(self) -> str | None:
        """The address a reader opens: the DOI through its resolver (stable), else the URL."""
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    def short(self) -> str:
        first = self.authors.split(",")[0].split(" ")[0]
        return f"{first} {self.year}" if self.year else first


class Protocol(_Data):
    """How a test is done. Test ids in case files are protocol ids."""

    id: str
    name: str
    kind: MeasurementKind
    description: str
    position: str | None = None
    knee_angle_deg: float | None = None
    hip_angle_deg: float | None = None
    device_type: str | None = None
    unit: str
    better: Literal["higher", "lower"] = "higher"
    bilateral: bool = Field(description="Tested per side, so a limb symmetry index applies.")
    bias: Literal["gluteus_maximus", "hamstrings", "hip_extensors", "whole_limb", "none"] = "none"
    requires: list[str] = Field(description="Case fields this test needs, e.g. trials_n or reps.")
    instrument: str | None = Field(default=None, description="PROM scoring rule id for questionnaires.")
    source: str | None = None
    level: Level | None = None


class MeasurementError(Cited):
    """Reliability figures for one or more protocols."""

    id: str
    protocols: list[str]
    population: str
    quantity: Literal["torque_nm", "force_n", "value"] = "value"
    sem: float | None = None
    mdc: float | None = Field(default=None, description="Minimal detectable change in `unit`.")
    mdc_percent_low: float | None = Field(default=None, description="Lower end of an MDC% range.")
    mdc_percent_high: float | None = Field(default=None, description="Upper end of an MDC% range.")
    confidence_percent: int | None = None
    icc: str | None = None
    unit: str
    applies_when: dict[str, str] = Field(
        default_factory=dict, description="Set-up fields that must match, e.g. {fixation: belt}."
    )


class NormRow(_Data):
    age_min: int | None = None
    age_max: int | None = None
    sex: Sex | None = None
    low: float | None = None
    high: float | None = None
    label: str | None = None


class Norm(Cited):
    """Reference values for a test. `kind` says how a value is read against the rows."""

    id: str
    test: str
    kind: Literal["range", "cutoff_low", "cutoff_high", "bands"]
    quantity: Literal["value", "torque_nm_per_kg", "force_n_per_kg", "force_percent_bw"] = "value"
    population: str
    unit: str
    rows: list[NormRow]
    caveat: str | None = None
    applies_when: dict[str, str] = Field(
        default_factory=dict, description="Set-up fields that must match, e.g. {steps: '11'}."
    )
    applies_age_min: int | None = None
    applies_age_max: int | None = None
    applies_residence: Literal["community", "care_home"] | None = Field(
        default=None, description="The setting the reference population lived in; other settings get no norm."
    )
    applies_device: str | None = Field(
        default=None, description="Device the reference values were measured with (matched by name when the "
        "measurement records its device; a different device gets no norm).")
    applies_level: Level | None = Field(
        default=None, description="Evidence level of the age window in which the norm is applied, if not the norm's."
    )


class Mcid(Cited):
    """Smallest change that matters to patients (or the smallest real change, for questionnaires)."""

    id: str
    instrument: str
    value: float | None = None
    percent: float | None = None
    unit: str
    population: str
    kind: Literal["mcid", "mdc", "mic"] = "mcid"


class Subscale(_Data):
    name: str
    items: list[int]
    min_answered: int


class PromScoring(Cited):
    """How a questionnaire is scored, including its missing-item rule and where that rule comes from."""

    id: str
    name: str
    items: int
    item_min: float
    item_max: float
    item_max_overrides: dict[int, float] = Field(default_factory=dict)
    item_allowed_values: dict[int, list[float]] = Field(default_factory=dict)
    item_branches: dict[int, dict[str, list[float]]] = Field(
        default_factory=dict, description="Items answered on one of several branches, each with its own answers "
        "(VISA item 8: no pain / pain that does not stop / pain that stops training); any branch's answer is valid.")
    item_branches_source: str | None = None
    item_branches_level: Level | None = None
    method: Literal["sum", "mean", "hoos_transform", "hoos12_transform"]
    subscales: list[Subscale] = Field(default_factory=list)
    score_min: float
    score_max: float
    higher_is_better: bool = True
    missing_rule: str
    missing_rule_level: Level
    min_answered: int | None = None
    item_labels: dict[int, str] = Field(default_factory=dict)
    reference_values: dict[str, float] = Field(default_factory=dict)
    reference_source: str | None = None


class Threshold(Cited):
    """A clinical threshold read in several places (e.g. the LSI target): one record, carried in the document."""

    id: str
    value: float
    unit: str
    sources: list[str]


class Evidence(_Data):
    references: dict[str, Reference]
    protocols: dict[str, Protocol]
    measurement_error: list[MeasurementError]
    norms: list[Norm]
    mcids: list[Mcid]
    proms: dict[str, PromScoring]
    thresholds: dict[str, Threshold] = Field(default_factory=dict)

    def cite(self, source_id: str) -> Reference:
        return self.references[source_id]
