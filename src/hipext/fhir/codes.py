"""Code systems, extension URLs and unit mappings used by the FHIR export.

Only codes the reference research confirms are taken from external terminologies (LOINC 72514-3 for NPRS, SNOMED CT
229065009 exercise therapy, SNOMED CT laterality 7771000 / 24028007); everything else is a local hipext code under
`https://hipext.org/fhir/CodeSystem/...`, and the bundle ships a `CodeSystem` fragment defining each local code it
uses. Add an external code here only after checking it in the official browser.
"""

from __future__ import annotations

BASE = "https://hipext.org/fhir"

# Local code systems (canonical URLs).
CS_TEST = f"{BASE}/CodeSystem/test"  # protocol ids from evidence/protocols.yaml
CS_MEASURE = f"{BASE}/CodeSystem/measure"  # derived quantities and components (LSI, torque per kg, trials...)
CS_MRC_GRADE = f"{BASE}/CodeSystem/mrc-grade"  # MRC manual muscle test grades 0-5 with + and -
CS_TEST_RESULT = f"{BASE}/CodeSystem/test-result"  # special test results: positive / negative
CS_CHANGE_VERDICT = f"{BASE}/CodeSystem/change-verdict"  # change since the last visit against the MDC / MCID
CS_SCREENING_RULE = f"{BASE}/CodeSystem/screening-rule"  # screening rule ids
CS_EXERCISE = f"{BASE}/CodeSystem/exercise"  # exercise library ids
CS_CARE_ACTIVITY = f"{BASE}/CodeSystem/care-activity"  # re-test, re-screen
CS_FINDING_TOPIC = f"{BASE}/CodeSystem/finding-topic"

# Identifier systems and extensions.
SID_CASE = f"{BASE}/sid/case-id"
SID_BUNDLE = "urn:ietf:rfc:3986"
EXT_AGE = f"{BASE}/StructureDefinition/age-at-evaluation"  # Patient: age in years (no birth date in a case)
EXT_READING_GRADE = f"{BASE}/StructureDefinition/reading-grade"  # DocumentReference: Flesch-Kincaid grade
EXT_SCREENING_DECISION = f"{BASE}/StructureDefinition/screening-decision"  # DetectedIssue: hipext decision
EXT_LATERALITY = "http://hl7.org/fhir/StructureDefinition/observation-structureLaterality"  # FHIR Extensions Pack
EXT_DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

# External terminologies.
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"

LOINC_BY_TEST = {"nprs": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")}
SNOMED_EXERCISE_THERAPY = ("229065009", "Exercise therapy")
SNOMED_LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}

# Evaluation unit -> (UCUM code, human unit). Points are scores, repetitions and stands are counts.
UCUM_UNITS: dict[str, tuple[str, str]] = {
    "N m": ("N.m", "N m"),
    "N": ("N", "N"),
    "s": ("s", "s"),
    "deg": ("deg", "deg"),
    "points": ("{score}", "points"),
    "repetitions": ("{#}", "repetitions"),
    "stands": ("{#}", "stands"),
    "%": ("%", "%"),
    "N m/kg": ("N.m/kg", "N m/kg"),
    "%BW": ("%", "% body weight"),
}

# Observation category by measurement kind (evidence/models.py MeasurementKind).
CATEGORY_BY_KIND = {
    "hhd": "exam", "isokinetic": "exam", "mmt": "exam", "count": "exam", "time": "exam", "rom": "exam",
    "special": "exam", "prom": "survey", "pain": "survey",
}

# Screening decision -> DetectedIssue.severity (high | moderate | low). Referral (urgent or not) is high; a rule that
# defers or modifies testing and exercise is moderate; a rule that lets everything proceed is low.
SEVERITY_BY_DECISION = {
    "refer_urgent": "high", "refer": "high", "defer": "moderate", "modify": "moderate", "proceed": "low",
}

# Norm status -> v3 ObservationInterpretation.
NORM_INTERPRETATION = {"below": ("L", "Low"), "within": ("N", "Normal"), "above": ("H", "High")}
RESULT_INTERPRETATION = {"positive": ("POS", "Positive"), "negative": ("NEG", "Negative")}

# Return-to-activity criterion status -> goal-achievement code (None: leave achievementStatus out).
ACHIEVEMENT_BY_STATUS = {"met": ("achieved", "Achieved"), "not_met": ("in-progress", "In Progress"),
                         "not_yet_measured": None, "not_assessable": None}

VERDICT_DISPLAY = {
    "real_change": "Real change (beyond the MDC or MCID)",
    "possibly_real": "Possibly real (inside the published MDC range)",
    "within_measurement_error": "Within measurement error",
    "not_comparable": "Not comparable (different set-up)",
    "no_error_estimate": "No published error estimate",
}

# Local concept definitions for the measure system: code -> (display, definition).
MEASURES: dict[str, tuple[str, str]] = {
    "limb-symmetry-index": ("Limb symmetry index",
                            "Involved side / uninvolved side x 100, from unrounded values of the same test and visit."),
    "side-to-side-asymmetry": ("Side-to-side asymmetry",
                               "(larger - smaller) / larger x 100, when no single side is involved."),
    "torque": ("Torque", "Best-trial torque about the hip, N m."),
    "torque-per-kg": ("Torque per body mass", "Best-trial torque divided by body mass, N m/kg."),
    "force-best": ("Best force trial", "Highest force trial, N."),
    "force-percent-bw": ("Force as % body weight", "Best force as a percentage of body weight."),
    "trial-best": ("Best trial", "Highest trial in the reported trial unit."),
    "trial-mean": ("Mean of trials", "Mean of all trials in the reported trial unit."),
    "trial-cv": ("Trial coefficient of variation", "Trial-to-trial coefficient of variation, %."),
    "trial-count": ("Number of trials", "How many trials were recorded."),
    "change-since-previous": ("Change since the previous visit", "Current minus previous value, same set-up."),
    "change-threshold": ("Change threshold", "MDC (or MCID for questionnaires) the change was compared with."),
}

MRC_GRADE_DISPLAY = "MRC grade {}"

# --- The case itself (what the clinician recorded), so a hipext bundle reads back into the same case ---------------

CS_CASE_FIELD = f"{BASE}/CodeSystem/case-field"  # case-file field names (`hipext schema case`) as component codes
CS_RECORD = f"{BASE}/CodeSystem/record"  # kinds of recorded data: movement observation, exercise response, ...
CS_HISTORY = f"{BASE}/CodeSystem/history"  # history list a Condition came from: presentation, condition, comorbidity
CS_MOVEMENT = f"{BASE}/CodeSystem/movement-observation"  # observed movement findings (case `observations`)
CS_ACTIVITY_CHECK = f"{BASE}/CodeSystem/activity-check"  # activities tried at a visit (case `activity_checks`)
CS_RECORD_TAG = f"{BASE}/CodeSystem/record-tag"  # meta.tag: withheld (a record of a test screening now blocks)
SID_RECORD = f"{BASE}/sid/record"  # identifier of each recorded item: where it sits in the case file
Q_BASE = f"{BASE}/Questionnaire"  # canonical URL of each questionnaire: Q_BASE/<instrument id>
Q_SCREENING = f"{Q_BASE}/screening-questions"

EXT_ACTIVITY_LEVEL = f"{BASE}/StructureDefinition/activity-level"  # Patient: valueCode
EXT_TRAINING_STATUS = f"{BASE}/StructureDefinition/training-status"  # Patient: valueCode
EXT_INVOLVED_SIDE = f"{BASE}/StructureDefinition/involved-side"  # EpisodeOfCare: valueCode left|right|both|none
EXT_ONSET_DATE = f"{BASE}/StructureDefinition/onset-date"  # EpisodeOfCare: valueDate
EXT_ONSET_MECHANISM = f"{BASE}/StructureDefinition/onset-mechanism"  # EpisodeOfCare: valueString
EXT_VISIT_NOTE = f"{BASE}/StructureDefinition/visit-note"  # Encounter: valueString
EXT_SIDE = f"{BASE}/StructureDefinition/side"  # Procedure: valueCode left|right
EXT_RESTRICTIONS_WEEKS = f"{BASE}/StructureDefinition/restrictions-weeks"  # Procedure: valueInteger
EXT_RESTRICTION = f"{BASE}/StructureDefinition/restriction"  # Procedure: kind, value, until, note (sub-extensions)
EXT_DEVICE_METRICS = f"{BASE}/StructureDefinition/device-metrics"  # Observation: valueString (JSON of the record)
EXT_CASE_FIELDS = f"{BASE}/StructureDefinition/case-fields"  # QuestionnaireResponse: other fields, valueString JSON
LOINC_EXERCISE_ACTIVITY = ("73985-4", "Exercise activity")

SNOMED_BOTH = ("51440002", "Right and left")
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# Vital signs: the R4 vital-signs profiles, their LOINC codes and UCUM units (read from the R4 StructureDefinitions).
VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
VITAL_SIGNS: dict[str, tuple[str, str, str]] = {  # name -> (profile id, LOINC code, display)
    "body_weight": ("bodyweight", "29463-7", "Body weight"),
    "body_height": ("bodyheight", "8302-2", "Body height"),
    "bmi": ("bmi", "39156-5", "Body mass index (BMI) [Ratio]"),
    "heart_rate": ("heartrate", "8867-4", "Heart rate"),
    "oxygen_saturation": ("oxygensat", "2708-6", "Oxygen saturation in Arterial blood"),
    "blood_pressure": ("bp", "85354-9", "Blood pressure panel with all children optional"),
    "systolic": ("bp", "8480-6", "Systolic blood pressure"),
    "diastolic": ("bp", "8462-4", "Diastolic blood pressure"),
    "pulse_oximetry": ("oxygensat", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
}
# Resting vitals of a visit (case `visits[].vitals`): field -> profile name, UCUM code, unit shown. Blood pressure
# travels as one panel (85354-9) with its systolic and diastolic components.
VITALS_FIELDS: dict[str, tuple[str, str, str]] = {
    "heart_rate_bpm": ("heart_rate", "/min", "beats/minute"),
    "spo2_percent": ("oxygen_saturation", "%", "%"),
}
MM_HG = ("mm[Hg]", "mmHg")

# Pregnancy (case `history.pregnancy`): LOINC 82810-3 with the LOINC answers of the IPS pregnancy-status value set;
# weeks of gestation as LOINC 11884-4 (gestational age, estimated). Weeks since the birth, the delivery and pelvic
# girdle pain have no code that was checked, so they travel as hipext case fields.
LOINC_PREGNANCY_STATUS = ("82810-3", "Pregnancy status")
PREGNANCY_ANSWER = {True: ("LA15173-0", "Pregnant"), False: ("LA26683-5", "Not pregnant")}
LOINC_GESTATIONAL_AGE = ("11884-4", "Gestational age Estimated")
EXT_GROWTH_PLATES = f"{BASE}/StructureDefinition/growth-plates"  # EpisodeOfCare: valueCode open|closed

# Foreign bundles: codes other systems use that hipext reads (everything else is listed as skipped).
LOINC_BODY_WEIGHT = {"29463-7", "3141-9"}  # body weight; body weight measured
LOINC_BODY_HEIGHT = {"8302-2", "8306-3", "3137-7"}  # body height; lying; measured
LOINC_PAIN = {"72514-3"}  # pain severity 0-10 verbal numeric rating
KG_PER = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237}  # exact definitions
M_PER = {"m": 1.0, "cm": 0.01, "[in_i]": 0.0254, "mm": 0.001}
