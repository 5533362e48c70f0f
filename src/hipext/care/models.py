"""Output and data models of the care module: screening, exercise library, program, progression, readiness,
aftercare and education. Every clinical number carries the source ids and evidence level it rests on."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class Dose(_Model):
    sets: str
    reps: str | None = None
    hold_s: str | None = None
    load: str
    effort: str
    rest: str
    frequency: str
    progression_rule: str
    level: Level
    sources: list[str]
    note: str | None = None


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


class Program(_Model):
    phase: Phase | None
    phase_reason: str
    exercises: list[PrescribedExercise]
    alternatives: list[Alternative] = Field(default_factory=list)
    note: str
    based_on_responses: bool = False
    sources: list[str] = Field(default_factory=list)


class ProgressionDecision(_Model):
    exercise: str
    outcome: Outcome
    reason: str
    next_exercise: str | None = None
    dose_change: str | None = None
    pain_zone: str | None = None
    sources: list[str]


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
    name: str
    met: bool
    status: Literal["met", "not_met", "not_yet_measured"]
    value: str | None
    target: str
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
