"""Follow-up (when to re-test and what) and return to activity (criteria, each met, not met or not yet measured)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hipext import evidence
from hipext.care import data
from hipext.care.context import STRENGTH_KINDS, CaseFacts, symmetry_percent, worse_than_norm
from hipext.care.models import Criterion, FollowUp, Phase, RetestItem, ReturnToActivity
from hipext.core.case import Readiness
from hipext.core.evaluation import Result
from hipext.core.measures import lsi_percent

DAYS_PER_MONTH = 365.25 / 12  # calendar conversion, not a clinical number
HAMSTRING_TESTS = ("palpation_hamstring_origin", "askling_h_test", "passive_straight_leg_raise")


def _physical(test: str) -> bool:
    return test not in data.nonphysical_tests()


def follow_up(f: CaseFacts, phase: Phase | None) -> FollowUp:
    cfg = data.follow_up()
    rw = cfg["retest_weeks"]
    s = f.screening
    blocked = set(s.blocked_tests)
    protocols = evidence.load().protocols
    visit = f.case.latest_visit
    base = visit.date if visit else f.today
    rescreen_on, rescreen_reason = None, None
    surg = f.case.history.surgery
    if s.limits.block_all:
        return FollowUp(
            retest_on=None, interval_weeks=None, tests=[], rescreen_on=None,
            rescreen_reason="Re-screen after the medical assessment or clearance that screening asked for.",
            how=[], level="secondary", sources=["hipext_seed"],
            note="No re-test is scheduled: nothing physical is tested until the screening decision is resolved.")
    postop_rules = {r["id"]: r.get("precautions") for r in data.rules() if r.get("precautions") or r.get("fallback")}
    for fi in s.findings:
        if fi.rule in postop_rules and surg and fi.decision == "modify":
            week = (f.today - surg.date).days / 7
            bounds: list[float] = [float(surg.restrictions_weeks)] if surg.restrictions_weeks is not None else []
            rec = data.precautions().get(postop_rules[fi.rule] or "")
            if rec is not None:
                bounds += [ph["until_week"] for ph in rec.get("phases", [])]
                if "default_weeks" in rec and surg.restrictions_weeks is None:
                    bounds.append(rec["default_weeks"])
            bounds += [(r.until - surg.date).days / 7 for r in surg.restrictions if r.until]
            early = data.precautions().get("early_postoperative")
            if early is not None:
                bounds.append(early["until_week"])
            ahead = sorted(b for b in bounds if b > week)
            if ahead:
                rescreen_on = surg.date + dt.timedelta(weeks=ahead[0])
                rescreen_reason = "Post-operative limits change on this date; re-screen and update the program."
        if fi.rule in ("acute_hamstring_strain", "acute_gluteal_strain") and f.case.history.onset and \
                f.case.history.onset.date:
            for rule in data.rules():
                for t in rule["triggers"] if rule["id"] == fi.rule else []:
                    if "onset_within_days" in t:
                        d = f.case.history.onset.date + dt.timedelta(days=t["onset_within_days"] + 1)
                        if d > f.today:
                            rescreen_on, rescreen_reason = d, "The acute window ends; re-screen before maximal testing."
    weeks = rw[phase] if phase else rw["restore"]
    tests: list[RetestItem] = []
    seen: set[str] = set()
    for v in reversed(f.case.visits):
        for m in v.measurements:
            if m.test in seen or m.test in blocked:
                continue
            seen.add(m.test)
            kind = protocols[m.test].kind
            reason = {"prom": "Measured before: compare with the last score against its MCID.",
                      "pain": "Measured before: compare with the last rating against its MCID.",
                      "mmt": "Measured before: grades are ordinal; consider dynamometry to quantify change.",
                      "special": "Measured before: repeat to see whether the result has changed."}.get(
                kind, "Measured before: compare with the last result against the protocol's MDC.")
            tests.append(RetestItem(test=m.test, reason=reason))
    if phase in ("strengthen", "return_to_activity"):
        wanted = ["hhd_hip_extension_prone_knee_flexed", "hhd_hip_extension_prone_knee_extended"]
        if f.hamstring_case:
            wanted += ["single_leg_bridge", *HAMSTRING_TESTS]
        if f.sporty:
            wanted.append("ihot12")
        for t in wanted:
            if t not in seen and t not in blocked and t in protocols:
                seen.add(t)
                tests.append(RetestItem(test=t, reason="Needed for the return-to-activity criteria."))
    if f.case.patient.age >= data.rta()["function_norms"]["min_age"] and "chair_stand_30s" not in seen \
            and "chair_stand_30s" not in blocked:
        tests.append(RetestItem(test="chair_stand_30s", reason="Age-normed functional test for this age group."))
    tests.sort(key=lambda t: _physical(t.test))
    return FollowUp(
        retest_on=base + dt.timedelta(weeks=weeks), interval_weeks=weeks, tests=tests,
        rescreen_on=rescreen_on, rescreen_reason=rescreen_reason, how=list(cfg["how"]), level=rw["level"],
        sources=[rw["source"], *rw["sources"], *cfg["how_sources"]],
        note="Clinical default - varies by clinician and case. " + " ".join(rw["note"].split()))


def _readiness_criterion(said: Readiness | None, rd: dict[str, Any]) -> Criterion:
    """The person's readiness and the team's clearance, as recorded at the visit."""
    name = "Psychological readiness and shared clearance"
    target = "athlete ready, no apprehension; clearance by the team"
    if said is None or said.psychologically_ready is None or said.apprehension is None:
        return _crit("readiness", name, None, None, target, rd["sources"], rd["level"], rd["note"])
    value = (f"{'ready' if said.psychologically_ready else 'not ready'}, "
             f"{'apprehensive' if said.apprehension else 'no apprehension'}, "
             f"cleared by {', '.join(said.cleared_by) or 'nobody yet'}")
    met = said.psychologically_ready and not said.apprehension and bool(said.cleared_by)
    return _crit("readiness", name, met, value, target, rd["sources"], rd["level"], rd["note"])


def _range_ratio(results: list[Result], test: str, side: str | None) -> float | None:
    """Involved-side range as % of the other side (range of motion has no LSI in the results)."""
    by_side: dict[str | None, float] = {
        r.side: float(r.value) for r in results if r.test == test and isinstance(r.value, (int, float))}
    if side not in ("left", "right") or len(by_side) != 2:
        return None
    other = "right" if side == "left" else "left"
    if not by_side[other] or by_side[other] <= 0 or by_side[side] <= 0:
        return None
    return lsi_percent(involved=float(by_side[side]), uninvolved=float(by_side[other]))


def _crit(cid: str, name: str, met: bool | None, value: str | None, target: str, sources: list[str], level: str,
          note: str | None = None, *, threshold: float | None = None, test: str | None = None) -> Criterion:
    status = "not_yet_measured" if met is None else ("met" if met else "not_met")
    return Criterion(id=cid, name=name, met=bool(met), status=status,
                     value=value if met is not None else "not yet measured", target=target, threshold=threshold,
                     test=test, sources=sources, level=level, note=note)


def _bilateral_criteria(f: CaseFacts, kinds: tuple[str, ...], cid: str, label: str,
                        results: list[Result]) -> list[Criterion]:
    """Both hips involved: the other side is no reference, so symmetry never counts as met. A result with a norm for
    this person is judged against it; any other is 'not assessable', with the reason."""
    cfg = data.lsi()
    protocols = evidence.load().protocols
    out = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for r in results:
        p = protocols.get(r.test)
        if p is None or p.kind not in kinds or not isinstance(r.value, (int, float)) or \
                (r.test, r.context, r.side) in seen:
            continue
        seen.add((r.test, r.context, r.side))
        where = f" ({r.side})" if r.side else ""
        if r.norm.available and r.norm.status is not None:
            out.append(_crit(cid, f"{label}: {p.name}{where} against norms", not worse_than_norm(r),
                             f"{r.value:g} {r.unit}", r.norm.statement, r.norm.sources or cfg["sources"],
                             r.norm.level or cfg["level"], test=r.test))
        else:
            out.append(Criterion(
                id=cid, name=f"{label}: {p.name}{where}", met=False, status="not_assessable",
                value="not assessable", target=f"limb symmetry at least {cfg['min_percent']:g}% (not usable)",
                test=r.test, sources=cfg["sources"], level=cfg["level"],
                note=(f"Both hips are involved: the other side is no healthy reference, so symmetry cannot show "
                      f"recovery, and hipext has no norm for this test and person ({r.norm.statement or 'none'}). "
                      "Judge it clinically or against the person's own earlier values.")))
    return out


def _lsi_criteria(f: CaseFacts, kinds: tuple[str, ...], cid: str, label: str,
                  results: list[Result]) -> list[Criterion]:
    if f.case.history.involved_side == "both":
        return _bilateral_criteria(f, kinds, cid, label, results)
    cfg = data.lsi()
    protocols = evidence.load().protocols
    out = []
    seen: set[tuple[str, str | None]] = set()
    for r in results:
        p = protocols.get(r.test)
        sym = symmetry_percent(r, f.side)
        if p is None or p.kind not in kinds or sym is None or (r.test, r.context) in seen:
            continue
        seen.add((r.test, r.context))
        basis = "involved / uninvolved" if f.side else "weaker / stronger side"
        out.append(_crit(cid, f"{label}: {p.name}", sym >= cfg["min_percent"], f"{sym:.0f}% ({basis})",
                         f"limb symmetry at least {cfg['min_percent']:g}%", cfg["sources"], cfg["level"], None,
                         threshold=cfg["min_percent"], test=r.test))
    return out


def rta_criteria(f: CaseFacts) -> tuple[list[Criterion], int]:
    """The return-to-activity criteria for this person and how many need tests that screening blocked."""
    cfg = data.rta()
    s = f.screening
    blocked = set(s.blocked_tests)
    protocols = evidence.load().protocols
    latest = f.latest
    crits: list[Criterion] = []
    omitted = 0
    lsi = data.lsi()
    # Cardiopulmonary limits shape how hard the person trains, not whether they may return to their activity.
    open_rules = f.rules - {"cardiopulmonary_limits", "cardiopulmonary_monitored"}
    crits.append(_crit("screening", "Screening allows full activity", s.decision == "proceed" or (
        s.decision == "modify" and not open_rules), s.decision, "proceed (or only cardiopulmonary effort limits)",
        s.sources or ["hipext_seed"], "secondary"))
    strength = _lsi_criteria(f, STRENGTH_KINDS, "strength_symmetry", "Strength symmetry", latest)
    if f.hamstring_case:  # hamstring return to play: side-to-side difference under 10%, with caution
        hs = cfg["hamstring_strength"]
        for c in strength:
            c.sources = [*c.sources, hs["source"]]
            c.note = hs["note"]
    strength_tests = [t for t, p in protocols.items() if p.kind in STRENGTH_KINDS]
    if not strength:
        if all(t in blocked for t in strength_tests):
            omitted += 1
        else:
            crits.append(_crit("strength_symmetry", "Strength symmetry (hip extension)", None, None,
                               f"limb symmetry at least {lsi['min_percent']:g}%", lsi["sources"], lsi["level"],
                               threshold=lsi["min_percent"]))
    crits += strength
    func = _lsi_criteria(f, ("count", "time"), "functional_symmetry", "Functional symmetry", latest)
    if func:
        crits += func
    elif f.sporty or f.hamstring_case:
        bilateral_func = [t for t, p in protocols.items() if p.kind in ("count",) and p.bilateral]
        if all(t in blocked for t in bilateral_func):
            omitted += 1
        else:
            crits.append(_crit("functional_symmetry", "Functional symmetry (single-leg tests)", None, None,
                               f"limb symmetry at least {lsi['min_percent']:g}%", lsi["sources"], lsi["level"],
                               threshold=lsi["min_percent"]))
    crits.append(_pain_free_testing(f))
    # Function against age norms (older adults).
    fn = cfg["function_norms"]
    normed = [r for r in latest if protocols.get(r.test) and protocols[r.test].bias == "whole_limb"
              and r.norm.available and r.norm.status is not None]
    for r in normed:
        crits.append(_crit("age_norms", f"Within age norms: {protocols[r.test].name}", not worse_than_norm(r),
                           f"{r.value} {r.unit}", r.norm.statement, r.norm.sources or [fn["source"]],
                           r.norm.level or fn["level"], test=r.test))
    if not normed and f.case.patient.age >= fn["min_age"]:
        if "chair_stand_30s" in blocked:
            omitted += 1
        else:
            crits.append(_crit("age_norms", "Within age norms: 30-second chair stand test", None, None,
                               "at or above the age and sex normal range", [fn["source"]], fn["level"],
                               test="chair_stand_30s"))
    # PROM threshold.
    if f.sporty or any(r.test == "ihot12" for r in latest):
        ih = cfg["ihot12"]
        ihot = next((r for r in latest if r.test == "ihot12" and isinstance(r.value, (int, float))), None)
        score = float(ihot.value) if ihot is not None and isinstance(ihot.value, (int, float)) else None
        crits.append(_crit("ihot12", "Self-rated hip function (iHOT-12)",
                           None if score is None else score >= ih["normal_min"], None if score is None else
                           f"{score:g}", f"at least {ih['normal_min']:g} (about normal)", [ih["source"]], ih["level"],
                           ih["note"], threshold=ih["normal_min"], test="ihot12"))
    if f.hamstring_case:
        hamstring, n = _hamstring_criteria(f)
        crits += hamstring
        omitted += n
    return crits, omitted


def _pain_free_testing(f: CaseFacts) -> Criterion:
    pf = data.rta()["pain_free_testing"]
    blocked = set(f.screening.blocked_tests)
    visit = f.case.latest_visit
    provoked = [m.pain_provoked for m in (visit.measurements if visit else []) if m.pain_provoked is not None
                and m.test not in blocked]
    during = [m.value for m in (visit.measurements if visit else []) if m.test == "nprs" and m.context == "during_test"
              and m.value is not None]
    target = "no pain in strength, flexibility or functional tests"
    if provoked or during:
        ok = not any(provoked) and all(v == 0 for v in during)
        return _crit("pain_free_testing", "Pain-free testing", ok, "no pain on testing" if ok else "pain on testing",
                     target, [pf["source"]], pf["level"])
    return _crit("pain_free_testing", "Pain-free testing", None, None, target, [pf["source"]], pf["level"],
                 "Record pain_provoked on each test, or NPRS during_test.")


def _hamstring_criteria(f: CaseFacts) -> tuple[list[Criterion], int]:
    cfg = data.rta()
    pf = cfg["pain_free_testing"]
    hs = cfg["hamstring_flexibility"]
    blocked = set(f.screening.blocked_tests)
    visit = f.case.latest_visit
    crits: list[Criterion] = []
    omitted = 0
    for cid, test, name, src, level in (
        ("palpation", "palpation_hamstring_origin", "No pain on palpation of the hamstring", [pf["source"]],
         pf["level"]),
        ("askling", "askling_h_test", "Askling H-test negative (return to sprinting)", [cfg["askling"]["source"]],
         cfg["askling"]["level"]),
    ):
        if test in blocked:
            omitted += 1
            continue
        ms = [m for m in (visit.measurements if visit else []) if m.test == test and
              (f.side is None or m.side in (None, f.side))]
        met = None if not ms else all(m.result == "negative" for m in ms)
        crits.append(_crit(cid, name, met, None if not ms else ms[-1].result, "negative", src, level, test=test))
    if "passive_straight_leg_raise" in blocked:
        omitted += 1
    else:
        pslr = _range_ratio(f.latest, "passive_straight_leg_raise", f.side)
        crits.append(_crit("flexibility", "Similar hamstring flexibility (passive straight leg raise)",
                           None if pslr is None else pslr >= hs["min_percent_of_other_side"],
                           None if pslr is None else f"{pslr:.0f}% of the other side",
                           f"at least {hs['min_percent_of_other_side']:g}% of the other side", hs["sources"],
                           hs["level"], hs["note"], threshold=hs["min_percent_of_other_side"],
                           test="passive_straight_leg_raise"))
    surg = f.case.history.surgery
    if surg and "hamstring" in surg.procedure.lower():
        pr = cfg["phr_return"]
        months = (f.today - surg.date).days / DAYS_PER_MONTH
        lo = pr["sport_months"][0]
        crits.append(_crit("phr_time", "Time since proximal hamstring repair (return to sport)", months >= lo,
                           f"{months:.1f} months", f"at least {lo:g} months (example protocol; surgeon decides)",
                           [pr["source"]], pr["level"], pr["note"], threshold=lo))
    crits.append(_readiness_criterion(visit.readiness if visit else None, cfg["readiness"]))
    return crits, omitted


def gate_criteria(f: CaseFacts, rta: list[Criterion]) -> dict[str, list[Criterion]]:
    """Every criterion a stage can gate on, by id: the return-to-activity ones and the graded-exposure checks."""
    out: dict[str, list[Criterion]] = {}
    for c in rta:
        out.setdefault(c.id, []).append(c)
    st = {s["id"]: s for s in data.rta()["stages"]}
    drills = st["running_drills"]
    lim = f.screening.limits
    impact_ok = not lim.block_all and lim.impact != "none"
    out["impact_allowed"] = [_crit("impact_allowed", "Screening allows impact (running, hopping)", impact_ok,
                                   "allowed" if impact_ok else "not allowed", "impact allowed",
                                   f.screening.sources or ["hipext_seed"], "secondary")]
    visit = f.case.latest_visit
    checks = visit.activity_checks if visit else {}
    for cid, name in data.activity_checks().items():
        done = checks.get(cid)
        out[cid] = [_crit(cid, name, done, None if done is None else ("pain-free" if done else "painful"),
                          "done without pain", drills["sources"], drills["level"],
                          None if done is not None else "Record it at the visit (activity_checks).")]
    blocked = set(f.screening.blocked_tests)
    protocols = evidence.load().protocols
    resisted = [m.pain_provoked for m in (visit.measurements if visit else []) if m.test not in blocked
                and m.test in protocols and protocols[m.test].kind in (*STRENGTH_KINDS, "mmt")
                and m.pain_provoked is not None and (f.side is None or m.side in (None, f.side))]
    out["resisted_test_pain_free"] = [_crit(
        "resisted_test_pain_free", "Pain-free resisted strength test", None if not resisted else not any(resisted),
        None if not resisted else ("pain-free" if not any(resisted) else "painful"), "no pain on resisted testing",
        drills["sources"], drills["level"], None if resisted else "Record pain_provoked on the strength tests.")]
    return out


def return_to_activity(f: CaseFacts, crits: list[Criterion], omitted: int) -> ReturnToActivity:
    s = f.screening
    activity = "; ".join(f.case.patient.goals) or f.case.patient.activity_level.replace("_", " ")
    ready = all(c.met for c in crits) and omitted == 0
    if s.limits.block_all:
        summary = f"Not ready: screening decision is '{s.decision}'."
    elif ready:
        summary = "Ready: every criterion is met. The decision is shared with the person and the team."
    else:
        unmet = [c.name for c in crits if c.status == "not_met"]
        unknown = [c.name for c in crits if c.status == "not_yet_measured"]
        unassessable = [c.name for c in crits if c.status == "not_assessable"]
        summary = "Not ready."
        if unmet:
            summary += f" Not met: {', '.join(unmet)}."
        if unassessable:
            summary += (f" Not assessable: {', '.join(unassessable)} (both hips are involved, so side-to-side "
                        "symmetry cannot show recovery; the team judges these).")
        if unknown:
            summary += f" Not yet measured: {', '.join(unknown)}."
    if omitted:
        summary += (f" {omitted} criterion/criteria need tests that screening has blocked; they are added when "
                    "re-screening allows those tests.")
    srcs: list[str] = []
    for c in crits:
        srcs += [x for x in c.sources if x not in srcs]
    return ReturnToActivity(activity=activity, ready=ready, criteria=crits, summary=summary, sources=srcs)
