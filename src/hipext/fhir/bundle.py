"""One case and its evaluation as a FHIR R4 `Bundle` of type `collection`: pure, deterministic, no I/O.

Every `fullUrl` is `urn:uuid:<uuid5>` derived from the case id, the resource's natural key and its content, and the
bundle carries no wall-clock time, so the same case always exports to the same bytes. The source system (hipext and
its version) is named in every resource's `meta.source`. There is no `Provenance` resource: `Provenance.recorded` is a
required instant, and the only honest instant is the time of export, which would break byte-identical output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid

from hipext.care.guard import assert_nothing_blocked
from hipext.core.case import Case, Measurement
from hipext.core.evaluation import Result
from hipext.document import Evaluation
from hipext.evidence.models import Protocol
from hipext.fhir import codes as C
from hipext.fhir import record, vitals
from hipext.fhir.builder import NAMESPACE, Builder, Json, quantity, ref, sentence, words
from hipext.fhir.narrative import narrative


def bundle_json(bundle: Json) -> str:
    """The bundle as JSON text: stable key order from construction, UTF-8 characters kept, trailing newline."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


_ref, _quantity, _words, _sentence = ref, quantity, words, sentence


class _Builder(Builder):
    """The bundle builder with the case and its evaluation: adds the evaluation's reading to the case's records."""

    def __init__(self, case: Case, evaluation: Evaluation) -> None:
        super().__init__(case.patient.id, evaluation.hipext_version)
        self.case = case
        self.ev = evaluation

    def sources_text(self, ids: list[str]) -> str:
        """The sources behind a number, cited in full so each resource stands on its own."""
        refs = {s.id: s for s in self.ev.sources}
        cited = []
        for sid in ids:
            ref = refs.get(sid)
            if ref is None:
                cited.append(f"[{sid}]")
                continue
            cited.append(f"[{sid}] {ref.citation}{f' {ref.link}' if ref.link else ''}")
        return ("Sources: " + " ".join(cited)) if cited else ""  # incomplete records are not cited

    # -- resources ---------------------------------------------------------------------------------------------

    def devices(self) -> dict[tuple[str, str], str]:
        """One Device per distinct (device name, device type) recorded on a measurement."""
        out: dict[tuple[str, str], str] = {}
        for visit in self.case.visits:
            for m in visit.measurements:
                if m.device is None:
                    continue
                kind = self.protocols[m.test].device_type or "measuring device"
                if (m.device, kind) in out:
                    continue
                out[(m.device, kind)] = self.add(f"Device/{m.device}/{kind}", {
                    "resourceType": "Device",
                    "status": "active",
                    "deviceName": [{"name": m.device, "type": "user-friendly-name"}],
                    "type": {"text": kind},
                })
        return out

    def _method(self, proto: Protocol, m: Measurement | None, r: Result) -> Json:
        parts = [_sentence(proto.description)]
        setup = []
        if proto.position:
            setup.append(f"position {_words(proto.position)}")
        if proto.knee_angle_deg is not None:
            setup.append(f"knee flexion {proto.knee_angle_deg:g}°")
        if proto.hip_angle_deg is not None:
            setup.append(f"hip flexion {proto.hip_angle_deg:g}°")
        if setup:
            parts.append("Set-up: " + ", ".join(setup) + ".")
        if m is not None:
            if proto.kind == "hhd":
                parts.append({"belt": "Fixation: belt.", "rig": "Fixation: rig.",
                              "manual": "Fixation: manual (held by the tester)."}.get(m.fixation or "",
                                                                                     "Fixation: not recorded."))
                if m.lever_arm_m is not None:
                    parts.append(f"Lever arm (hip joint centre to pad): {m.lever_arm_m:g} m.")
            if m.mode is not None or m.velocity_deg_s is not None:
                speed = f" at {m.velocity_deg_s:g} deg/s" if m.velocity_deg_s is not None else ""
                parts.append(f"Contraction: {m.mode or 'mode not recorded'}{speed}.")
            if m.device:
                parts.append(f"Device: {m.device}.")
            if m.steps is not None:
                parts.append(f"Steps: {m.steps}.")
            if m.used_arms is not None:
                parts.append("Arms used." if m.used_arms else "Arms not used.")
        if r.context and proto.kind == "pain":
            parts.append(f"Context: {_words(r.context)}.")
        return {"text": " ".join(parts)}

    def _value(self, obs: Json, r: Result) -> None:
        if r.kind == "mmt" and isinstance(r.value, str):
            shown = C.MRC_GRADE_DISPLAY.format(r.value)
            obs["valueCodeableConcept"] = {"coding": [self.local(C.CS_MRC_GRADE, r.value, shown)], "text": shown}
        elif r.kind == "special" and isinstance(r.value, str):
            obs["valueCodeableConcept"] = {"coding": [self.local(C.CS_TEST_RESULT, r.value, r.value.capitalize())],
                                           "text": r.value}
        elif isinstance(r.value, (int, float)):
            obs["valueQuantity"] = _quantity(r.value, r.unit)
        elif isinstance(r.value, str):
            obs["valueString"] = r.value
        else:
            reason = "; ".join(r.notes) or "Not scored."
            obs["dataAbsentReason"] = {"coding": [{"system": C.DATA_ABSENT_REASON, "code": "unknown",
                                                   "display": "Unknown"}], "text": reason}

    def _interpretation(self, r: Result) -> list[Json]:
        out: list[Json] = []
        if r.norm.status in C.NORM_INTERPRETATION:
            code, display = C.NORM_INTERPRETATION[r.norm.status]
            out.append({"coding": [{"system": C.V3_INTERPRETATION, "code": code, "display": display}],
                        "text": r.norm.statement})
        if r.kind == "special" and r.value in C.RESULT_INTERPRETATION:
            code, display = C.RESULT_INTERPRETATION[str(r.value)]
            out.append({"coding": [{"system": C.V3_INTERPRETATION, "code": code, "display": display}]})
        if r.change is not None:
            verdict = r.change.verdict
            out.append({"coding": [self.local(C.CS_CHANGE_VERDICT, verdict, C.VERDICT_DISPLAY[verdict])],
                        "text": r.change.reason})
        return out

    def _notes(self, r: Result) -> list[Json]:
        texts = []
        if r.norm.statement:
            norm = r.norm.statement
            if r.norm.caveat:
                norm += f" Caveat: {r.norm.caveat}"
            if r.norm.level:
                norm += f" (evidence level: {_words(r.norm.level)})"
            texts.append(f"Norm: {norm}")
        if r.change is not None:
            texts.append(f"Change since {r.change.previous_date or 'the previous visit'}: {r.change.reason}")
        texts += r.notes
        if self.sources_text(r.sources):
            texts.append(self.sources_text(r.sources))
        return [{"text": t} for t in texts]

    def _reference_range(self, r: Result, quantity: str) -> list[Json]:
        n = r.norm
        if not n.available or n.quantity != quantity or n.unit is None or (n.low is None and n.high is None):
            return []
        unit = {"N m/kg": "N m/kg", "% BW": "%BW", "%BW": "%BW"}.get(n.unit, n.unit)
        if unit not in C.UCUM_UNITS:
            return []
        rng: Json = {}
        if n.low is not None:
            rng["low"] = _quantity(n.low, unit)
        if n.high is not None:
            rng["high"] = _quantity(n.high, unit)
        text = "; ".join(x for x in (n.label, n.population) if x)
        if text:
            rng["text"] = text
        return [rng]

    def _components(self, r: Result) -> list[Json]:
        comps: list[Json] = []

        def add(code: str, value: float | int | None, unit: str, quantity: str | None = None) -> None:
            if value is None:
                return
            comp: Json = {"code": {"coding": [self.measure(code)]}, "valueQuantity": _quantity(value, unit)}
            if quantity:
                if rr := self._reference_range(r, quantity):
                    comp["referenceRange"] = rr
            comps.append(comp)

        if r.kind == "hhd":
            add("torque-per-kg", r.torque_nm_per_kg, "N m/kg", "torque_nm_per_kg")
            add("force-best", r.force_n, "N")
            add("force-percent-bw", r.force_percent_bw, "%BW", "force_percent_bw")
        elif r.kind == "isokinetic":
            add("torque-per-kg", r.torque_nm_per_kg, "N m/kg", "torque_nm_per_kg")
        if r.trials is not None:
            t = r.trials
            add("trial-best", t.best, t.unit)
            add("trial-mean", t.mean, t.unit)
            add("trial-cv", t.cv_percent, "%")
            if t.n:
                comps.append({"code": {"coding": [self.measure("trial-count")]}, "valueInteger": t.n})
        ch = r.change
        if ch is not None and ch.unit in C.UCUM_UNITS:
            add("change-since-previous", ch.delta, ch.unit)
            add("change-threshold", ch.mdc, ch.unit)
        return comps

    def reading(self, obs: Json, r: Result, m: Measurement, devices: dict[tuple[str, str], str]) -> None:
        """Add the evaluation's reading of a measurement to its record: value, norms, change, method, notes."""
        proto = self.protocols[r.test]
        recorded = obs.pop("component", [])
        tail = {k: obs.pop(k) for k in ("note",) if k in obs}
        self._value(obs, r)
        if interp := self._interpretation(r):
            obs["interpretation"] = interp
        if notes := self._notes(r):
            obs["note"] = notes
        obs.update(tail)
        if m.side is not None:
            obs["bodySite"] = obs.pop("bodySite")
        obs["method"] = self._method(proto, m, r)
        if m.device:
            dev = devices.get((m.device, proto.device_type or "measuring device"))
            if dev:
                obs["device"] = _ref(dev)
        if rr := self._reference_range(r, "value"):
            obs["referenceRange"] = rr
        obs["component"] = self._components(r) + recorded

    def score(self, r: Result, response: str, patient: str, encounter: str) -> str:
        """A questionnaire's score (total or subscale), derived from the QuestionnaireResponse it came from."""
        proto = self.protocols[r.test]
        day = r.date.isoformat()
        code: Json = {"coding": [self.test_coding(proto)]}
        if r.context:  # a subscale: part of what was measured
            code["coding"][0] = self.local(C.CS_TEST, f"{proto.id}.{re.sub(r'[^A-Za-z0-9]+', '-', r.context)}",
                                           f"{proto.name}: {r.context}", f"{r.context} subscale of {proto.name}.")
        code["text"] = proto.name + (f" ({_words(r.context)})" if r.context else "")
        obs: Json = {
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "survey", "display": "Survey"}]}],
            "code": code, "subject": _ref(patient), "encounter": _ref(encounter), "effectiveDateTime": day,
        }
        self._value(obs, r)
        if interp := self._interpretation(r):
            obs["interpretation"] = interp
        if notes := self._notes(r):
            obs["note"] = notes
        if rr := self._reference_range(r, "value"):
            obs["referenceRange"] = rr
        if comps := self._components(r):
            obs["component"] = comps
        obs["derivedFrom"] = [_ref(response)]
        return self.add(f"Observation/{day}/{r.test}/{r.side}/{r.context}/score", obs)

    def symmetry(self, pairs: list[tuple[Result, str, Result, str]], patient: str, encounters: dict[str, str]) -> None:
        involved = self.ev.patient.involved_side
        for left, left_url, _right, right_url in pairs:
            proto = self.protocols[left.test]
            day = left.date.isoformat()
            what = proto.name + (f" ({_words(left.context)})" if left.context else "")
            value: float | None
            if left.lsi_percent is not None:
                code, value = "limb-symmetry-index", left.lsi_percent
                text = f"Limb symmetry index, {what}"
                note = (f"Involved side: {involved}. LSI = {involved} / "
                        f"{'left' if involved == 'right' else 'right'} x 100, from the "
                        f"{'best-trial torque' if left.lsi_basis == 'torque_nm' else 'reported value'} of each side"
                        + (" (lower is better for this test, so the ratio is inverted)." if proto.better == "lower"
                           else "."))
            else:
                code, value = "side-to-side-asymmetry", left.asymmetry_percent
                text = f"Side-to-side asymmetry, {what}"
                note = "No single involved side: (larger - smaller) / larger x 100, from the values of each side."
            assert value is not None
            obs: Json = {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": C.OBS_CATEGORY, "code": "exam", "display": "Exam"}]}],
                "code": {"coding": [self.measure(code)], "text": text},
                "subject": _ref(patient),
                "encounter": _ref(encounters[day]),
                "effectiveDateTime": day,
                "valueQuantity": _quantity(value, "%"),
                "note": [{"text": note}],
                "method": {"coding": [self.test_coding(proto)], "text": what},
                "derivedFrom": [_ref(left_url), _ref(right_url)],
            }
            self.add(f"Observation/{day}/{left.test}/{left.context}/{code}", obs)

    def detected_issues(self, patient: str) -> None:
        s = self.ev.screening
        if s is None:
            return
        for f in s.findings:
            issue: Json = {
                "resourceType": "DetectedIssue",
                "extension": [{"url": C.EXT_SCREENING_DECISION, "valueCode": f.decision}],
                "status": "final",
                "code": {"coding": [self.local(C.CS_SCREENING_RULE, f.rule, _words(f.rule))], "text": _words(f.rule)},
                "severity": C.SEVERITY_BY_DECISION[f.decision],
                "patient": _ref(patient),
            }
            if self.ev.evaluated_visit is not None:
                issue["identifiedDateTime"] = self.ev.evaluated_visit.isoformat()
            issue["detail"] = f.reason
            issue["mitigation"] = [{"action": {"text": f.action}}]
            self.add(f"DetectedIssue/{f.rule}", issue)

    def impression(self, patient: str, encounter: str | None) -> None:
        ev = self.ev
        if ev.evaluated_visit is None and not ev.findings:
            return
        ci: Json = {"resourceType": "ClinicalImpression", "status": "completed",
                    "description": "hipext evaluation: screening, results against norms, sides and the last visit.",
                    "subject": _ref(patient)}
        if encounter:
            ci["encounter"] = _ref(encounter)
        if ev.evaluated_visit is not None:
            ci["effectiveDateTime"] = ev.evaluated_visit.isoformat()
        if ev.screening is not None:
            ci["summary"] = f"Screening: {ev.screening.summary}"
        if ev.findings:
            ci["finding"] = [{"itemCodeableConcept": {
                "coding": [self.local(C.CS_FINDING_TOPIC, f.topic, f.topic.capitalize())],
                "text": ("Concern: " if f.concern else "") + f.statement}} for f in ev.findings]
        ci["note"] = [{"text": ev.disclaimer}]
        self.add("ClinicalImpression", ci)

    def goals(self, patient: str) -> list[str]:
        rta = self.ev.return_to_activity
        if rta is None:
            return []
        out = []
        for c in rta.criteria:
            target: Json = {"measure": {"text": c.name}}
            lsi = re.fullmatch(r"limb symmetry at least (\d+(?:\.\d+)?)\s*%", c.target.strip())
            if lsi:  # the evaluation's own target, turned into a quantity; no new number is introduced
                target["measure"]["coding"] = [self.measure("limb-symmetry-index")]
                target["detailQuantity"] = {"value": float(lsi.group(1)), "comparator": ">=",
                                            **{k: v for k, v in _quantity(0, "%").items() if k != "value"}}
            else:
                target["detailString"] = c.target
            goal: Json = {"resourceType": "Goal", "lifecycleStatus": "active"}
            achievement = C.ACHIEVEMENT_BY_STATUS[c.status]
            if achievement:
                goal["achievementStatus"] = {"coding": [{"system": C.GOAL_ACHIEVEMENT, "code": achievement[0],
                                                         "display": achievement[1]}]}
            goal["description"] = {"text": f"Return to activity ({rta.activity}): {c.name}"}
            goal["subject"] = _ref(patient)
            goal["target"] = [target]
            if self.ev.evaluated_visit is not None:
                goal["statusDate"] = self.ev.evaluated_visit.isoformat()
            notes = [f"Status: {_words(c.status)}; current value: {c.value or 'none'} (target: {c.target})."]
            if c.note:
                notes.append(c.note)
            notes.append(f"Evidence level: {_words(c.level)}. {self.sources_text(c.sources)}".strip())
            goal["note"] = [{"text": t} for t in notes]
            out.append(self.add(f"Goal/{c.name}", goal))
        return out

    def care_plan(self, patient: str, encounter: str | None, goals: list[str]) -> None:
        prog, fu = self.ev.program, self.ev.follow_up
        if prog is None and fu is None:
            return
        # Nothing prescribed and nothing scheduled (screening refers or defers): the plan is on hold, not active.
        idle = not (prog and prog.exercises) and not (fu and (fu.retest_on or fu.rescreen_on))
        plan: Json = {"resourceType": "CarePlan", "status": "on-hold" if idle else "active", "intent": "plan",
                      "title": "Hip extensor programme" + (f", phase: {_words(prog.phase)}" if prog and prog.phase
                                                          else "")}
        if prog is not None:
            plan["description"] = f"{prog.phase_reason} {prog.note}".strip()
        plan["subject"] = _ref(patient)
        if encounter:
            plan["encounter"] = _ref(encounter)
        if self.ev.evaluated_visit is not None:
            plan["created"] = self.ev.evaluated_visit.isoformat()
        if goals:
            plan["goal"] = [_ref(g) for g in goals]
        activities: list[Json] = []
        for ex in prog.exercises if prog else []:
            d = ex.dose
            dose = [f"{d.sets} sets"]
            if d.reps:
                dose.append(f"{d.reps} repetitions")
            if d.hold_s:
                dose.append(f"hold {d.hold_s} s")
            text = " ".join([f"{ex.name}: {', '.join(dose)}.", f"Load: {_sentence(d.load)}",
                             f"Effort: {_sentence(d.effort)}", f"Rest: {_sentence(d.rest)}",
                             f"Frequency: {_sentence(d.frequency)}", f"Progression: {_sentence(d.progression_rule)}"])
            sct_code, sct_display = C.SNOMED_EXERCISE_THERAPY
            detail: Json = {
                "kind": "ServiceRequest",
                "code": {"coding": [{"system": C.SNOMED, "code": sct_code, "display": sct_display},
                                    self.local(C.CS_EXERCISE, ex.exercise, ex.name)],
                         "text": ex.name},
                "reasonCode": [{"text": r} for r in ex.rationale] if ex.rationale else None,
                "status": "not-started",
                "scheduledString": d.frequency,
                "description": text,
            }
            extra = [f"Precaution: {_sentence(p)}" for p in ex.precautions]
            if ex.cues:
                extra.append("Cues: " + "; ".join(ex.cues) + ".")
            if ex.watch_for:
                extra.append("Watch for: " + "; ".join(ex.watch_for) + ".")
            if d.note:
                extra.append(_sentence(d.note))
            extra.append(f"Dose evidence level: {_words(d.level)}. {self.sources_text(d.sources)}".strip())
            detail["description"] = " ".join([text, *extra])
            activities.append({"detail": {k: v for k, v in detail.items() if v is not None}})
        if fu is not None and fu.retest_on is not None:
            names = [self.protocols[t.test].name if t.test in self.protocols else _words(t.test) for t in fu.tests]
            activities.append({
                "detail": {
                    "code": {"coding": [self.local(C.CS_CARE_ACTIVITY, "retest", "Re-test")], "text": "Re-test"},
                    "status": "not-started",
                    "scheduledPeriod": {"start": fu.retest_on.isoformat()},
                    "description": (f"Re-test on {fu.retest_on.isoformat()}"
                                    + (f" (in {fu.interval_weeks:g} weeks)" if fu.interval_weeks else "")
                                    + (": " + "; ".join(names) if names else "") + ". "
                                    + " ".join(filter(None, [*fu.how, fu.note, self.sources_text(fu.sources)]))),
                }})
        if fu is not None and fu.rescreen_on is not None:
            activities.append({"detail": {
                "code": {"coding": [self.local(C.CS_CARE_ACTIVITY, "rescreen", "Re-screen")], "text": "Re-screen"},
                "status": "not-started",
                "scheduledPeriod": {"start": fu.rescreen_on.isoformat()},
                "description": f"Re-screen on {fu.rescreen_on.isoformat()}"
                               + (f": {fu.rescreen_reason}" if fu.rescreen_reason else "."),
            }})
        if activities:
            plan["activity"] = activities
        notes = []
        if prog is not None:
            notes += [f"Alternative ({_words(a.kind)}): {a.description}" for a in prog.alternatives]
        if fu is not None and fu.retest_on is None:
            notes.append(f"No re-test scheduled. {fu.note}")
        if notes:
            plan["note"] = [{"text": t} for t in notes]
        self.add("CarePlan", plan)

    def education(self, patient: str, encounter: str | None) -> None:
        edu = self.ev.education
        if edu is None:
            return
        data = edu.text.encode("utf-8")
        doc: Json = {
            "resourceType": "DocumentReference",
            "extension": [{"url": C.EXT_READING_GRADE, "valueDecimal": edu.reading_grade}],
            "status": "current",
            "docStatus": "final",
            "type": {"text": "Patient education handout"},
            "subject": _ref(patient),
            "description": (f"{edu.title}. Flesch-Kincaid reading grade {edu.reading_grade:g}"
                            + (f" ({edu.grade_method})" if edu.grade_method else "") + "."),
            "content": [{"attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(data).decode("ascii"),
                "size": len(data),
                "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
                "title": edu.title,
            }}],
        }
        if encounter:
            doc["context"] = {"encounter": [_ref(encounter)]}
        self.add("DocumentReference/education", doc)

    def code_systems(self) -> None:
        for system, concepts in sorted(self.concepts.items()):
            concept = []
            for code, (display, definition) in concepts.items():
                c: Json = {"code": code, "display": display}
                if definition:
                    c["definition"] = definition
                concept.append(c)
            self.add(f"CodeSystem/{system}", {
                "resourceType": "CodeSystem",
                "url": system,
                "version": self.ev.hipext_version,
                "name": "Hipext" + "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", system.rsplit("/")[-1])),
                "status": "active",
                "publisher": "hipext",
                "description": "Local hipext codes used in this bundle (fragment: only the codes used here).",
                "caseSensitive": True,
                "content": "fragment",
                "concept": concept,
            })


def _pairs(results: list[Result], urls: list[str]) -> list[tuple[Result, str, Result, str]]:
    """Left/right result pairs of one test, context and visit that carry an LSI or an asymmetry."""
    by_key: dict[tuple[object, ...], dict[str, tuple[Result, str]]] = {}
    for r, url in zip(results, urls, strict=True):
        if r.side and (r.lsi_percent is not None or r.asymmetry_percent is not None):
            by_key.setdefault((r.date, r.test, r.context), {})[r.side] = (r, url)
    return [(*pair["left"], *pair["right"]) for pair in by_key.values() if len(pair) == 2]


def _same_test(r: Result, m: Measurement, kind: str) -> bool:
    """Whether result r is the evaluation's reading of measurement m (same visit date checked by the caller)."""
    if r.test != m.test or r.side != m.side:
        return False
    if kind == "prom":
        return True  # a questionnaire gives one result per subscale
    derived = f"{m.mode} {m.velocity_deg_s:g} deg/s" if m.velocity_deg_s is not None else None
    return r.context == m.context or (m.context is None and r.context == derived)


def is_withheld(resource: Json) -> bool:
    return any(t.get("system") == C.CS_RECORD_TAG and t.get("code") == "withheld"
               for t in resource.get("meta", {}).get("tag", []))


def without_withheld(bundle: Json, blocked: set[str]) -> Json:
    """What the guard reads: the bundle less its records of what screening now blocks (tagged `withheld`) and less
    the code definitions of blocked ids (a code system defines a code; it does not advise doing it)."""
    entries = []
    for e in bundle["entry"]:
        r = e["resource"]
        if is_withheld(r):
            continue
        if r["resourceType"] == "CodeSystem" and any(c["code"] in blocked for c in r.get("concept", [])):
            r = {k: v for k, v in r.items() if k != "text"}
            r["concept"] = [c for c in r["concept"] if c["code"] not in blocked]
            r["text"] = narrative(r)
        entries.append({**e, "resource": r})
    return {**bundle, "entry": entries}


def to_bundle(case: Case, evaluation: Evaluation) -> Json:
    """The case and its evaluation as a FHIR R4 `Bundle` (type `collection`) in JSON form.

    First the case as recorded (patient, history, visits and every measurement, questionnaire answer and exercise
    response; `hipext.fhir.record`), with the evaluation's reading added to each measurement's Observation; then
    what the evaluation concluded (symmetry, screening, impression, goals, care plan, handout). Pure and
    deterministic: the same case and evaluation give the same bytes once serialised with `bundle_json`. Nothing
    screening blocked appears in it except, tagged `withheld` and uninterpreted, the records of what was done
    before (checked before returning, as `evaluate_case` does).
    """
    b = _Builder(case, evaluation)
    screening = evaluation.screening
    blocked_tests = set(screening.blocked_tests) if screening else set()
    blocked_exercises = set(screening.blocked_exercises) if screening else set()
    records = record.Records(patient=record.patient(b, case, evaluation.patient.age))
    patient = records.patient
    own_goals = record.patient_goals(b, case, patient)
    record.history(b, case, patient, records)
    encounters: dict[str, str] = {}
    for i, visit in enumerate(case.visits):
        url = record.encounter(b, visit, i, patient)
        encounters.setdefault(visit.date.isoformat(), url)
    latest = encounters.get(evaluation.evaluated_visit.isoformat()) if evaluation.evaluated_visit else None
    vitals.body_measures(b, case, patient, evaluation.as_of, latest)
    if case.history.pregnancy is not None:
        latest_day = case.latest_visit.date if case.latest_visit else evaluation.as_of  # the case dates it so
        vitals.pregnancy(b, case.history.pregnancy, patient, latest_day)
    devices = b.devices()
    results = evaluation.results
    urls: dict[int, str] = {}
    for vi, visit in enumerate(case.visits):
        encounter = encounters[visit.date.isoformat()]
        for mi, m in enumerate(visit.measurements):
            proto = b.protocols[m.test]
            withheld = m.test in blocked_tests
            mine = [k for k, r in enumerate(results) if k not in urls and r.date == visit.date
                    and _same_test(r, m, proto.kind)]
            if proto.kind != "prom":
                mine = mine[:1]
            if proto.kind == "prom" and (m.items is not None or m.activities is not None):
                response = record.questionnaire_response(b, m, (vi, mi), visit, patient, encounter, records,
                                                         withheld=withheld)
                for k in mine:
                    urls[k] = b.score(results[k], response, patient, encounter)
                continue
            obs = record.measurement_record(b, m, (vi, mi), visit, patient, encounter, withheld=withheld)
            if mine:
                b.reading(obs, results[mine[0]], m, devices)
            url = b.add(f"Observation/{visit.date}/{vi}/{mi}", obs)
            for k in mine:
                urls[k] = url
        for ri, done in enumerate(visit.exercise_responses):
            record.exercise_response(b, done, (vi, ri), visit, patient, encounter,
                                     withheld=done.exercise in blocked_exercises)
        vitals.visit_vitals(b, visit, vi, patient, encounter)
        record.movement(b, visit, vi, patient, encounter)
        record.activity_checks(b, visit, vi, patient, encounter)
        if visit.readiness is not None:
            record.readiness(b, visit.readiness, visit, vi, patient, encounter)
    assert len(urls) == len(results), "every result belongs to a recorded measurement"
    b.symmetry(_pairs(results, [urls[k] for k in range(len(results))]), patient, encounters)
    b.detected_issues(patient)
    b.impression(patient, latest)
    goals = b.goals(patient)
    b.care_plan(patient, latest, own_goals + goals)
    b.education(patient, latest)
    b.code_systems()
    key = json.dumps([e["fullUrl"] for e in b.entries])
    bundle: Json = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(NAMESPACE, f"{case.patient.id}/Bundle/{key}")),
        "meta": {"source": b.source},
        "identifier": {"system": C.SID_BUNDLE,
                       "value": f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{case.patient.id}/Bundle/{key}')}"},
        "type": "collection",
        "entry": b.entries,
    }
    if screening is not None:
        blocked = blocked_tests | blocked_exercises
        assert_nothing_blocked(without_withheld(bundle, blocked), screening)  # fail closed, as evaluate_case does
    return bundle
