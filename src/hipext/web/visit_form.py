"""The visit form <-> visit data. The measurement fields are built from the evidence data (protocols,
questionnaires); a posted form becomes a visit validated by `hipext.caseio.parse_case`, and a stored visit becomes the
form's values again (to amend it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hipext import evidence
from hipext.web import response_form, visit_checks
from hipext.web.forms import FIELD_LABELS, clean, field_errors

SIDES = ("left", "right")
FORCE_UNITS = ["N", "lbf", "kgf"]  # chosen once per visit
FORCE_FIELDS = {"N": "trials_n", "lbf": "trials_lbf", "kgf": "trials_kgf"}
SET_UP_ONLY = frozenset({"lever_arm_m", "fixation", "device"})
MMT_GRADES = ["5", "5-", "4+", "4", "4-", "3+", "3", "3-", "2+", "2", "2-", "1", "0"]
PAIN_CONTEXTS = ["worst_24h", "at_rest", "during_test", "average_week"]
PROM_ITEM_FALLBACK = {"lefs": 20, "hoos": 40, "hoos12": 12, "ihot12": 12, "visa_h": 8}


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
                    Field(pre + "lever_arm_m", "Lever arm (m)", help="hip centre to pad; blank: force only"),
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


@dataclass
class VisitBuild:
    visit: dict[str, Any]
    field_of: dict[str, str]  # problem-path prefix within the visit -> form field name


def visit_from_form(form: Any, response_rows: list[str]) -> VisitBuild:
    """Build one visit; remember which form field each part came from."""
    getlist = form.getlist if hasattr(form, "getlist") else (lambda k: [form[k]] if k in form else [])
    visit: dict[str, Any] = {}
    field_of: dict[str, str] = {"date": "visit.date", "notes": "visit.notes", "observations": "visit.observations"}
    date = clean(form.get("visit.date"))
    if date:
        visit["date"] = date
    notes = clean(form.get("visit.notes"))
    if notes:
        visit["notes"] = notes
    measurements: list[dict[str, Any]] = []
    for tf in measurement_forms():
        for side in tf.sides:
            pre = f"m.{tf.id}.{side or 'x'}."
            vals = {f.name[len(pre) :]: clean(form.get(f.name)) for f in tf.fields[side]}
            filled = {k: v for k, v in vals.items() if v}
            if set(filled) <= SET_UP_ONLY:  # a remembered lever arm or fixation alone is not a measurement
                continue
            j = len(measurements)
            m: dict[str, Any] = {"test": tf.id}
            if side:
                m["side"] = side
            where = f"measurements[{j}]"
            field_of[where] = pre + "_group"
            trials = [vals[f"trial{i}"] for i in (1, 2, 3) if vals.get(f"trial{i}")]
            if tf.kind == "hhd" and trials:
                unit_field = FORCE_FIELDS.get(clean(form.get("visit.force_unit")) or "N", "trials_n")
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
            s = clean(form.get(f"visit.observation_side.{o}"))
            if s:
                sides[o] = s
        if sides:
            visit["observation_sides"] = sides
    responses, response_fields = response_form.responses_from_form(form, response_rows)
    field_of |= response_fields
    if responses:
        visit["exercise_responses"] = responses
    checks, check_fields = visit_checks.checks_from_form(form)
    visit |= checks
    field_of |= check_fields
    return VisitBuild(visit, field_of)


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

    found = problems_of(visit) + unscorable_questionnaires(visit)
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


def unscorable_questionnaires(visit: dict[str, Any]) -> list[dict[str, Any]]:
    """Questionnaires with too few answers for their published scoring rule: named on the form, never saved as an
    unscored entry (a LEFS with 11 of 20 items used to be saved silently as '- points')."""
    from hipext.core.prom import score  # noqa: PLC0415

    out = []
    for j, m in enumerate(visit.get("measurements") or []):
        rule = _prom(m.get("test"))
        if rule is None or not m.get("items") or m.get("activities"):
            continue
        try:
            items = {int(k): float(v) for k, v in m["items"].items() if str(v).strip()}
        except (TypeError, ValueError):
            continue  # the schema check names the bad answer
        sc = score(rule, items)
        if sc.total is None and (not sc.subscales or any(v is None for v in sc.subscales.values())):
            missing = [i for i in range(1, rule.items + 1) if i not in items]
            out.append(
                {
                    "path": f"visits[0].measurements[{j}].items",
                    "value": f"{len(items)} of {rule.items} answered",
                    "expected": "answers to enough items to score it ("
                    + "; ".join(sc.notes)
                    + f"); not answered: items {', '.join(map(str, missing))}",
                }
            )
    return out


@lru_cache(maxsize=1)
def field_labels() -> dict[str, str]:
    """Human labels for form field names, for the problem summary at the top of a form."""
    labels = {
        "visit.date": "Visit date",
        "visit.notes": "Notes",
        "visit.observations": "Observations",
        "visit._general": "Visit",
    } | visit_checks.labels()
    for tf in measurement_forms():
        for side in tf.sides:
            where = f"{tf.name}" + (f" ({side})" if side else "")
            labels[f"m.{tf.id}.{side or 'x'}._group"] = where
            for f in tf.fields[side]:
                labels[f.name] = f"{where}: {f.label}"
    return labels


def visit_values(visit: dict[str, Any]) -> dict[str, Any]:
    """A stored visit as the form's values (the inverse of `visit_from_form`), to amend it."""
    v: dict[str, Any] = {"visit.date": str(visit.get("date", "")), "visit.notes": visit.get("notes", "")}
    v["visit.force_unit"] = next(
        (u for m in visit.get("measurements") or [] for u, f in FORCE_FIELDS.items() if m.get(f)), "N"
    )
    for m in visit.get("measurements") or []:
        pre = f"m.{m['test']}.{m.get('side') or 'x'}."
        for key in ("trials_n", "trials_lbf", "trials_kgf", "trials_nm"):
            for i, t in enumerate(m.get(key) or [], start=1):
                v[f"{pre}trial{i}"] = f"{t:g}" if isinstance(t, (int, float)) else str(t)
        for k, x in m.items():
            if isinstance(x, bool):
                v[pre + k] = "on" if x else ""
            elif isinstance(x, (int, float, str)) and k not in ("test", "side"):
                v[pre + k] = f"{x:g}" if isinstance(x, float) else str(x)
        for i, x in (m.get("items") or {}).items():
            v[f"{pre}item{i}"] = f"{x:g}" if isinstance(x, (int, float)) else str(x)
        for i, a in enumerate(m.get("activities") or [], start=1):
            v[f"{pre}activity{i}"], v[f"{pre}activity{i}_score"] = str(a.get("activity", "")), str(a.get("score", ""))
    v["visit.observations"] = list(visit.get("observations") or [])
    for o, side in (visit.get("observation_sides") or {}).items():
        v[f"visit.observation_side.{o}"] = side
    v |= response_form.response_values(visit.get("exercise_responses") or [])
    v |= visit_checks.check_values(visit)
    return v


def remembered_lever_arms(visits: list[dict[str, Any]]) -> dict[str, str]:
    """Each dynamometry test's and side's lever arm as last recorded for this patient, to prefill the next visit."""
    out: dict[str, str] = {}
    for visit in visits:  # oldest first: the latest wins
        for m in visit.get("measurements") or []:
            if m.get("lever_arm_m") is not None:
                out[f"m.{m['test']}.{m.get('side') or 'x'}.lever_arm_m"] = f"{m['lever_arm_m']:g}"
    return out


def label_problems(problems: list[dict[str, Any]], field_of: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Name each problem by the label of the field the clinician sees ("Body mass", "Hand-held dynamometry, ...
    (right): Trial 2"), never by the case file's internal path."""
    labels = FIELD_LABELS | field_labels()
    for pr in problems:
        if pr["path"] == "reason":
            pr["label"] = labels["reason"]
            continue
        target = next(iter(field_errors([pr], field_of)), "")
        red_flag = target.startswith("history.red_flags.")
        pr["label"] = labels.get(target) or response_form.field_label(target) or (
            "Screening question: " + target.rsplit(".", 1)[1].replace("_", " ") if red_flag else "The form"
        )
    return problems
