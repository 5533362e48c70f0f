"""The case file: what a clinician learned and measured about a person's hip extensors.

This shape is a public contract (`hipext schema case`). Extend it; never rename what is here.
Units are in field names; forces may be given in N, lbf or kgf and are converted to newtons on input.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Side = Literal["left", "right"]
InvolvedSide = Literal["left", "right", "both", "none"]
Sex = Literal["female", "male"]
ActivityLevel = Literal["sedentary", "recreational", "active", "competitive_sport", "elite_sport"]
Fixation = Literal["belt", "manual", "rig"]
ContractionMode = Literal["concentric", "eccentric", "isometric"]

# Physical unit definitions (exact by definition, not clinical numbers): 1 lbf and 1 kgf in newtons.
NEWTONS_PER_LBF = 4.4482216152605
NEWTONS_PER_KGF = 9.80665

# Observations of movement the seed names; per side where it applies.
Observation = Literal[
    "reduced_terminal_stance_hip_extension",
    "gluteus_maximus_lurch",
    "trunk_lean",
    "lumbar_extension_substitution",
    "pelvic_drop",
    "short_stride",
    "reduced_push_off",
    "anterior_pelvic_tilt",
    "difficulty_sit_to_stand_without_arms",
    "gluteus_maximus_atrophy",
    "delayed_gluteus_maximus_activation",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def age_on(born: dt.date, day: dt.date) -> int:
    """Age in whole years on a day."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Patient(_Strict):
    id: str = Field(min_length=1, max_length=100, description="Clinic's identifier; no names needed.")
    name: str | None = Field(
        default=None, max_length=200, description="The person's name, for the clinic's own list; never evaluated."
    )
    date_of_birth: dt.date | None = Field(
        default=None, description="When given, age is reckoned from it at the evaluation date (`age` may be left out)."
    )
    age: int = Field(ge=0, le=120, description="Age in whole years (from date_of_birth when that is given).")
    sex: Sex = Field(description="Sex used to select sex-specific norms.")
    body_mass_kg: float = Field(gt=20, le=350, description="Body mass in kilograms.")
    height_m: float | None = Field(default=None, ge=0.8, le=2.5, description="Standing height in metres.")
    activity_level: ActivityLevel = "recreational"
    goals: list[str] = Field(default_factory=list, description="The person's own goals, in their words.")
    training_status: Literal["novice", "intermediate", "advanced"] = Field(
        default="novice", description="Resistance-training experience (ACSM 2009 definitions)."
    )
    residence: Literal["community", "care_home"] = Field(
        default="community", description="Where the person lives: norms apply only to the setting they describe."
    )


class Onset(_Strict):
    date: dt.date | None = None
    mechanism: str | None = None


class Restriction(_Strict):
    """A surgeon's or clinician's explicit limit. It overrides the default precautions for its procedure."""

    kind: Literal[
        "hip_flexion_max_deg",
        "hip_adduction_max_deg",
        "hip_internal_rotation_max_deg",
        "knee_extension_with_hip_flexion",
        "weight_bearing",
        "no_resisted_hamstring",
        "no_resisted_hip_extension",
        "no_eccentric",
        "no_impact",
        "no_maximal_testing",
        "hip_extension_max_deg",
        "hip_external_rotation_max_deg",
        "no_prone",
    ]
    value: float | str | bool | None = Field(
        default=None, description="Limit value: degrees for *_deg kinds, e.g. 'toe_touch' for weight_bearing."
    )
    until: dt.date | None = Field(default=None, description="Last day the restriction applies; open if absent.")
    note: str | None = None


class Surgery(_Strict):
    procedure: str = Field(
        min_length=2,
        description="e.g. total_hip_arthroplasty_posterior, total_hip_arthroplasty_anterior, "
        "proximal_hamstring_repair, hip_arthroscopy, or any other procedure named by the surgeon.",
    )
    side: Side | None = None
    date: dt.date
    restrictions: list[Restriction] = Field(default_factory=list)
    restrictions_weeks: int | None = Field(
        default=None, ge=0, le=104, description="How many weeks the surgeon's precautions apply, if stated."
    )


class Pregnancy(_Strict):
    """Pregnancy or the months after birth, as of the latest visit. Give one of the two weeks fields."""

    weeks_pregnant: int | None = Field(default=None, ge=0, le=45, description="Completed weeks of gestation.")
    weeks_postpartum: int | None = Field(default=None, ge=0, le=104, description="Weeks since the birth.")
    delivery: Literal["vaginal", "caesarean"] | None = Field(default=None, description="How the baby was born.")
    pelvic_girdle_pain: bool | None = Field(default=None, description="Pregnancy-related pelvic girdle pain.")

    @model_validator(mode="after")
    def _one_period(self) -> Pregnancy:
        if (self.weeks_pregnant is None) == (self.weeks_postpartum is None):
            raise ValueError("give either weeks_pregnant or weeks_postpartum")
        return self


class History(_Strict):
    involved_side: InvolvedSide = "none"
    presentation: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    onset: Onset | None = None
    surgery: Surgery | None = None
    red_flags: dict[str, bool] = Field(
        default_factory=dict, description="Answers to screening questions, e.g. {saddle_anaesthesia: false}."
    )
    comorbidities: list[str] = Field(default_factory=list)
    medications: list[str] = Field(default_factory=list)
    pregnancy: Pregnancy | None = Field(default=None, description="Pregnant or postpartum, as of the latest visit.")
    growth_plates: Literal["open", "closed", "unknown"] = Field(
        default="unknown", description="Skeletal maturity, when known (imaging or a clinician's judgement)."
    )


class RepetitionMetrics(_Strict):
    """One repetition found in a force-time trace. Forces are net of the resting baseline."""

    peak_force_n: float = Field(gt=0, le=5000)
    onset_s: float = Field(ge=0, description="Onset time from the start of the trace.")
    time_to_peak_s: float = Field(ge=0)
    rfd_n_per_s: dict[str, float | None] = Field(
        default_factory=dict,
        description="Mean rate of force development (N/s) over each window from onset, keyed by the window; None "
        "when the trace ends or the next repetition starts inside the window.",
    )
    impulse_n_s: float | None = Field(default=None, description="Net impulse from onset until force falls back.")


class DeviceMetrics(_Strict):
    """What a dynamometer file said beyond the peaks, kept with the measurement it came with."""

    source_file: str = Field(min_length=1, max_length=255, description="Name of the imported file.")
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the imported file's bytes.")
    layout: Literal["per_trial_peaks", "per_side_summary", "force_time_trace", "c3d_isokinetic"]
    repetition_count: int | None = Field(default=None, ge=0, le=500)
    average_force_n: float | None = Field(default=None, ge=0, le=5000)
    impulse_n_s: float | None = Field(default=None, ge=0)
    sample_rate_hz: float | None = Field(default=None, gt=0)
    onset_method: str | None = None
    repetitions: list[RepetitionMetrics] = Field(default_factory=list)


class Measurement(_Strict):
    """One test result. Which fields a test needs is declared in the evidence file `protocols.yaml`."""

    test: str = Field(description="Test id; `hipext evidence list` shows them.")
    side: Side | None = None
    # Strength: force trials in one unit (converted to N), or torque trials for isokinetic devices.
    trials_n: list[Annotated[float, Field(gt=0, le=5000)]] | None = None
    trials_lbf: list[Annotated[float, Field(gt=0, le=1125)]] | None = None
    trials_kgf: list[Annotated[float, Field(gt=0, le=510)]] | None = None
    trials_nm: list[Annotated[float, Field(gt=0, le=1500)]] | None = None
    lever_arm_m: float | None = Field(default=None, ge=0.1, le=1.0, description="Hip joint centre to pad, m.")
    fixation: Fixation | None = None
    device: str | None = Field(default=None, description="Device make and model, e.g. 'MicroFET2'.")
    velocity_deg_s: float | None = Field(default=None, gt=0, le=500)
    mode: ContractionMode | None = None
    # Manual muscle testing.
    grade: str | None = Field(default=None, pattern=r"^[0-5][+-]?$", description="MRC grade 0-5 with + or -.")
    # Counts, times, angles and single scores.
    reps: int | None = Field(default=None, ge=0, le=500)
    time_s: float | None = Field(default=None, gt=0, le=600)
    angle_deg: float | None = Field(default=None, ge=-60, le=90)
    value: float | None = Field(default=None, description="Single score, e.g. NPRS 0-10.")
    context: str | None = Field(default=None, description="e.g. worst_24h, at_rest, during_test.")
    # Questionnaires: item responses by item number (1-based) or the PSFS activity list.
    items: dict[int, float | None] | None = None
    activities: list[PsfsActivity] | None = None
    # Special tests.
    result: Literal["positive", "negative"] | None = None
    pain_provoked: bool | None = None
    used_arms: bool | None = Field(default=None, description="Chair tests: arms used (scores 0 for 30s CST).")
    steps: int | None = Field(default=None, ge=1, le=50, description="Stair tests: number of steps.")
    note: str | None = None
    device_metrics: DeviceMetrics | None = Field(
        default=None, description="Filled by `hipext import dynamometer`: the file and what else it measured."
    )

    @field_validator("items", mode="before")
    @classmethod
    def _items_as_int_keys(cls, v: Any) -> Any:
        # YAML may give "1": 3; JSON always gives string keys.
        if isinstance(v, dict):
            return {int(k) if isinstance(k, str) and k.isdigit() else k: x for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _one_force_unit(self) -> Measurement:
        given = [f for f in ("trials_n", "trials_lbf", "trials_kgf") if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"give force trials in one unit only, got {', '.join(given)}")
        return self

    def force_trials_n(self) -> list[float] | None:
        """Force trials in newtons, whatever unit they were entered in."""
        if self.trials_n is not None:
            return list(self.trials_n)
        if self.trials_lbf is not None:
            return [x * NEWTONS_PER_LBF for x in self.trials_lbf]
        if self.trials_kgf is not None:
            return [x * NEWTONS_PER_KGF for x in self.trials_kgf]
        return None


class PsfsActivity(_Strict):
    activity: str = Field(min_length=1)
    score: float = Field(ge=0, le=10)


class ExerciseResponse(_Strict):
    """How the person responded to one prescribed exercise since the last visit (immediate checks, follow-up).

    Every field concerns this exercise only: a pain or effort rating given for a whole session belongs to no single
    exercise and is never copied into one. The dose fields say what the person was doing, so a progression step is
    taken from there; when they are absent, the exercise's starting dose is assumed.
    """

    exercise: str
    pain_during: float | None = Field(default=None, ge=0, le=10)
    pain_next_morning: float | None = Field(default=None, ge=0, le=10)
    pain_baseline: float | None = Field(default=None, ge=0, le=10)
    completed: bool = True
    rpe: float | None = Field(default=None, ge=0, le=10, description="Rating of perceived exertion, 0-10.")
    reps_in_reserve: int | None = Field(default=None, ge=0, le=20, description="Repetitions the person could still "
                                        "have done at the end of a set ('could do 2 more').")
    compensation: list[str] = Field(default_factory=list)
    sessions_done: int | None = Field(default=None, ge=0, le=100)
    sessions_planned: int | None = Field(default=None, ge=0, le=100)
    sets: int | None = Field(default=None, ge=1, le=20, description="Sets per session the person was doing.")
    reps: int | None = Field(default=None, ge=1, le=100, description="Repetitions (or holds) per set.")
    load_kg: float | None = Field(default=None, gt=0, le=500, description="External load used, kg.")
    sessions_per_week: int | None = Field(default=None, ge=1, le=14, description="Sessions a week done.")


class Readiness(_Strict):
    """The person's and the team's view of returning to activity (a return-to-activity criterion)."""

    psychologically_ready: bool | None = Field(default=None, description="The person says they feel ready.")
    apprehension: bool | None = Field(default=None, description="Fear or insecurity about the return.")
    cleared_by: list[str] = Field(
        default_factory=list, description="Who has cleared the return, e.g. [sports_physician, surgeon]."
    )


class Vitals(_Strict):
    """Resting vital signs taken at the visit, seated after a few minutes' rest."""

    systolic_mmhg: int | None = Field(default=None, ge=50, le=300, description="Resting systolic blood pressure.")
    diastolic_mmhg: int | None = Field(default=None, ge=20, le=200, description="Resting diastolic blood pressure.")
    heart_rate_bpm: int | None = Field(default=None, ge=20, le=250, description="Resting heart rate.")
    spo2_percent: float | None = Field(default=None, ge=50, le=100, description="Oxygen saturation at rest.")

    @model_validator(mode="after")
    def _pressure_pair(self) -> Vitals:
        if (self.systolic_mmhg is None) != (self.diastolic_mmhg is None):
            raise ValueError("give blood pressure as both systolic_mmhg and diastolic_mmhg")
        return self


class Visit(_Strict):
    date: dt.date
    vitals: Vitals | None = Field(default=None, description="Resting blood pressure, heart rate and SpO2.")
    measurements: list[Measurement] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    observation_sides: dict[str, Side | Literal["both"]] = Field(
        default_factory=dict, description="Side per observation where it applies, e.g. {pelvic_drop: right}."
    )
    exercise_responses: list[ExerciseResponse] = Field(default_factory=list)
    readiness: Readiness | None = None
    activity_checks: dict[str, bool] = Field(
        default_factory=dict, description="Activities tried at the visit and whether they were pain-free, e.g. "
        "{walk_pain_free: true, jog_pain_free: false}; the keys are listed in `hipext schema case`.")
    notes: str | None = None


class Case(_Strict):
    hipext_case: Literal[1] = Field(description="Case file format version.")
    patient: Patient
    history: History = Field(default_factory=History)
    visits: list[Visit] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _age_from_birth(cls, data: Any) -> Any:
        # A date of birth stands in for the age: reckoned at the latest visit here, at the evaluation date later.
        if not isinstance(data, dict) or not isinstance(data.get("patient"), dict):
            return data
        patient = data["patient"]
        if patient.get("age") is not None or not patient.get("date_of_birth"):
            return data
        try:
            born = dt.date.fromisoformat(str(patient["date_of_birth"]))
            days = [dt.date.fromisoformat(str(v["date"])) for v in data.get("visits") or [] if isinstance(v, dict)]
        except (ValueError, KeyError, TypeError):
            return data  # the field validators name the bad date
        if days:
            return dict(data, patient=dict(patient, age=age_on(born, max(days))))
        return data

    # Where each visit (oldest first) sat in the file, so a problem names the field as the user wrote it.
    _file_positions: list[int] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _visits_oldest_first(self) -> Case:
        # Clinicians may list visits in any order; everything downstream reads them oldest first.
        order = sorted(range(len(self.visits)), key=lambda i: self.visits[i].date)
        self.visits = [self.visits[i] for i in order]
        self._file_positions = order
        return self

    @property
    def latest_visit(self) -> Visit | None:
        return self.visits[-1] if self.visits else None

    def visit_path(self, k: int) -> str:
        """The path of `visits[k]` (oldest first) as the user wrote the case: its position in their file."""
        positions = self._file_positions
        return f"visits[{positions[k] if k < len(positions) else k}]"


Measurement.model_rebuild()
