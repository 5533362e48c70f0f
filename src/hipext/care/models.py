"""Output and data models of the care module: screening, exercise library, program, progression, readiness,
aftercare and education. Every clinical number carries the source ids and evidence level it rests on."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from hipext.care import dose_words

Level = Literal["verified", "secondary", "clinical_default"]
Decision = Literal["proceed", "modify", "defer", "refer", "refer_urgent"]
Phase = Literal["protect", "restore", "strengthen", "return_to_activity"]
Outcome = Literal["progress", "hold", "regress", "stop"]

# Ordered scales used by the generic demand-versus-limit filter (lowest first).
ORDINALS: dict[str, tuple[str, ...]] = {
    "hamstring_length": ("short", "neutral", "long"),
    "gluteal_length": ("short", "neutral", "long"),
    "impact": ("none", "low", "high"),
    "load": ("bodyweight", "external"),
    "balance": ("none", "low", "high"),
    "weight_bearing": ("none", "partial", "full"),
    "hamstring_effort": ("none", "submaximal", "maximal"),
    "gluteal_effort": ("none", "submaximal", "maximal"),
    "effort": ("submaximal", "maximal"),
    "abductor_load": ("none", "stabilising", "resisted"),
    "ischial_compression": ("none", "low", "moderate", "high"),
    "lateral_hip_compression": ("none", "low", "moderate", "high"),
}
Position = Literal["supine", "prone", "side_lying", "quadruped", "kneeling", "seated", "standing"]
Compression = Literal["none", "low", "moderate", "high"]
AbductorLoad = Literal["none", "stabilising", "resisted"]
DECISION_ORDER: tuple[Decision, ...] = ("proceed", "modify", "defer", "refer", "refer_urgent")
PHASE_ORDER: tuple[Phase, ...] = ("protect", "restore", "strengthen", "return_to_activity")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Demands(_Model):
    """What a task (exercise or test) demands of the hip, knee and person. Angles in degrees."""

    hip_flexion_max_deg: float = Field(description="Greatest hip flexion reached.")
    hip_adduction_max_deg: float = Field(default=0, description="Greatest adduction past neutral.")
    hip_internal_rotation_max_deg: float = Field(default=0, description="Greatest internal rotation past neutral.")
    knee_flexion_min_deg: float = Field(description="Least knee flexion held (0 = knee straight).")
    hamstring_length: Literal["short", "neutral", "long"]
    gluteal_length: Literal["short", "neutral", "long"] = "neutral"
    eccentric: bool = Field(description="Emphasised eccentric (lengthening) hip-extensor loading.")
    impact: Literal["none", "low", "high"] = "none"
    load: Literal["bodyweight", "external"] = "bodyweight"
    balance: Literal["none", "low", "high"] = "none"
    weight_bearing: Literal["none", "partial", "full"] = "none"
    hamstring_effort: Literal["none", "submaximal", "maximal"] = "submaximal"
    gluteal_effort: Literal["none", "submaximal", "maximal"] = "submaximal"
    effort: Literal["submaximal", "maximal"] = "submaximal"
    resisted: bool = Field(default=True, description="Hip extension works against gravity, load or a tester.")
    # Required axes (no defaults): every exercise and test states them, so a new limit can never pass by omission.
    hip_extension_max_deg: float = Field(description="Greatest hip extension past neutral.")
    hip_external_rotation_max_deg: float = Field(description="Greatest external rotation past neutral.")
    positions: list[Position] = Field(min_length=1, description="Body positions the task is done in.")
    abductor_load: AbductorLoad = Field(description="Hip abductor work: pelvic support, or abduction exercise.")
    ischial_compression: Compression = Field(description="Proximal hamstring tendon compression at the ischium.")
    lateral_hip_compression: Compression = Field(description="Gluteal tendon compression at the greater trochanter.")
    single_leg_stance: bool = Field(description="Done standing on one leg.")


class Limits(_Model):
    """Merged limits from screening: None means no limit on that dimension."""

    hip_flexion_max_deg: float | None = None
    hip_adduction_max_deg: float | None = None
    hip_internal_rotation_max_deg: float | None = None
    knee_flexion_min_deg: float | None = None
    hamstring_length: Literal["short", "neutral", "long"] | None = None
    gluteal_length: Literal["short", "neutral", "long"] | None = None
    eccentric: bool | None = None
    impact: Literal["none", "low", "high"] | None = None
    load: Literal["bodyweight", "external"] | None = None
    balance: Literal["none", "low", "high"] | None = None
    weight_bearing: Literal["none", "partial", "full"] | None = None
    hamstring_effort: Literal["none", "submaximal", "maximal"] | None = None
    gluteal_effort: Literal["none", "submaximal", "maximal"] | None = None
    effort: Literal["submaximal", "maximal"] | None = None
    resisted: bool | None = None
    hip_extension_max_deg: float | None = None
    hip_external_rotation_max_deg: float | None = None
    positions_excluded: list[Position] | None = Field(default=None, description="Positions not to be used.")
    abductor_load: AbductorLoad | None = None
    ischial_compression: Compression | None = None
    lateral_hip_compression: Compression | None = None
    single_leg_stance: bool | None = None
    block_all: bool = Field(default=False, description="Nothing physical is tested or prescribed.")
    supervised: bool = Field(default=False, description="Loading only under supervision in stable positions.")
    why: dict[str, list[str]] = Field(default_factory=dict, description="Limit name -> rule ids that set it.")


class Emg(_Model):
    muscle: str
    percent_mvic: float | None = None
    band: str | None = None
    note: str | None = None
    source: str
    level: Level


class Tags(_Model):
    target: Literal["gluteus_maximus", "hamstrings", "both", "gluteus_medius", "secondary"]
    chain: Literal["open", "closed"]
    contraction: Literal["isometric", "concentric", "eccentric", "mixed"]
    knee: Literal["flexed", "extended"]
    quality: Literal["strength", "endurance", "power"]


class Exercise(_Model):
    id: str
    name: str
    family: str
    task: Literal["none", "sit_to_stand", "stairs", "gait", "lifting", "running", "jumping"] = "none"
    phases: list[Phase]
    tags: Tags
    demands: Demands
    regression: str | None = None
    progression: str | None = None
    emg: list[Emg] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    compensations: list[str] = Field(default_factory=list)
    description: str = ""
    plain: str = Field(default="", description="Plain-language instruction for the patient handout.")
    source: str
    level: Level
    note: str | None = None


class ScreeningFinding(_Model):
    rule: str
    decision: Decision
    action: str
    reason: str
    sources: list[str]
    level: Level
    plain: str = Field(default="", description="What the patient reads about this finding.")
    max_phase: Phase | None = Field(default=None, description="Highest program phase this finding allows.")


class Alternative(_Model):
    kind: Literal["isometrics", "positioning", "reduced_range", "adjacent_region", "monitoring"]
    description: str
    exercises: list[str] = Field(default_factory=list, description="Library exercises that fit, if any.")
    sources: list[str]


class Screening(_Model):
    decision: Decision
    findings: list[ScreeningFinding]
    blocked_tests: list[str]
    blocked_exercises: list[str]
    alternatives: list[Alternative]
    limits: Limits
    summary: str
    sources: list[str] = Field(default_factory=list)
    max_phase: Phase | None = Field(default=None, description="Highest program phase screening allows.")
    stopped_considerations: list[str] = Field(
        default_factory=list, description="Aftercare considerations screening makes unsafe or contradictory.")


class DoseBasis(_Model):
    """Where one dose value comes from: the published range, the rule that picked one value from it, the source."""

    field: str = Field(description="Dose field, e.g. sets, reps, load_rm, rest_s, sessions_per_week.")
    value: float
    low: float | None = Field(default=None, description="Low end of the published range, if there is one.")
    high: float | None = Field(default=None, description="High end of the published range, if there is one.")
    rule: str = Field(description="How the single value was chosen from the range.")
    source: str
    level: Level


class Dose(_Model):
    """One concrete dose: every value is a single number chosen by rule; `basis` keeps each range and its source.

    `load`, `effort`, `rest`, `frequency` and `summary` are clinician wording and `plain` the patient's wording, all
    computed from the typed values, so an edited dose always reads the same everywhere.
    """

    sets: int = Field(ge=1, description="Sets per session (bouts, for walking practice).")
    reps: int | None = Field(default=None, ge=1, description="Repetitions per set (holds per set for isometrics).")
    hold_s: int | None = Field(default=None, ge=1, description="Seconds per hold.")
    minutes: int | None = Field(default=None, ge=1, description="Minutes per bout, for walking practice.")
    tempo_lowering_s: int | None = Field(default=None, ge=1, description="Seconds to lower, where tempo matters.")
    load_kind: Literal["bodyweight", "external"] = "bodyweight"
    load_rm: int | None = Field(default=None, ge=1, description="External load as the weight lifted about N times.")
    load_kg: float | None = Field(default=None, gt=0, description="External load in kg, when the clinician sets it.")
    load_change_percent: float | None = Field(
        default=None, description="Change from the weight used last time, in percent, when its kg is not known.")
    reps_in_reserve: int | None = Field(default=None, ge=0, description="Stop each set with this many left.")
    effort_max: int | None = Field(default=None, ge=0, le=10, description="Effort ceiling on a 0-10 scale.")
    fast: bool = Field(default=False, description="Move fast (power work): stop when speed or form drops.")
    rest_s: int | None = Field(default=None, ge=0, description="Rest between sets, seconds.")
    sessions_per_week: int = Field(ge=1, le=14)
    progression_rule: str
    basis: list[DoseBasis] = Field(default_factory=list)
    level: Level
    sources: list[str]
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # A dumped dose carries its computed wording; reading it back must not fail on those keys.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in _DOSE_COMPUTED}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def load(self) -> str:
        return dose_words.load(self)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def effort(self) -> str:
        return dose_words.effort(self)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rest(self) -> str:
        return dose_words.rest(self)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def frequency(self) -> str:
        return dose_words.frequency(self)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return dose_words.summary(self)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def plain(self) -> str:
        return dose_words.plain(self)


_DOSE_COMPUTED = frozenset({"load", "effort", "rest", "frequency", "summary", "plain"})

Supervision = Literal["home", "with_therapist"]
StageId = str


class PrescribedExercise(_Model):
    exercise: str
    name: str
    target: str
    dose: Dose
    rationale: list[str]
    precautions: list[str]
    cues: list[str]
    watch_for: list[str]
    regression: str | None = None
    progression: str | None = None
    emg: list[Emg] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    stage: StageId = Field(default="foundation", description="Task level: the graded-exposure stage it belongs to.")
    supervision: Supervision = Field(default="home", description="'with_therapist' keeps it out of the home program.")
    how: str = Field(default="", description="Plain-language instruction for the patient.")
    addresses: list[str] = Field(default_factory=list, description="Unmet criteria (ids) this exercise works on.")

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "patient_text"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def patient_text(self) -> str:
        """What the patient reads for this exercise: name, dose and how, in their words."""
        return dose_words.exercise_text(self)


# not_assessable: the criterion cannot be judged for this person (e.g. symmetry when both hips are involved).
CriterionStatus = Literal["met", "not_met", "not_yet_measured", "not_assessable"]


class StageCriterion(_Model):
    id: str
    name: str
    status: CriterionStatus
    value: str | None = None


class Stage(_Model):
    """One stage of graded exposure toward the goal activity, with the criteria that open it."""

    id: StageId
    name: str
    phase: Phase | None = Field(description="The phase this stage belongs to (None: set by the other phase rules).")
    reached: bool
    criteria: list[StageCriterion] = Field(default_factory=list)
    note: str | None = None
    sources: list[str] = Field(default_factory=list)
    level: Level = "clinical_default"


class Program(_Model):
    phase: Phase | None
    phase_reason: str
    exercises: list[PrescribedExercise]
    alternatives: list[Alternative] = Field(default_factory=list)
    note: str
    based_on_responses: bool = False
    sources: list[str] = Field(default_factory=list)
    activity: str | None = Field(default=None, description="Goal activity profile that sets the stages.")
    stage: StageId | None = Field(default=None, description="Highest graded-exposure stage the person has reached.")
    stages: list[Stage] = Field(default_factory=list, description="The stages toward the goal activity, in order.")
    supervised_only: bool = Field(default=False, description="Screening requires supervision for some loading.")


Lever = Literal["next_exercise", "previous_exercise", "load", "volume", "frequency", "none"]


class ProgressionDecision(_Model):
    exercise: str
    outcome: Outcome
    reason: str
    next_exercise: str | None = None
    dose_change: str | None = None
    pain_zone: str | None = None
    sources: list[str]
    lever: Lever = Field(default="none", description="The one thing this decision changes.")
    change_from: float | str | None = Field(default=None, description="Value before: exercise id, kg, sets...")
    change_to: float | str | None = Field(default=None, description="Value after.")
    dose: Dose | None = Field(default=None, description="The dose to do next (None after stop).")


class Progression(_Model):
    visit: dt.date | None
    decisions: list[ProgressionDecision]
    not_assessed: list[str] = Field(default_factory=list, description="Notes on responses that could not be used.")
    rules: list[str]
    sources: list[str] = Field(default_factory=list)


class RetestItem(_Model):
    test: str
    reason: str


class FollowUp(_Model):
    retest_on: dt.date | None
    interval_weeks: float | None
    tests: list[RetestItem]
    rescreen_on: dt.date | None = None
    rescreen_reason: str | None = None
    how: list[str]
    level: Level
    sources: list[str]
    note: str


class Criterion(_Model):
    id: str = Field(default="", description="Kind of criterion, e.g. strength_symmetry, askling; stages gate on it.")
    name: str
    met: bool
    status: CriterionStatus
    value: str | None
    target: str
    threshold: float | None = Field(default=None, description="Numeric target, where there is one (e.g. LSI %).")
    test: str | None = Field(default=None, description="The test the criterion reads, where it reads one.")
    sources: list[str]
    level: Level
    note: str | None = None


class ReturnToActivity(_Model):
    activity: str
    ready: bool
    criteria: list[Criterion]
    summary: str
    sources: list[str] = Field(default_factory=list)


class Consideration(_Model):
    id: str = Field(default="", description="The consideration's id in aftercare.yaml.")
    kind: Literal["imaging", "injection", "surgical_opinion", "medication_review", "referral"]
    consider: str
    reason: str
    sources: list[str]
    level: Level


class Aftercare(_Model):
    maintenance: list[str]
    considerations: list[Consideration]
    level: Level
    sources: list[str]
    note: str


class Education(_Model):
    title: str
    text: str
    reading_grade: float = Field(description="Flesch-Kincaid grade (textstat).")
    grade_method: str = Field(default="", description="How syllables were counted.")
    sections: dict[str, str]
    sources: list[str] = Field(default_factory=list)


class CarePlan(_Model):
    program: Program
    progression: Progression
    follow_up: FollowUp
    return_to_activity: ReturnToActivity
    aftercare: Aftercare
    education: Education
