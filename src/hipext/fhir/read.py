"""FHIR into a case: a hipext bundle back into the case it came from, and what other systems' resources can give.

A hipext bundle carries every recorded item with an identifier saying where it sits in the case (`SID_RECORD`) and
every measurement field as a component coded with its case-file name, so it reads back exactly; what hipext derived
(scores, symmetry, screening, plan) is recomputed by evaluating the case, not read. From other systems hipext reads
the Patient (gender; age from the birth date on the evaluation date), body weight and height, pain ratings (LOINC
72514-3) and Observations coded with hipext test codes; everything else is listed as skipped, with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from hipext.core.errors import CaseInputError, Problem
from hipext.fhir import codes as C

Json = dict[str, Any]
_HIPEXT_SOURCE = f"{C.BASE}/software/hipext/"


@dataclass(frozen=True)
class Skipped:
    where: str  # e.g. "entry[12] Observation/abc"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def _codes(cc: Json | None, system: str) -> list[str | None]:
    """Codes of `system` in a CodeableConcept; `(_codes(...) or [None])[0]` is the first or None."""
    return [str(c["code"]) for c in (cc or {}).get("coding", []) if c.get("system") == system and c.get("code")]


def _ext(resource: Json, url: str) -> Any:
    for e in resource.get("extension", []):
        if e.get("url") == url:
            return next((v for k, v in e.items() if k.startswith("value")), e)
    return None


def _record_id(resource: Json) -> list[str] | None:
    ids = resource.get("identifier")
    for i in ids if isinstance(ids, list) else [ids] if isinstance(ids, dict) else []:
        if i.get("system") == C.SID_RECORD:
            return str(i.get("value", "")).split("/")
    return None


def _side(resource: Json) -> str | None:
    site = resource.get("bodySite")
    for e in (site or {}).get("extension", []) if isinstance(site, dict) else []:
        if e.get("url") == C.EXT_LATERALITY:
            code = (_codes(e.get("valueCodeableConcept"), C.SNOMED) or [None])[0]
            return {"7771000": "left", "24028007": "right", C.SNOMED_BOTH[0]: "both"}.get(code or "")
    return None


def _component_value(c: Json) -> Any:
    if "valueQuantity" in c:
        v = c["valueQuantity"].get("value")
        return v
    for key in ("valueBoolean", "valueInteger", "valueString"):
        if key in c:
            return c[key]
    if "valueCodeableConcept" in c:
        return (c["valueCodeableConcept"].get("coding") or [{}])[0].get("code")
    return None


_LIST_FIELDS = {"trials_n", "trials_lbf", "trials_kgf", "trials_nm", "compensation", "cleared_by"}


def _fields(resource: Json) -> dict[str, Any]:
    """Case-file fields carried as components coded in CS_CASE_FIELD (lists for repeated ones, in order)."""
    out: dict[str, Any] = {}
    for c in resource.get("component", []):
        names = _codes(c.get("code"), C.CS_CASE_FIELD)
        if not names:
            continue
        value, name = _component_value(c), str(names[0])
        if name in _LIST_FIELDS:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def _vitals(r: Json, name: str) -> Json:
    """A visit's vitals field(s) from its vital-signs Observation (blood pressure: the panel's two components)."""
    if name != "blood_pressure":
        return {name: r["valueQuantity"]["value"]}
    by_code = {(_codes(c.get("code"), C.LOINC) or [None])[0]: c["valueQuantity"]["value"] for c in r["component"]}
    return {"systolic_mmhg": by_code[C.VITAL_SIGNS["systolic"][1]],
            "diastolic_mmhg": by_code[C.VITAL_SIGNS["diastolic"][1]]}


def _date(text: str | None) -> str | None:
    return text[:10] if isinstance(text, str) and len(text) >= 10 else None


class _Reader:
    def __init__(self, bundle: Json, as_of: dt.date | None) -> None:
        self.bundle = bundle
        self.as_of = as_of
        self.skipped: list[Skipped] = []
        self.problems: list[Problem] = []
        self.visits: dict[int | str, Json] = {}  # hipext visit index, or a date for foreign observations
        self.patient: Json = {}
        self.history: Json = {}
        self.goals: dict[int, str] = {}
        self.ordered: list[tuple[tuple[int, ...], Json, str, Json]] = []  # (sort key, visit, list name, item)

    def visit(self, key: int | str, date: str | None = None) -> Json:
        return self.visits.setdefault(key, {"date": date or (key if isinstance(key, str) else None)})

    # -- the case's own records -----------------------------------------------------------------------------

    def hipext_record(self, r: Json, path: list[str], where: str) -> None:
        kind = r["resourceType"]
        if path[:1] == ["visits"] and len(path) >= 2 and path[1].isdigit():
            vi = int(path[1])
            if kind == "Encounter" and len(path) == 2:
                v = self.visit(vi)
                v["date"] = _date(r.get("period", {}).get("start"))
                if note := _ext(r, C.EXT_VISIT_NOTE):
                    v["notes"] = note
                return
            v = self.visit(vi)
            v.setdefault("date", _date(r.get("effectiveDateTime") or r.get("authored")))
            item = path[2] if len(path) > 2 else ""
            index = int(path[3]) if len(path) > 3 and path[3].isdigit() else 0
            if item == "measurements":
                m = self.measurement(r) if kind == "Observation" else self.answers(r)
                self.ordered.append(((vi, index), v, "measurements", m))
            elif item == "exercise_responses":
                fields = _fields(r)
                exercise = (_codes(r.get("valueCodeableConcept"), C.CS_EXERCISE) or [None])[0]
                self.ordered.append(((vi, index), v, "exercise_responses", {"exercise": exercise, **fields}))
            elif item == "observations":
                finding = (_codes(r.get("valueCodeableConcept"), C.CS_MOVEMENT) or [None])[0]
                v.setdefault("_observations", {})[index] = finding
                if side := _side(r):
                    v.setdefault("observation_sides", {})[finding] = side
            elif item == "observation_sides":
                v.setdefault("observation_sides", {}).update(json.loads(r.get("valueString", "{}")))
            elif item == "activity_checks":
                v.setdefault("_activity_checks", []).append((r.get("valueBoolean"), path[3]))
            elif item == "readiness":
                v["readiness"] = _fields(r)
            elif item == "vitals":
                v.setdefault("vitals", {}).update(_vitals(r, path[3]))
            return
        if path[:2] == ["patient", "goals"]:
            self.goals[int(path[2])] = r.get("description", {}).get("text", "")
        elif path == ["patient", "body_mass_kg"]:
            self.patient["body_mass_kg"] = r["valueQuantity"]["value"]
        elif path == ["patient", "height_m"]:
            self.patient["height_m"] = round(r["valueQuantity"]["value"] * C.M_PER[r["valueQuantity"]["code"]], 6)
        elif path[:1] == ["history"] and kind == "Condition":
            key = {"presentation": "presentation", "condition": "conditions", "comorbidity": "comorbidities"}[path[1]]
            self.history.setdefault(f"_{key}", {})[int(path[2])] = r.get("code", {}).get("text")
        elif path[:2] == ["history", "medications"]:
            self.history.setdefault("_medications", {})[int(path[2])] = r["medicationCodeableConcept"].get("text")
        elif path == ["history", "pregnancy"]:
            self.history["pregnancy"] = _fields(r)
        elif path == ["history", "surgery"]:
            self.history["surgery"] = self.surgery(r)
        elif path == ["history", "red_flags"]:
            self.history["red_flags"] = {i["linkId"]: i["answer"][0]["valueBoolean"] for i in r.get("item", [])
                                         if i.get("answer")}
        else:
            self.skipped.append(Skipped(where, f"record {'/'.join(path)} is not part of a case hipext reads"))

    def measurement(self, r: Json) -> Json:
        test = (_codes(r.get("code"), C.CS_TEST) or [None])[0]
        m: Json = {"test": test}
        if side := _side(r):
            m["side"] = side
        m.update(_fields(r))
        if metrics := _ext(r, C.EXT_DEVICE_METRICS):
            m["device_metrics"] = json.loads(metrics)
        return m

    def answers(self, r: Json) -> Json:
        test = str(r.get("questionnaire", "")).rsplit("/", 1)[-1].split("|")[0]
        m: Json = {"test": test}
        items: dict[int, Any] = {}
        activities = []
        for it in r.get("item", []):
            link = str(it.get("linkId", ""))
            if link.isdigit():
                answer = it.get("answer") or [{}]
                items[int(link)] = answer[0].get("valueDecimal", answer[0].get("valueInteger"))
            elif link.startswith("activity-"):
                parts = {p["linkId"].rsplit(".", 1)[-1]: (p.get("answer") or [{}])[0] for p in it.get("item", [])}
                activities.append({"activity": parts.get("name", {}).get("valueString"),
                                   "score": parts.get("score", {}).get("valueDecimal")})
        if r.get("item") and items:
            m["items"] = items
        if activities:
            m["activities"] = activities
        if others := _ext(r, C.EXT_CASE_FIELDS):
            m.update(json.loads(others))
        return m

    def surgery(self, r: Json) -> Json:
        s: Json = {"procedure": r.get("code", {}).get("text"), "date": _date(r.get("performedDateTime"))}
        if side := _ext(r, C.EXT_SIDE):
            s["side"] = side
        weeks = _ext(r, C.EXT_RESTRICTIONS_WEEKS)
        if weeks is not None:
            s["restrictions_weeks"] = weeks
        restrictions = []
        for e in r.get("extension", []):
            if e.get("url") != C.EXT_RESTRICTION:
                continue
            parts = {p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in e.get("extension", [])}
            item = {"kind": parts["kind"]}
            for key in ("value", "until", "note"):
                if key in parts:
                    item[key] = parts[key]
            restrictions.append(item)
        if restrictions:
            s["restrictions"] = restrictions
        return s

    def hipext_patient(self, r: Json) -> None:
        self.patient.update({
            "id": next((i["value"] for i in r.get("identifier", []) if i.get("system") == C.SID_CASE), r.get("id")),
            "age": (_ext(r, C.EXT_AGE) or {}).get("value"), "sex": r.get("gender")})
        for key, url in (("activity_level", C.EXT_ACTIVITY_LEVEL), ("training_status", C.EXT_TRAINING_STATUS)):
            if (value := _ext(r, url)) is not None:
                self.patient[key] = value

    def hipext_episode(self, r: Json) -> None:
        if side := _ext(r, C.EXT_INVOLVED_SIDE):
            self.history["involved_side"] = side
        onset = {}
        if day := _ext(r, C.EXT_ONSET_DATE):
            onset["date"] = day
        if how := _ext(r, C.EXT_ONSET_MECHANISM):
            onset["mechanism"] = how
        if onset:
            self.history["onset"] = onset
        if plates := _ext(r, C.EXT_GROWTH_PLATES):
            self.history["growth_plates"] = plates

    # -- other systems ----------------------------------------------------------------------------------------

    def foreign_patient(self, r: Json, where: str) -> None:
        ids = r.get("identifier") or []
        self.patient.setdefault("id", (ids[0].get("value") if ids else None) or r.get("id"))
        gender = r.get("gender")
        if gender in ("female", "male"):
            self.patient.setdefault("sex", gender)
        else:
            self.problems.append(Problem(f"{where}.gender", gender, "female or male (hipext selects norms by sex)"))
        birth = r.get("birthDate")
        if birth and self.as_of:
            born = dt.date.fromisoformat(birth[:10]) if len(birth) >= 10 else None
            if born:
                self.patient.setdefault("age", self.as_of.year - born.year
                                        - ((self.as_of.month, self.as_of.day) < (born.month, born.day)))
        elif birth:
            self.skipped.append(Skipped(where, "birthDate without --as-of: age cannot be reckoned"))

    def foreign_observation(self, r: Json, where: str) -> None:
        from hipext import evidence

        loinc = set(_codes(r.get("code"), C.LOINC))
        q = r.get("valueQuantity") or {}
        day = _date(r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start"))
        if r.get("status") in ("entered-in-error", "cancelled"):
            self.skipped.append(Skipped(where, f"status {r.get('status')}"))
        elif loinc & C.LOINC_BODY_WEIGHT and q.get("code") in C.KG_PER:
            self.patient.setdefault("body_mass_kg", round(q["value"] * C.KG_PER[q["code"]], 3))
        elif loinc & C.LOINC_BODY_HEIGHT and q.get("code") in C.M_PER:
            self.patient.setdefault("height_m", round(q["value"] * C.M_PER[q["code"]], 4))
        elif loinc & C.LOINC_PAIN and day and ("valueInteger" in r or "value" in q):
            value = r.get("valueInteger", q.get("value"))
            self.ordered.append(((10**6, len(self.ordered)), self.visit(day), "measurements",
                                 {"test": "nprs", "value": value}))
        elif (tests := _codes(r.get("code"), C.CS_TEST)) and day and tests[0] in evidence.load().protocols:
            m = self.measurement(r)
            fields = _fields(r)
            if not fields and q.get("code") in ("N", "N.m", "[lbf_av]"):
                key = {"N": "trials_n", "N.m": "trials_nm", "[lbf_av]": "trials_lbf"}[q["code"]]
                m[key] = [q["value"]]
            self.ordered.append(((10**6, len(self.ordered)), self.visit(day), "measurements", m))
        else:
            what = r.get("code", {}).get("text") or ", ".join(
                f"{c.get('system', '?')}|{c.get('code', '?')}" for c in r.get("code", {}).get("coding", []))
            self.skipped.append(Skipped(where, f"Observation {what or '(no code)'}: no code hipext reads, "
                                               "or no usable value and date"))

    # -- the whole bundle -------------------------------------------------------------------------------------

    def read(self) -> Json:
        entries = self.bundle.get("entry")
        if self.bundle.get("resourceType") != "Bundle" or not isinstance(entries, list):
            raise CaseInputError([Problem("resourceType", self.bundle.get("resourceType"),
                                          "a FHIR Bundle with an entry list")])
        derived: dict[str, int] = {}
        for i, e in enumerate(entries):
            r = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(r, dict) or "resourceType" not in r:
                self.problems.append(Problem(f"entry[{i}].resource", None, "a resource with a resourceType"))
                continue
            kind = r["resourceType"]
            where = f"entry[{i}] {kind}/{r.get('id', '?')}"
            ours = str(r.get("meta", {}).get("source", "")).startswith(_HIPEXT_SOURCE)
            path = _record_id(r) if ours else None
            try:
                if ours and kind == "Patient":
                    self.hipext_patient(r)
                elif ours and kind == "EpisodeOfCare":
                    self.hipext_episode(r)
                elif path is not None:
                    self.hipext_record(r, path, where)
                elif ours:
                    derived[kind] = derived.get(kind, 0) + 1  # computed by the evaluation; recomputed, not read
                elif kind == "Patient":
                    self.foreign_patient(r, where)
                elif kind == "Observation":
                    self.foreign_observation(r, where)
                else:
                    self.skipped.append(Skipped(where, f"{kind} is not read by hipext"))
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
                self.problems.append(Problem(where, exc.__class__.__name__, "a resource in the shape hipext exports"))
        for kind, n in sorted(derived.items()):
            self.skipped.append(Skipped(f"{n} {kind}", "derived by hipext's evaluation; recomputed, not read"))
        if self.problems:
            raise CaseInputError(self.problems)
        return self.case()

    def case(self) -> Json:
        h = dict(self.history)
        for key in ("presentation", "conditions", "comorbidities", "medications"):
            if f"_{key}" in h:
                h[key] = [v for _, v in sorted(h.pop(f"_{key}").items())]
        patient = dict(self.patient)
        if self.goals:
            patient["goals"] = [g for _, g in sorted(self.goals.items())]
        for v in self.visits.values():
            if "_activity_checks" in v:
                v["activity_checks"] = {key: value for value, key in v.pop("_activity_checks")}
            if "_observations" in v:
                v["observations"] = [f for _, f in sorted(v.pop("_observations").items())]
        for _, v, name, item in sorted(self.ordered, key=lambda x: x[0]):
            v.setdefault(name, []).append(item)
        visits = [v for _, v in sorted(self.visits.items(), key=lambda kv: (isinstance(kv[0], str), str(kv[0])
                                                                               if isinstance(kv[0], str) else
                                                                               f"{kv[0]:09d}"))]
        return {"hipext_case": 1, "patient": patient, "history": h, "visits": visits}


def case_from_bundle(bundle: Json, *, as_of: dt.date | None = None) -> tuple[Json, list[Skipped]]:
    """Case data (validate with `hipext.caseio.parse_case`) and what was skipped. Raises CaseInputError."""
    reader = _Reader(bundle, as_of)
    return reader.read(), reader.skipped
