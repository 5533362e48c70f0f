"""HTML forms <-> case data. The form is built from the evidence data (protocols, questionnaires); validation is
`hipext.caseio.parse_case`, whose problems are mapped back to the fields that caused them."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hipext import evidence
from hipext.core import case as case_model

SIDES = ("left", "right")
MMT_GRADES = ["5", "5-", "4+", "4", "4-", "3+", "3", "3-", "2+", "2", "2-", "1", "0"]
PAIN_CONTEXTS = ["worst_24h", "at_rest", "during_test", "average_week"]
# Screening questions asked at every new visit (answers go to history.red_flags). The keys are those the screening
# rules read (data/care/screening_rules.yaml); these labels only phrase the common ones for the clinician.
QUESTION_LABELS = {
    "saddle_anaesthesia": "Numbness in the saddle area",
    "bladder_or_bowel_change": "New bladder or bowel change",
    "bilateral_leg_weakness": "Weakness in both legs",
    "suspected_fracture": "Fall or trauma with a suspected fracture",
    "unable_to_bear_weight": "Unable to bear weight",
    "fever": "Fever",
    "systemically_unwell": "Feeling systemically unwell",
    "hot_swollen_joint": "Hot, swollen joint",
    "calf_swelling": "Calf swelling",
    "calf_tenderness": "Calf tenderness",
    "history_of_cancer": "History of cancer",
    "night_pain": "Pain at night",
    "unexplained_weight_loss": "Unexplained weight loss",
    "severe_pain_with_movement": "Severe pain with movement",
    "unsafe_movement_control": "Unsafe movement control (neurological)",
    "falls_risk": "At risk of falls",
    "exertional_chest_pain": "Chest pain on exertion",
    "exertional_breathlessness": "Breathlessness on exertion",
    "exertion_monitoring_available": "Exertion can be monitored (e.g. supervised, with ECG)",
}
COMMON_QUESTIONS = [k for k in QUESTION_LABELS if k != "exertion_monitoring_available"]


@lru_cache(maxsize=1)
def screening_questions() -> list[tuple[str, str]]:
    """Every red-flag key the screening rules read (the only keys a case may carry), the common ones first."""
    try:
        from hipext.care import data as care_data  # noqa: PLC0415

        ordered: list[str] = []
        for rule in care_data.rules():
            for item in (rule.get("triggers") or []) + (rule.get("unless") or []):
                ordered += [k for k in item.get("red_flags") or [] if k not in ordered]
        known = set(care_data.red_flag_questions()) if hasattr(care_data, "red_flag_questions") else set(ordered)
        keys = [k for k in COMMON_QUESTIONS if k in known] + [
            k for k in ordered if k in known and k not in COMMON_QUESTIONS
        ]
    except Exception:  # noqa: BLE001 - the form still asks the common questions
        keys = list(COMMON_QUESTIONS)
    return [(k, QUESTION_LABELS.get(k, k.replace("_", " ").capitalize())) for k in keys]


PROM_ITEM_FALLBACK = {"lefs": 20, "hoos": 40, "hoos12": 12, "ihot12": 12, "visa_h": 8}


def literal_values(tp: Any) -> list[str]:
    return [str(x) for x in typing.get_args(tp)]


OBSERVATIONS = literal_values(case_model.Observation)
ACTIVITY_LEVELS = literal_values(case_model.ActivityLevel)
INVOLVED_SIDES = literal_values(case_model.InvolvedSide)
RESTRICTION_KINDS = literal_values(case_model.Restriction.model_fields["kind"].annotation)


@dataclass
class Field:
    name: str  # HTML name
    label: str
    kind: str = "number"  # number | text | select | checkbox | date
    options: list[str] = field(default_factory=list)
    step: str = "any"
    help: str | None = None


@dataclass
class TestForm:
    id: str
    name: str
    kind: str
    description: str
    unit: str
    sides: list[str | None]
    fields: dict[str | None, list[Field]]  # per side


def _protocols() -> list[Any]:
    return list(evidence.load().protocols.values())


def _prom(instrument: str | None) -> Any:
    if not instrument:
        return None
    try:
        return evidence.load().proms.get(instrument)
    except Exception:  # noqa: BLE001 - questionnaire data optional for the form
        return None


@lru_cache(maxsize=1)
def measurement_forms() -> list[TestForm]:
    forms = []
    for p in _protocols():
        sides: list[str | None] = list(SIDES) if p.bilateral else [None]
        per_side: dict[str | None, list[Field]] = {}
        for side in sides:
            pre = f"m.{p.id}.{side or 'x'}."
            fs: list[Field] = []
            if p.kind == "hhd":
                fs += [Field(pre + f"trial{i}", f"Trial {i}") for i in (1, 2, 3)]
                fs += [
                    Field(pre + "force_unit", "Unit", "select", ["N", "lbf", "kgf"]),
                    Field(pre + "lever_arm_m", "Lever arm (m)", help="hip joint centre to pad"),
                    Field(pre + "fixation", "Fixation", "select", ["", "belt", "manual", "rig"]),
                    Field(pre + "device", "Device", "text"),
                ]
            elif p.kind == "isokinetic":
                fs += [Field(pre + f"trial{i}", f"Torque {i} (N m)") for i in (1, 2, 3)]
                fs += [
                    Field(pre + "velocity_deg_s", "Velocity (°/s)"),
                    Field(pre + "mode", "Mode", "select", ["", "concentric", "eccentric", "isometric"]),
                ]
            elif p.kind == "mmt":
                fs.append(Field(pre + "grade", "MRC grade", "select", [""] + MMT_GRADES))
            elif p.kind == "count":
                fs.append(Field(pre + "reps", p.unit.capitalize(), step="1"))
                if "chair" in p.id:
                    fs.append(Field(pre + "used_arms", "Used arms", "checkbox"))
            elif p.kind == "time":
                fs.append(Field(pre + "time_s", "Time (s)"))
                if any("steps" in r for r in p.requires):
                    fs.append(Field(pre + "steps", "Steps", step="1"))
            elif p.kind == "rom":
                fs.append(Field(pre + "angle_deg", "Angle (°)"))
            elif p.kind == "pain":
                fs.append(Field(pre + "value", "Pain 0-10"))
                fs.append(Field(pre + "context", "Context", "select", [""] + PAIN_CONTEXTS))
            elif p.kind == "prom":
                if "activities" in p.requires:
                    for i in range(1, 6):
                        fs.append(Field(pre + f"activity{i}", f"Activity {i}", "text"))
                        fs.append(Field(pre + f"activity{i}_score", f"Score {i} (0-10)"))
                else:
                    rule = _prom(p.instrument)
                    n = rule.items if rule else PROM_ITEM_FALLBACK.get(p.instrument or "", 0)
                    labels = rule.item_labels if rule else {}
                    lo = f"{rule.item_min:g}" if rule else ""
                    for i in range(1, n + 1):
                        hi = f"{rule.item_max_overrides.get(i, rule.item_max):g}" if rule else ""
                        rng = f" ({lo}-{hi})" if rule else ""
                        label = f"{i}. {labels.get(i, 'Item ' + str(i))}{rng}"
                        allowed = rule.item_allowed_values.get(i) if rule else None
                        if allowed:
                            fs.append(Field(pre + f"item{i}", label, "select", [""] + [f"{a:g}" for a in allowed]))
                        else:
                            fs.append(Field(pre + f"item{i}", label))
            elif p.kind == "special":
                fs.append(Field(pre + "result", "Result", "select", ["", "positive", "negative"]))
                fs.append(Field(pre + "pain_provoked", "Pain provoked", "checkbox"))
            fs.append(Field(pre + "note", "Note", "text"))
            per_side[side] = fs
        forms.append(TestForm(p.id, p.name, p.kind, p.description, p.unit, sides, per_side))
    return forms


# --- posted form -> case data ----------------------------------------------------------------------------------------


def _clean(v: Any) -> str:
    return str(v).strip() if v is not None else ""


def _list(v: str) -> list[str]:
    return [x.strip() for x in re.split(r"[,\n]", v) if x.strip()]


def patient_from_form(form: dict[str, str]) -> dict[str, Any]:
    p: dict[str, Any] = {}
    for k in ("id", "age", "sex", "body_mass_kg", "height_m", "activity_level", "training_status"):
        v = _clean(form.get(f"patient.{k}"))
        if v:
            p[k] = v
    goals = _list(_clean(form.get("patient.goals")).replace("\r", ""))
    if goals:
        p["goals"] = goals
    return p


def history_from_form(form: dict[str, str]) -> dict[str, Any]:
    h: dict[str, Any] = {}
    v = _clean(form.get("history.involved_side"))
    if v:
        h["involved_side"] = v
    for k in ("presentation", "conditions", "comorbidities", "medications"):
        items = _list(_clean(form.get(f"history.{k}")))
        if items:
            h[k] = items
    onset = {k: _clean(form.get(f"history.onset.{k}")) for k in ("date", "mechanism")}
    onset = {k: v for k, v in onset.items() if v}
    if onset:
        h["onset"] = onset
    given = {k: _clean(form.get(f"history.surgery.{k}")) for k in ("procedure", "side", "date", "restrictions_weeks")}
    surgery: dict[str, Any] = {k: v for k, v in given.items() if v}
    restrictions: list[dict[str, str]] = []
    for i in range(3):
        r = {k: _clean(form.get(f"history.surgery.restrictions[{i}].{k}")) for k in ("kind", "value", "until", "note")}
        r = {k: v for k, v in r.items() if v}
        if r:
            restrictions.append(r)
    if restrictions:
        surgery["restrictions"] = restrictions
    if surgery:
        h["surgery"] = surgery
    flags = {}
    for key, _label in screening_questions():
        ans = _clean(form.get(f"history.red_flags.{key}"))
        if ans in ("yes", "no"):
            flags[key] = ans == "yes"
    if flags:
        h["red_flags"] = flags
    return h


def _num_or_text(v: str) -> Any:
    return v


@dataclass
class VisitBuild:
    visit: dict[str, Any]
    field_of: dict[str, str]  # problem-path prefix within the visit -> form field name


def visit_from_form(form: Any, response_rows: list[str]) -> VisitBuild:
    """Build one visit; remember which form field each part came from."""
    getlist = form.getlist if hasattr(form, "getlist") else (lambda k: [form[k]] if k in form else [])
    visit: dict[str, Any] = {}
    field_of: dict[str, str] = {"date": "visit.date", "notes": "visit.notes", "observations": "visit.observations"}
    date = _clean(form.get("visit.date"))
    if date:
        visit["date"] = date
    notes = _clean(form.get("visit.notes"))
    if notes:
        visit["notes"] = notes
    measurements: list[dict[str, Any]] = []
    for tf in measurement_forms():
        for side in tf.sides:
            pre = f"m.{tf.id}.{side or 'x'}."
            vals = {f.name[len(pre) :]: _clean(form.get(f.name)) for f in tf.fields[side]}
            filled = {k: v for k, v in vals.items() if v and k not in ("force_unit",)}
            if not filled:
                continue
            j = len(measurements)
            m: dict[str, Any] = {"test": tf.id}
            if side:
                m["side"] = side
            where = f"measurements[{j}]"
            field_of[where] = pre + "_group"
            trials = [vals[f"trial{i}"] for i in (1, 2, 3) if vals.get(f"trial{i}")]
            if tf.kind == "hhd" and trials:
                unit_field = {"N": "trials_n", "lbf": "trials_lbf", "kgf": "trials_kgf"}.get(
                    vals.get("force_unit") or "N", "trials_n"
                )
                m[unit_field] = trials
                field_of[f"{where}.{unit_field}"] = pre + "trial1"
                for i, _t in enumerate(trials):
                    field_of[f"{where}.{unit_field}[{i}]"] = pre + f"trial{i + 1}"
                for req in ("trials_n", "trials_lbf", "trials_kgf"):
                    field_of.setdefault(f"{where}.{req}", pre + "trial1")
            elif tf.kind == "isokinetic" and trials:
                m["trials_nm"] = trials
                for i, _t in enumerate(trials):
                    field_of[f"{where}.trials_nm[{i}]"] = pre + f"trial{i + 1}"
            field_of.setdefault(f"{where}.trials_n", pre + "trial1")
            field_of.setdefault(f"{where}.trials_nm", pre + "trial1")
            for k in (
                "lever_arm_m",
                "fixation",
                "device",
                "velocity_deg_s",
                "mode",
                "grade",
                "reps",
                "time_s",
                "steps",
                "angle_deg",
                "value",
                "context",
                "result",
                "note",
            ):
                field_of[f"{where}.{k}"] = pre + k
                if vals.get(k):
                    m[k] = vals[k]
            for k in ("used_arms", "pain_provoked"):
                field_of[f"{where}.{k}"] = pre + k
                if vals.get(k):
                    m[k] = vals[k] in ("on", "true", "yes", "1")
            items = {}
            for k, v in vals.items():
                if k.startswith("item") and v:
                    items[int(k[4:])] = v
                    field_of[f"{where}.items.{int(k[4:])}"] = pre + k
            if tf.kind == "prom" and "activities" not in str(tf.fields):
                field_of[f"{where}.items"] = pre + "_group"
            if items:
                m["items"] = items
            acts: list[dict[str, str]] = []
            for i in range(1, 6):
                a, sc = vals.get(f"activity{i}"), vals.get(f"activity{i}_score")
                if a or sc:
                    field_of[f"{where}.activities[{len(acts)}].activity"] = pre + f"activity{i}"
                    field_of[f"{where}.activities[{len(acts)}].score"] = pre + f"activity{i}_score"
                    acts.append({"activity": a or "", "score": sc or ""})
            if acts:
                m["activities"] = acts
            measurements.append(m)
    if measurements:
        visit["measurements"] = measurements
    obs = [o for o in getlist("visit.observations") if o]
    if obs:
        visit["observations"] = obs
        sides = {}
        for o in obs:
            s = _clean(form.get(f"visit.observation_side.{o}"))
            if s:
                sides[o] = s
        if sides:
            visit["observation_sides"] = sides
    responses: list[dict[str, Any]] = []
    for row_no, ex_id in enumerate(response_rows):
        pre = f"er.{row_no}."
        vals = {
            f: _clean(form.get(pre + f))
            for f in (
                "pain_during",
                "pain_next_morning",
                "pain_baseline",
                "rpe",
                "reps_in_reserve",
                "sessions_done",
                "sessions_planned",
                "compensation",
                "completed",
            )
        }
        if not any(v for f, v in vals.items() if f != "completed"):
            continue
        idx = len(responses)
        r: dict[str, Any] = {"exercise": ex_id, "completed": vals["completed"] in ("on", "yes", "true", "1")}
        for f, v in vals.items():
            field_of[f"exercise_responses[{idx}].{f}"] = pre + f
            if f in ("completed",) or not v:
                continue
            r[f] = _list(v) if f == "compensation" else v
        responses.append(r)
    if responses:
        visit["exercise_responses"] = responses
    return VisitBuild(visit, field_of)


def field_errors(problems: list[dict[str, Any]], visit_field_of: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Map problem paths ('visits[0].measurements[2].lever_arm_m') to form field names."""
    errors: dict[str, list[str]] = {}
    for p in problems:
        path = p["path"]
        msg = f"expected {p['expected']}" + (f" (got {p['value']!r})" if p.get("value") not in (None, "") else "")
        target = None
        if path.startswith("visits[0]") and visit_field_of is not None:
            probe = path[len("visits[0]") :].lstrip(".")
            while probe:
                if probe in visit_field_of:
                    target = visit_field_of[probe]
                    break
                nxt = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", probe)
                if nxt == probe:
                    break
                probe = nxt
            target = target or "visit._general"
        else:
            probe = path
            known = {
                "patient.id",
                "patient.age",
                "patient.sex",
                "patient.body_mass_kg",
                "patient.height_m",
                "patient.activity_level",
                "patient.training_status",
                "patient.goals",
                "history.involved_side",
                "history.presentation",
                "history.conditions",
                "history.comorbidities",
                "history.medications",
                "history.onset.date",
                "history.onset.mechanism",
                "history.surgery.procedure",
                "history.surgery.side",
                "history.surgery.date",
                "history.surgery.restrictions_weeks",
            }
            known |= {f"history.surgery.restrictions[{i}].{k}" for i in range(3) for k in ("kind", "value", "until")}
            while probe and probe not in known:
                nxt = re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", probe)
                if nxt == probe:
                    break
                probe = nxt
            target = probe if probe in known else "_general"
        errors.setdefault(target, []).append(msg)
    return errors


def visit_problems(patient: dict[str, Any], history: dict[str, Any], visit: dict[str, Any]) -> list[dict[str, Any]]:
    """Every problem of a new visit, through `parse_case` (the CLI's validation).

    `parse_case` reports schema problems first and checks what each test needs only once the schema is clean; a form
    should show everything at once, so each measurement is also validated on its own and its problems re-pathed.
    """
    from hipext.caseio import parse_case  # noqa: PLC0415
    from hipext.core.errors import CaseInputError  # noqa: PLC0415

    def problems_of(v: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            parse_case({"hipext_case": 1, "patient": patient, "history": history, "visits": [v]})
        except CaseInputError as exc:
            return [p.as_dict() for p in exc.problems]
        return []

    found = problems_of(visit)
    if not found:
        return []
    seen = {(p["path"], p["expected"]) for p in found}
    for j, m in enumerate(visit.get("measurements") or []):
        for p in problems_of({"date": "2000-01-01", "measurements": [m]}):
            if not p["path"].startswith("visits[0].measurements[0]"):
                continue
            p = dict(p, path=p["path"].replace("visits[0].measurements[0]", f"visits[0].measurements[{j}]", 1))
            if (p["path"], p["expected"]) not in seen:
                seen.add((p["path"], p["expected"]))
                found.append(p)
    return found


@lru_cache(maxsize=1)
def field_labels() -> dict[str, str]:
    """Human labels for form field names, for the problem summary at the top of a form."""
    labels = {
        "visit.date": "Visit date",
        "visit.notes": "Notes",
        "visit.observations": "Observations",
        "visit._general": "Visit",
    }
    for tf in measurement_forms():
        for side in tf.sides:
            where = f"{tf.name}" + (f" ({side})" if side else "")
            labels[f"m.{tf.id}.{side or 'x'}._group"] = where
            for f in tf.fields[side]:
                labels[f.name] = f"{where}: {f.label}"
    return labels
