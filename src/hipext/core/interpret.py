"""Interpretation of every measurement: normalised, against norms, the other side and the last visit.

Every number shown comes with the source it rests on; where no evidence exists the result says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from hipext.core import measures as mx
from hipext.core import prom
from hipext.core.case import Case, Measurement, Patient, Visit
from hipext.core.evaluation import Change, Finding, NormComparison, Result, TrialSummary
from hipext.evidence.models import Evidence, MeasurementError, Norm, NormRow, Protocol

# Bibliography ids behind the interpretation rules themselves (not behind a single number).
SRC_LSI = "lsi_rts_consensus"  # LSI = involved / uninvolved x 100; the target is the threshold `lsi_target`
SRC_MMT_TESTERS = "knepler1998"  # forces behind MMT grades differ between testers
SRC_BELT = "thorborg2013"  # belt fixation removes tester bias in HHD
SRC_TECHNIQUE = "krause2014"  # hip-extension torque differs between examiners and techniques
SRC_KNEE_POSITION = "physiopedia_mmt_hip_extension"  # knee flexed biases gluteus maximus
SRC_LUMBAR_SUBSTITUTION = "arab2017"
SRC_GAIT_HIP_EXTENSION = "lee2005"
SRC_LURCH = "orthofixar_gait"
SRC_SEED = "hipext_seed"  # the mission document: weakness is not a diagnosis

PERCENT = 100.0  # unit conversion

LSI_KINDS = {"hhd", "isokinetic", "count", "time"}


@dataclass(frozen=True)
class _Entry:
    """One interpreted measurement with the raw inputs that decide comparability."""

    visit: Visit
    m: Measurement
    proto: Protocol
    result: Result

    @property
    def key(self) -> tuple[object, ...]:
        return (self.m.test, self.result.context, self.m.velocity_deg_s, self.m.mode)


def age_group(age: int) -> str:
    lo = age // 10 * 10
    return f"{lo}-{lo + 9}"


def _rows_for(norm: Norm, patient: Patient) -> list[NormRow]:
    """Rows that describe this person (age band, sex); rows without age or sex describe everyone."""
    return [r for r in norm.rows
            if (r.age_min is None or patient.age >= r.age_min) and (r.age_max is None or patient.age <= r.age_max)
            and (r.sex is None or r.sex == patient.sex)]


def _row_for(norm: Norm, rows: list[NormRow], value: float) -> NormRow | None:
    """The first matching row; for bands, the band [low, high) that holds the value."""
    if norm.kind != "bands":
        return rows[0] if rows else None
    for r in rows:
        if (r.low is None or value >= r.low) and (r.high is None or value < r.high):
            return r
    return None


def _norm_applies(norm: Norm, proto: Protocol) -> bool:
    return norm.test == proto.id or (norm.test == "hhd_hip_extension_any" and proto.kind == "hhd")


def _norm_quantity(result: Result, quantity: str, body_mass_kg: float) -> float | None:
    if quantity == "value":
        return float(result.value) if isinstance(result.value, (int, float)) else None
    if quantity == "force_n_per_kg":
        return None if result.force_n is None else mx.per_kg(result.force_n, body_mass_kg)
    if quantity == "force_percent_bw":
        return result.force_percent_bw
    if quantity == "torque_nm_per_kg":
        return result.torque_nm_per_kg
    return None


def _setup_matches(applies_when: dict[str, str], m: Measurement) -> bool:
    return all(str(getattr(m, k, None)) == v for k, v in applies_when.items())


def _same_device(a: str, b: str) -> bool:
    """Device names match ignoring case, spaces and punctuation, or one contains the other (MicroFET 2 ~ MicroFET2)."""
    x, y = ("".join(ch for ch in s.lower() if ch.isalnum()) for s in (a, b))
    return bool(x and y) and (x in y or y in x)


_RESIDENCE = {"community": "community-dwelling people", "care_home": "care-home residents"}


def _not_for(norm: Norm, m: Measurement, patient: Patient) -> str | None:
    """Why a norm does not describe this person or set-up, or None when it does (age, setting, device)."""
    if norm.applies_age_min is not None and patient.age < norm.applies_age_min:
        return f"applied from age {norm.applies_age_min}"
    if norm.applies_age_max is not None and patient.age > norm.applies_age_max:
        return f"applied up to age {norm.applies_age_max}"
    if norm.applies_residence is not None and patient.residence != norm.applies_residence:
        return f"{_RESIDENCE[norm.applies_residence]} only; this person is not"
    if norm.applies_device and m.device and not _same_device(norm.applies_device, m.device):
        return f"measured with {norm.applies_device}; this test used {m.device}"
    return None


def compare_with_norms(result: Result, m: Measurement, proto: Protocol, patient: Patient,
                       ev: Evidence) -> NormComparison:
    """Pick the first norm whose population describes this person (age, setting, device) and set-up, and read the
    value against it. Otherwise say there is no norm for this person and list the norms that exist."""
    candidates = [n for n in ev.norms if _norm_applies(n, proto) and _setup_matches(n.applies_when, m)]
    reasons = []
    for norm in candidates:
        why_not = _not_for(norm, m, patient)
        if why_not is not None:
            reasons.append(f"{norm.population} ({why_not})")
            continue
        value = _norm_quantity(result, norm.quantity, patient.body_mass_kg)
        if value is None:
            continue
        row = _row_for(norm, _rows_for(norm, patient), value)
        if row is None:
            ages = [r for r in norm.rows if r.age_min is not None]
            span = f"ages {min(r.age_min or 0 for r in ages)}-{max(r.age_max or 0 for r in ages)}" if ages else ""
            reasons.append(f"{norm.population} ({span or 'no row for this person'})")
            continue
        out = _read_against(value, norm, row, proto)
        if norm.applies_device and not m.device:
            out.caveat = " ".join(filter(None, [out.caveat, f"The device was not recorded; the reference values were "
                                                f"measured with {norm.applies_device}."]))
        return out
    prom_ref = _prom_reference(result, proto, ev)
    if prom_ref is not None:
        return prom_ref
    if reasons:
        return NormComparison(available=False, statement="No norm for this person; norms that exist: "
                              + "; ".join(reasons) + ".")
    return NormComparison(available=False, statement="No published norm for this protocol.")


def band_text(low: float | None, high: float | None, unit: str, *, whole: bool, upper_exclusive: bool) -> str:
    """A reference band with both ends, or 'below' / 'or more' for an open end; never a bare negative number.

    Whole-number scores (repetitions, stands) print an exclusive upper end as the last whole number inside the band.
    """
    if low is not None and high is not None:
        top = high - 1 if whole and upper_exclusive else high
        return f"{low:g}-{top:g} {unit}" if whole or not upper_exclusive else f"{low:g} to below {high:g} {unit}"
    if high is not None:
        return f"below {high:g} {unit}"
    if low is not None:
        return f"{low:g} {unit} or more"
    return ""


def _read_against(value: float, norm: Norm, row: NormRow, proto: Protocol) -> NormComparison:
    status: str | None
    label = row.label
    unit = norm.unit
    if norm.kind == "range":
        assert row.low is not None and row.high is not None
        status = "below" if value < row.low else "above" if value > row.high else "within"
        where = {"below": "below", "above": "above", "within": "within"}[status]
        statement = f"{value:.3g} {unit} is {where} the normal range {row.low:g}-{row.high:g} {unit}"
    elif norm.kind == "cutoff_low":
        assert row.high is not None
        status = "below" if value < row.high else "within"
        statement = (
            f"{value:.3g} {unit} is {'below' if status == 'below' else 'at or above'} "
            f"the cut-off of {row.high:g} {unit}"
        )
        if label:
            statement += f" ({label})"
    elif norm.kind == "cutoff_high":
        assert row.low is not None
        status = "above" if value > row.low else "within"
        worse = "slower than" if proto.better == "lower" else "above"
        statement = (
            f"{value:.3g} {unit} is {worse if status == 'above' else 'within'} the cut-off of {row.low:g} {unit}"
        )
        if label:
            statement += f" ({label})"
    else:  # bands
        status = None
        statement = f"{value:.3g} {unit} falls in the band '{label}' (" + band_text(
            row.low, row.high, unit, whole=proto.kind == "count", upper_exclusive=True) + ")"
    who = _row_who(row)
    statement += f"; reference: {norm.population}{who}."
    if norm.kind == "cutoff_low":
        band = f"cut-off: below {row.high:g} {unit} is low"
    elif norm.kind == "cutoff_high":
        band = f"cut-off: above {row.low:g} {unit} is {'slower' if proto.better == 'lower' else 'high'}"
    else:
        band = band_text(row.low, row.high, unit, whole=proto.kind == "count", upper_exclusive=norm.kind == "bands")
        if label:
            band = f"{label}: {band}"
    return NormComparison(
        available=True, statement=statement, norm_id=norm.id, population=norm.population, quantity=norm.quantity,
        unit=unit, low=row.low, high=row.high, label=label, band=band, status=status,
        caveat=norm.caveat, level=norm.applies_level or norm.level, sources=[norm.source],
    )


def _row_who(row: NormRow) -> str:
    parts = []
    if row.sex:
        parts.append({"female": "women", "male": "men"}[row.sex])
    if row.age_min is not None or row.age_max is not None:
        parts.append(f"aged {row.age_min or 0}-{row.age_max}" if row.age_max else f"aged {row.age_min}+")
    return f", {' '.join(parts)}" if parts else ""


def _prom_reference(result: Result, proto: Protocol, ev: Evidence) -> NormComparison | None:
    if proto.kind != "prom" or not proto.instrument:
        return None
    rule = ev.proms[proto.instrument]
    key = result.context or "total"
    if key not in rule.reference_values or not rule.reference_source:
        return None
    ref = rule.reference_values[key]
    return NormComparison(
        available=True,
        statement=f"Population reference mean for {key}: {ref:g} (higher = fewer problems).",
        norm_id=f"{rule.id}_reference", population=rule.note or "population reference", quantity="value",
        unit=proto.unit, low=None, high=None, label="reference mean", status=None,
        level=rule.level, sources=[rule.reference_source],
    )


# ---------------------------------------------------------------------------------------------------------------
# One measurement -> results


NO_LEVER_ARM = ("Torque and N m/kg: not available, because no lever arm (hip joint centre to pad) was recorded; "
                "force and force per body weight are shown, and the sides are compared by force.")


def _base(m: Measurement, proto: Protocol, visit: Visit, **kw: object) -> dict[str, object]:
    return {"test": m.test, "name": proto.name, "kind": proto.kind, "side": m.side, "date": visit.date,
            "context": m.context, "norm": NormComparison(available=False, statement=""),
            "device_metrics": m.device_metrics, **kw}


def measurement_results(m: Measurement, proto: Protocol, visit: Visit, patient: Patient, ev: Evidence) -> list[Result]:
    """Everything a single measurement says on its own (norms included; sides and visits come later)."""
    mass = patient.body_mass_kg
    flags: list[str] = []
    notes: list[str] = []
    sources: list[str] = [proto.source] if proto.source else []
    if proto.kind == "hhd":
        forces = m.force_trials_n() or []
        best, mean, cv = mx.summarize_trials(forces)
        if m.lever_arm_m is None:  # force-only: torque needs the lever arm, so it is not available, and says why
            flags.append("no_lever_arm")
            notes.append(NO_LEVER_ARM)
        torque = None if m.lever_arm_m is None else mx.torque_nm(force_n=best, lever_arm_m=m.lever_arm_m)
        if m.fixation in (None, "manual"):
            flags.append("unfixed_hhd")
            notes.append(
                "Hand-held without belt fixation: results can reflect the tester's strength; belt fixation "
                "removed between-tester bias in hip testing."
            )
            sources.append(SRC_BELT)
        results = [Result(**_base(
            m, proto, visit, value=mx.rounded(best if torque is None else torque),
            unit="N" if torque is None else "N m",
            trials=TrialSummary(n=len(forces), trials=[round(f, 1) for f in forces], best=round(best, 1),
                                mean=round(mean, 1), cv_percent=mx.rounded(cv), unit="N"),
            force_n=round(best, 1), force_percent_bw=mx.rounded(mx.percent_body_weight(best, mass)),
            torque_nm=None if torque is None else mx.rounded(torque),
            torque_nm_per_kg=None if torque is None else mx.rounded(mx.per_kg(torque, mass), 2),
            flags=flags, notes=notes, sources=sources))]
    elif proto.kind == "isokinetic":
        trials = list(m.trials_nm or [])
        best, mean, cv = mx.summarize_trials(trials)
        results = [Result(**_base(
            m, proto, visit, value=mx.rounded(best), unit="N m",
            context=m.context or f"{m.mode} {m.velocity_deg_s:g} deg/s",
            trials=TrialSummary(n=len(trials), trials=trials, best=best, mean=round(mean, 1),
                                cv_percent=mx.rounded(cv), unit="N m"),
            torque_nm=mx.rounded(best), torque_nm_per_kg=mx.rounded(mx.per_kg(best, mass), 2),
            sources=sources))]
    elif proto.kind == "mmt":
        assert m.grade is not None
        ceiling = ev.thresholds["mmt_ceiling_grade"].value
        if int(m.grade[0]) >= ceiling:  # the whole grade: a minus grade of the ceiling counts
            flags.append("mmt_ceiling")
            notes.append(
                f"Manual muscle testing at grade {ceiling:g} and above cannot detect small or moderate deficits; "
                "consider hand-held dynamometry to quantify strength and side-to-side difference."
            )
            sources += ev.thresholds["mmt_ceiling_grade"].sources
        results = [Result(**_base(m, proto, visit, value=m.grade, unit="MRC grade", flags=flags, notes=notes,
                                  sources=sources))]
    elif proto.kind == "prom":
        results = _prom_results(m, proto, visit, ev)
    else:
        value: float | str | None
        if proto.kind == "count":
            value = float(m.reps or 0)
            if m.test == "chair_stand_30s" and m.used_arms:
                value = 0.0
                notes.append("Arms were used, so the 30-second chair stand scores 0 by protocol.")
        elif proto.kind == "time":
            value = m.time_s
        elif proto.kind == "rom":
            value = m.angle_deg
        elif proto.kind == "pain":
            value = m.value
        else:  # special test
            value = m.result
            if m.pain_provoked:
                notes.append("Pain was provoked during the test.")
        results = [Result(**_base(m, proto, visit, value=value, unit=proto.unit, flags=flags,
                                  notes=notes, sources=sources))]
    for r in results:
        if proto.kind not in ("special", "mmt"):
            r.norm = compare_with_norms(r, m, proto, patient, ev)
            r.sources = _unique(r.sources + r.norm.sources)
        else:
            r.norm = NormComparison(available=False, statement="Not compared with norms: ordinal or qualitative test.")
    return results


def _prom_results(m: Measurement, proto: Protocol, visit: Visit, ev: Evidence) -> list[Result]:
    assert proto.instrument
    rule = ev.proms[proto.instrument]
    sc = prom.score(rule, m.items, [a.score for a in m.activities or []])
    srcs = _unique([s for s in (proto.source, rule.source) if s])
    level_note = [] if rule.missing_rule_level != "clinical_default" else [
        f"Missing-item rule is a clinical default: {rule.missing_rule}"]
    if sc.subscales:
        return [Result(**_base(
            m, proto, visit, context=name, value=mx.rounded(v), unit=proto.unit,
            notes=[n for n in sc.notes if n.startswith(name)] + (level_note if v is None else []), sources=srcs))
            for name, v in sc.subscales.items()]
    return [Result(**_base(m, proto, visit, value=mx.rounded(sc.total), unit=proto.unit,
                           notes=sc.notes + (level_note if sc.total is None else []), sources=srcs))]


# ---------------------------------------------------------------------------------------------------------------
# Sides


def _unrounded(e: _Entry) -> float | None:
    """The reported value before rounding for display, so ratios carry no rounding error."""
    if e.proto.kind == "hhd":
        return max(e.m.force_trials_n() or [0.0]) * (e.m.lever_arm_m or 1.0)  # force-only: N (see apply_symmetry)
    if e.proto.kind == "isokinetic":
        return max(e.m.trials_nm or [0.0])
    return float(e.result.value) if isinstance(e.result.value, (int, float)) else None


def apply_symmetry(entries: list[_Entry], involved_side: str, target: float | None = None) -> None:
    """LSI for bilateral strength and functional measures, with the target it is read against; never from MMT."""
    by_key: dict[tuple[object, ...], dict[str, _Entry]] = {}
    for e in entries:
        if e.proto.bilateral and e.proto.kind in LSI_KINDS and e.m.side:
            by_key.setdefault(e.key, {})[e.m.side] = e
    for pair in by_key.values():
        if len(pair) != 2:
            continue
        left, right = pair["left"].result, pair["right"].result
        force_only = pair["left"].proto.kind == "hhd" and any(
            e.m.lever_arm_m is None for e in pair.values())
        if force_only:  # without both lever arms, the sides are compared by force (same pad placement assumed)
            maybe: dict[str, float | None] = {s: max(e.m.force_trials_n() or [0.0]) for s, e in pair.items()}
        else:
            maybe = {side: _unrounded(e) for side, e in pair.items()}
        raw = {side: v for side, v in maybe.items() if v is not None}
        if len(raw) != 2:
            continue
        proto = pair["left"].proto
        if raw["left"] <= 0 or raw["right"] <= 0:
            for r in (left, right):
                r.notes.append("No symmetry index: one side scored zero.")
            continue
        basis = "force_n" if force_only else "torque_nm" if proto.kind in ("hhd", "isokinetic") else "value"
        if involved_side in ("left", "right"):
            other = "right" if involved_side == "left" else "left"
            lsi = mx.lsi_percent(involved=raw[involved_side], uninvolved=raw[other], better=proto.better)
            for r in (left, right):
                r.lsi_percent, r.lsi_basis, r.lsi_target_percent = round(lsi, 1), basis, target
                r.sources = _unique(r.sources + [SRC_LSI])
        else:
            asym = mx.asymmetry_percent(raw["left"], raw["right"])
            for r in (left, right):
                r.asymmetry_percent = round(asym, 1)
                r.notes.append("No single involved side, so side-to-side difference is shown instead of an LSI.")


# ---------------------------------------------------------------------------------------------------------------
# Change since the previous visit


_SETUP_FIELDS = {"fixation": "fixation", "device": "device", "steps": "number of steps", "used_arms": "use of arms"}


def _setup_difference(now: Measurement, before: Measurement) -> str | None:
    for f, label in _SETUP_FIELDS.items():
        a, b = getattr(before, f), getattr(now, f)
        if a != b and not (f == "device" and (a is None or b is None)):
            return f"the {label} changed ({b if b is not None else 'not recorded'} now, " \
                   f"{a if a is not None else 'not recorded'} before)"
    return None


def _error_record(m: Measurement, ev: Evidence) -> MeasurementError | None:
    for rec in ev.measurement_error:
        if m.test not in rec.protocols or (rec.mdc is None and rec.mdc_percent_high is None):
            continue
        if _setup_matches(rec.applies_when, m):
            return rec
    return None


@dataclass(frozen=True)
class _Threshold:
    kind: str  # mdc, mcid or mic
    source: str
    population: str
    value: float | None = None  # in the result's unit
    percent_range: tuple[float, float] | None = None  # an MDC% range, for protocols published that way


def _threshold(m: Measurement, proto: Protocol, ev: Evidence) -> _Threshold | None:
    """The change a result must exceed: MCID for questionnaires and pain, else the protocol's MDC."""
    if proto.kind in ("prom", "pain"):
        instrument = proto.instrument or proto.id
        for mc in ev.mcids:
            if mc.instrument == instrument and mc.value is not None and mc.kind in ("mcid", "mic"):
                return _Threshold(mc.kind, mc.source, mc.population, value=mc.value)
    rec = _error_record(m, ev)
    if rec is None:
        return None
    if rec.mdc is not None:
        return _Threshold("mdc", rec.source, rec.population, value=rec.mdc)
    assert rec.mdc_percent_low is not None and rec.mdc_percent_high is not None
    return _Threshold("mdc", rec.source, rec.population, percent_range=(rec.mdc_percent_low, rec.mdc_percent_high))


def change_since(now: _Entry, before: _Entry, ev: Evidence) -> Change:
    prev, cur = before.result, now.result
    base = {"previous_date": before.visit.date, "unit": cur.unit}
    if now.proto.kind == "special":
        return Change(**base, verdict="no_error_estimate",
                      reason=f"Qualitative test: {prev.value} before, {cur.value} now.")
    if prev.unit != cur.unit:
        return Change(**base, verdict="not_comparable",
                      reason=f"Not compared: {prev.unit} before, {cur.unit} now (a lever arm was recorded only once).")
    diff = _setup_difference(now.m, before.m)
    if diff:
        return Change(**base, verdict="not_comparable",
                      reason=f"Not compared: {diff}; results from different set-ups are not interchangeable.",
                      sources=[SRC_TECHNIQUE] if now.proto.kind == "hhd" else [])
    if now.proto.kind == "mmt":
        a, b = mx.mmt_ordinal(str(prev.value)), mx.mmt_ordinal(str(cur.value))
        direction = "better" if b > a else "worse" if b < a else "unchanged"
        return Change(**base, previous_value=None, verdict="no_error_estimate", direction=direction,
                      reason=f"Grade {prev.value} before, {cur.value} now. MMT grades are ordinal and the force behind "
                             "a grade differs between testers, so no measurement error can be attached.",
                      sources=[SRC_MMT_TESTERS])
    if not isinstance(prev.value, (int, float)) or not isinstance(cur.value, (int, float)):
        return Change(**base, verdict="no_error_estimate",
                      reason="No score at one of the two visits (for example too many items missing).")
    delta = float(cur.value) - float(prev.value)
    pct = delta / prev.value * 100 if prev.value else None
    better = now.proto.better
    direction = "unchanged" if delta == 0 else ("better" if (delta > 0) == (better == "higher") else "worse")
    common = {**base, "previous_value": prev.value, "delta": round(delta, 2),
              "delta_percent": mx.rounded(pct), "direction": direction}
    th = _threshold(now.m, now.proto, ev)
    if th is None:
        return Change(**common, verdict="no_error_estimate",
                      reason="No published measurement error (MDC) or important change was found for this protocol, "
                             "so this change cannot be separated from measurement error.")
    if th.value is not None:
        # A detectable change must exceed the MDC; an important change need only reach the MCID.
        real = abs(delta) > th.value if th.kind == "mdc" else abs(delta) >= th.value
        word = {"mdc": "minimal detectable change", "mcid": "minimal clinically important difference",
                "mic": "minimal important change"}[th.kind]
        relation = ("beyond" if th.kind == "mdc" else "at or beyond") if real else "within"
        reason = (f"Change of {delta:+.3g} {cur.unit} is {relation} the {word} of "
                  f"{th.value:g} {cur.unit} ({th.population}).")
        return Change(**common, mdc=th.value, threshold_kind=th.kind, meaningful=real,
                      verdict="real_change" if real else "within_measurement_error", reason=reason, sources=[th.source])
    assert th.percent_range is not None
    lo_pct, hi_pct = th.percent_range
    # The source gives the MDC in percent: the N m figure that applies is that percent of the previous value. The
    # upper end is used (a real change must clear the whole published range); it is stated once, with its basis.
    lo, hi = prev.value * lo_pct / PERCENT, prev.value * hi_pct / PERCENT
    size = abs(delta)
    verdict = "real_change" if size > hi else "possibly_real" if size > lo else "within_measurement_error"
    basis = (f"{hi_pct:g}% of the previous {prev.value:.3g} {cur.unit}, the upper end of the published "
             f"{lo_pct:g}-{hi_pct:g}% ({th.population})")
    reason = (f"Change of {delta:+.3g} {cur.unit} ({pct:+.0f}%); MDC for this result {hi:.3g} {cur.unit} ({basis}): "
              + {"real_change": "beyond it, a real change.",
                 "possibly_real": "below it but above the range's low end, possibly real; re-test to confirm.",
                 "within_measurement_error": "within measurement error."}[verdict])
    return Change(**common, mdc=round(hi, 2), mdc_range=(round(lo, 2), round(hi, 2)), mdc_basis=basis,
                  threshold_kind="mdc",
                  meaningful=verdict == "real_change", verdict=verdict, reason=reason, sources=[th.source])


# ---------------------------------------------------------------------------------------------------------------
# The whole case


def interpret(case: Case, ev: Evidence, *, blocked_tests: Iterable[str] = ()) -> tuple[list[Result], list[Finding]]:
    """Results for every visit (oldest first) and plain-language findings about the latest one.

    Measurements of tests that screening blocked are left out entirely.
    """
    blocked = set(blocked_tests)
    involved = case.history.involved_side
    history: dict[tuple[object, ...], _Entry] = {}
    all_results: list[Result] = []
    latest: list[_Entry] = []
    for visit in case.visits:
        entries = []
        for m in visit.measurements:
            if m.test in blocked:
                continue
            proto = ev.protocols[m.test]
            for r in measurement_results(m, proto, visit, case.patient, ev):
                entries.append(_Entry(visit, m, proto, r))
        apply_symmetry(entries, involved, _lsi_target(ev))
        for e in entries:
            key = (*e.key, e.m.side)
            if key in history:
                e.result.change = change_since(e, history[key], ev)
                e.result.sources = _unique(e.result.sources + e.result.change.sources)
            elif (other := _other_setup(e, history)) is not None:
                e.result.change = Change(
                    previous_date=other.visit.date, unit=e.result.unit, verdict="not_comparable",
                    reason=f"Not compared with {other.proto.name}{_setup_words(other)} on {other.visit.date}: "
                           "a different position, knee angle or speed gives different values, so results from "
                           "different set-ups are not interchangeable.",
                    sources=[SRC_TECHNIQUE])
                e.result.flags.append("first_with_this_setup")
                e.result.sources = _unique(e.result.sources + [SRC_TECHNIQUE])
        for e in entries:
            history[(*e.key, e.m.side)] = e
        all_results += [e.result for e in entries]
        latest = entries
    findings = findings_for(latest, case, ev) if case.visits else []
    return all_results, findings


def _words(x: str) -> str:
    return x.replace("_", " ")


def _other_setup(e: _Entry, history: dict[tuple[object, ...], _Entry]) -> _Entry | None:
    """The latest earlier strength result of the same side taken with a different set-up, if any."""
    if e.proto.kind not in ("hhd", "isokinetic", "mmt"):
        return None
    earlier = [h for h in history.values()
               if h.proto.kind == e.proto.kind and h.m.side == e.m.side and h.visit.date < e.visit.date]
    return max(earlier, key=lambda h: h.visit.date) if earlier else None


def _setup_words(e: _Entry) -> str:
    return f" ({e.result.context})" if e.proto.kind == "isokinetic" and e.result.context else ""


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# ---------------------------------------------------------------------------------------------------------------
# Findings


def _label(r: Result) -> str:
    side = f"{r.side} " if r.side else ""
    ctx = f" ({_words(r.context)})" if r.context and r.kind in ("prom", "pain", "isokinetic") else ""
    return f"{side}{r.name[0].lower()}{r.name[1:]}{ctx}"


def findings_for(entries: list[_Entry], case: Case, ev: Evidence) -> list[Finding]:
    out: list[Finding] = []
    involved = case.history.involved_side
    target = _lsi_target(ev)
    seen_lsi: set[tuple[object, ...]] = set()
    strength_deficit = False
    for e in entries:
        r = e.result
        if r.lsi_percent is not None and e.key not in seen_lsi:
            seen_lsi.add(e.key)
            low = r.lsi_percent < target
            strength_deficit |= low and e.proto.kind in ("hhd", "isokinetic")
            out.append(Finding(
                topic="symmetry", concern=low, sources=[SRC_LSI],
                statement=(f"{e.proto.name}: the {involved} side reaches {r.lsi_percent:.0f}% of the other side "
                           f"(limb symmetry index); the usual target before return to activity is at least {target:g}%."
                           if low else
                           f"{e.proto.name}: the {involved} side reaches {r.lsi_percent:.0f}% of the other side, "
                           f"at or above the usual {target:g}% target.")))
        if r.asymmetry_percent is not None and r.side == "left":
            out.append(Finding(topic="symmetry", sources=[],
                               statement=f"{e.proto.name}: sides differ by {r.asymmetry_percent:.0f}%."))
        if r.norm.available and r.norm.status in ("below", "above"):
            worse = (r.norm.status == "below") == (e.proto.better == "higher")
            out.append(Finding(topic="function" if e.proto.kind in ("count", "time") else "strength",
                               concern=worse, sources=r.norm.sources,
                               statement=f"{_label(r).capitalize()}: {r.norm.statement}"))
        elif r.norm.available and r.norm.label and r.norm.status is None and r.norm.label != "reference mean":
            out.append(Finding(topic="function", sources=r.norm.sources,
                               statement=f"{_label(r).capitalize()}: {r.norm.statement}"
                                         + (f" Caveat: {r.norm.caveat}" if r.norm.caveat else "")))
        if "mmt_ceiling" in r.flags:
            out.append(Finding(topic="measurement", sources=list(ev.thresholds["mmt_ceiling_grade"].sources),
                               statement=f"{_label(r).capitalize()} graded {r.value}: {r.notes[0]}"))
        if r.change and r.change.verdict in ("real_change", "possibly_real"):
            out.append(Finding(topic="change", concern=r.change.direction == "worse", sources=r.change.sources,
                               statement=f"{_label(r).capitalize()} since {r.change.previous_date}: {r.change.reason}"))
        elif r.change and r.change.verdict == "within_measurement_error" and r.change.delta:
            out.append(Finding(topic="change", sources=r.change.sources,
                               statement=f"{_label(r).capitalize()} since {r.change.previous_date}: {r.change.reason} "
                                         "Treat it as no change yet."))
        elif r.change and r.change.verdict == "not_comparable" and "first_with_this_setup" not in r.flags:
            out.append(Finding(topic="measurement", sources=r.change.sources,
                               statement=f"{_label(r).capitalize()}: {r.change.reason}"))
        if r.kind == "pain" and isinstance(r.value, (int, float)):
            out.append(Finding(topic="pain", sources=r.sources,
                               statement=f"Pain {r.value:g}/10 ({_words(r.context or 'context not stated')})."))
        if r.kind == "special" and r.value == "positive":
            out.append(Finding(topic="movement", concern=True, sources=r.sources,
                               statement=f"{r.name} positive on the {r.side} side; consider it alongside history and "
                                         "the other tests: no single test identifies the source of pain."))
        if r.trials and r.trials.n > 1 and r.kind == "hhd":
            rec = _error_record(e.m, ev)
            if rec and rec.mdc is not None and rec.quantity == "torque_nm" and e.m.lever_arm_m:
                spread = (max(r.trials.trials) - min(r.trials.trials)) * e.m.lever_arm_m
                if spread > rec.mdc:
                    out.append(Finding(
                        topic="measurement", sources=[rec.source],
                        statement=f"{_label(r).capitalize()}: trials spread {spread:.0f} N m, more than the "
                                  f"{rec.mdc:g} N m MDC; consider familiarisation and repeating the test."))
    out += _pattern_findings(entries, case)
    if strength_deficit:
        out.append(Finding(topic="strength", sources=[SRC_SEED], statement=(
            "Reduced hip extensor strength is a finding, not a diagnosis: it may not explain the source of pain. "
            "Consider it with the history, movement and other tests.")))
    return out


def _lsi_target(ev: Evidence) -> float:
    return ev.thresholds["lsi_target"].value


def _pattern_findings(entries: list[_Entry], case: Case) -> list[Finding]:
    """What the combination says: knee position, movement observations."""
    out: list[Finding] = []
    lsi = {e.m.test: e.result.lsi_percent for e in entries if e.result.lsi_percent is not None}
    flexed, extended = lsi.get("hhd_hip_extension_prone_knee_flexed"), lsi.get("hhd_hip_extension_prone_knee_extended")
    if flexed is not None and extended is not None and abs(flexed - extended) >= 1:
        lower = "knee extended" if extended < flexed else "knee flexed"
        hint = ("the hamstrings contribute more with the knee extended; consider a hamstring contribution"
                if extended < flexed else
                "knee flexion biases gluteus maximus; consider a gluteus maximus contribution")
        out.append(Finding(topic="strength", concern=True, sources=[SRC_KNEE_POSITION], statement=(
            f"The side-to-side deficit is larger with the {lower} (LSI {min(flexed, extended):.0f}% vs "
            f"{max(flexed, extended):.0f}%): {hint}.")))
    visit = entries[0].visit if entries else case.latest_visit
    for obs in visit.observations if visit else []:
        side = (visit.observation_sides or {}).get(obs) if visit else None
        where = f" ({side})" if side else ""
        text = _OBSERVATION_TEXT.get(obs)
        if text:
            statement, src = text
            out.append(Finding(topic="movement", concern=True, sources=[src] if src else [],
                               statement=f"{obs.replace('_', ' ').capitalize()}{where}: {statement}"))
    return out


_OBSERVATION_TEXT: dict[str, tuple[str, str | None]] = {
    "lumbar_extension_substitution": (
        "the low back may be doing work meant for the hip. Cue hip extension without lumbar extension; note that "
        "lumbar extension during prone hip extension also occurs in people without back pain.",
        SRC_LUMBAR_SUBSTITUTION),
    "reduced_terminal_stance_hip_extension": (
        "less hip extension late in stance. Reduced walking hip extension is a dynamic feature seen with age, not a "
        "standing posture; consider hip extensor and flexor-length work with gait practice.", SRC_GAIT_HIP_EXTENSION),
    "gluteus_maximus_lurch": (
        "a backward trunk thrust at initial contact is the classical sign of weak hip extensors; consider "
        "strength testing and task practice.", SRC_LURCH),
    "trunk_lean": ("trunk lean during stance may be a compensation for hip extensor or abductor weakness; "
                   "consider testing both groups.", SRC_LURCH),
    "pelvic_drop": ("pelvic drop in single-leg stance points to the hip abductors as well as the extensors; "
                    "consider a whole-limb screen.", SRC_SEED),
    "short_stride": ("a short stride can come with reduced push-off and hip extension; consider gait retraining "
                     "alongside strengthening.", SRC_SEED),
    "reduced_push_off": ("reduced push-off in late stance; consider hip extensor and calf capacity.", SRC_SEED),
    "anterior_pelvic_tilt": ("increased anterior pelvic tilt was noted; its link to hip extension range is weak in "
                             "healthy adults, so interpret it with care.", SRC_SEED),
    "difficulty_sit_to_stand_without_arms": (
        "difficulty rising without the arms is a described sign of gluteus maximus weakness.", "kendall_patel_gmax"),
    "gluteus_maximus_atrophy": ("visible gluteal atrophy; consider quantified strength testing.", "rehablinks_phe"),
    "delayed_gluteus_maximus_activation": (
        "late gluteus maximus activation was noted; the 'ideal' firing order it is judged against was not supported "
        "by later studies, so weigh it lightly.", "rehablinks_phe"),
}


def evaluated_visit_date(case: Case) -> dt.date | None:
    return case.latest_visit.date if case.latest_visit else None
