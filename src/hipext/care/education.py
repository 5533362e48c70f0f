"""Patient education: a handout written for this person's case, with its reading grade measured."""

from __future__ import annotations

from typing import Any

import textstat

from hipext import evidence
from hipext.care import data
from hipext.care.context import STRENGTH_KINDS, CaseFacts, involved, worse_than_norm
from hipext.care.models import Education, PrescribedExercise, Program

_MUSCLES = {"gluteus_maximus": "buttock muscles", "hamstrings": "hamstrings", "hip_extensors": "hip muscles",
            "whole_limb": "leg muscles", "none": "hip muscles"}


def reading_grade(text: str) -> tuple[float, str]:
    """Flesch-Kincaid grade via textstat, and how syllables were counted.

    Syllables come from textstat's pyphen hyphenation path, not its CMU-dictionary look-up: parsing that
    dictionary costs about 0.8 s per process (every CLI call), and newer textstat releases fetch it through NLTK,
    which offline clinics cannot download. Hyphenation can undercount syllables slightly; our handouts sit far
    below the grade-8 limit, so the limit is not at stake.
    """
    from textstat.backend.counts import _count_syllables

    _count_syllables.get_cmudict = lambda lang: None  # pinned textstat<0.7.9
    _load_hyphenation()
    return float(textstat.flesch_kincaid_grade(text)), "pyphen hyphenation (textstat)"


HYPHENATION_LANGUAGE = "en_US"  # textstat's default language


def _load_hyphenation() -> None:
    """Give pyphen its parsed English patterns from the per-user data cache (keyed by the dictionary's bytes and
    pyphen's version): pyphen parses the dictionary file in every process, which costs more than the whole rest
    of an evaluation. Pyphen's own parser fills the cache, so the patterns are exactly its own."""
    import pyphen

    path = pyphen.LANGUAGES[pyphen.language_fallback(HYPHENATION_LANGUAGE)]
    if path in pyphen.hdcache:
        return
    from hipext.evidence.cache import parsed

    def parse(_raw: bytes) -> dict[str, Any]:
        return pyphen.HyphDict(path).patterns

    try:
        patterns = parsed(path.read_bytes(), parse, parser=f"pyphen {pyphen.__version__} patterns")
        hd = pyphen.HyphDict.__new__(pyphen.HyphDict)
        hd.patterns, hd.cache, hd.maxlen = patterns, {}, max(len(key) for key in patterns)
        hd.positions("hyphenation")  # the layout this relies on is still pyphen's
    except (AttributeError, TypeError, ValueError, KeyError):  # another pyphen: it parses the file itself
        return
    pyphen.hdcache[path] = hd


def _plain_test(name: str) -> str:
    return name.split(",")[0].split("(")[0].strip().lower()


def _found(f: CaseFacts, txt: dict) -> list[str]:
    protocols = evidence.load().protocols
    out: list[str] = []
    lsi_min = data.lsi()["min_percent"]
    said: set[str] = set()
    for r, lsi in f.strength_lsis:
        p = protocols[r.test]
        muscles = _MUSCLES.get(p.bias, "hip muscles")
        if lsi < lsi_min and muscles not in said and r.side:
            said.add(muscles)
            out.append(txt["weaker"].format(muscles=muscles, side=r.side, lsi=round(lsi)))
    for r in f.latest:
        proto = protocols.get(r.test)
        if proto is None:
            continue
        p = proto
        if p.kind in ("count", "time") and r.lsi_percent is not None and r.side == f.side \
                and r.lsi_percent < lsi_min and _plain_test(p.name) not in said:
            said.add(_plain_test(p.name))
            out.append(txt["weaker_test"].format(test=_plain_test(p.name), side=r.side, lsi=round(r.lsi_percent)))
        if p.kind == "special" and r.value == "positive" and involved(r, f.side):
            out.append(txt["positive"].format(test=p.name.split(",")[0].split("(")[0].strip()))  # a proper name
        if p.kind not in STRENGTH_KINDS and p.bias == "whole_limb" and r.norm.available and r.norm.status:
            key = "below_norm" if worse_than_norm(r) else "within_norm"
            out.append(txt[key].format(test=_plain_test(p.name)))
        if r.change is not None and r.change.verdict == "real_change" and r.change.direction == "better" \
                and p.kind != "pain":
            out.append(txt["improved"].format(test=_plain_test(p.name)))
    if f.latest_nprs is not None and f.latest_nprs > data.pain_model()["model"]["acceptable_max"]:
        out.append(txt["pain_high"])
    if f.lumbar_substitution:
        out.append(txt["lumbar"])
    if not out:
        measured = any(protocols.get(r.test) and protocols[r.test].kind not in ("pain", "prom") for r in f.latest)
        out.append(txt["none"] if measured else data.education()["not_measured"])
    out.append(txt["not_diagnosis"])
    return list(dict.fromkeys(out))


def _limits_plain(f: CaseFacts, cfg: dict) -> list[str]:
    """The active screening limits in plain words, in a fixed order."""
    words = cfg["limits_plain"]
    lim = f.screening.limits
    out = []
    for name in lim.why:
        value = getattr(lim, name, None)
        if value is None or value is True:
            continue
        key = f"{name}_{value}" if f"{name}_{value}" in words else name
        if key not in words or (name in ("hamstring_length", "gluteal_length") and value == "long"):
            continue
        if name == "load" and value != "bodyweight":
            continue
        if isinstance(value, list):  # excluded positions, in the patient's words
            value = " or ".join(cfg["positions_plain"][v] for v in value)
        out.append(words[key].format(value=f"{value:g}" if isinstance(value, float) else value))
    return list(dict.fromkeys(out))


def _names(exercises: list[PrescribedExercise]) -> str:
    """Exercise names as a list a patient can read; names can hold commas, so semicolons separate them."""
    names = [e.name for e in exercises]
    return names[0] if len(names) == 1 else "; ".join(names[:-1]) + "; and " + names[-1]


def _supervision_lines(program: Program, words: dict) -> list[str]:
    """Which exercises are only for sessions with the therapist, and what stays at home, in plain words."""
    if not program.supervised_only or not program.exercises:
        return []
    with_therapist = [e for e in program.exercises if e.supervision == "with_therapist"]
    home = [e for e in program.exercises if e.supervision == "home"]
    if not home:
        return [words["supervised_all"]]
    lines = [words["supervised_home"].format(names=_names(home))]
    if with_therapist:
        lines.append(words["supervised_some"].format(names=_names(with_therapist)))
    return lines


def _later_stages(program: Program, words: dict) -> list[str]:
    """The stages still ahead of the person, in plain words."""
    stage_words = data.rta()["stage_plain"]
    ahead = [stage_words[s.id] for s in program.stages if not s.reached and s.id in stage_words]
    if not ahead:
        return []
    later = ahead[0] if len(ahead) == 1 else ", ".join(ahead[:-1]) + " and " + ahead[-1]
    return [words["later"].format(later=later)]


def handout(f: CaseFacts, program: Program) -> Education:
    cfg = data.education()
    s = f.screening
    sections: dict[str, str] = {"what": " ".join(cfg["what_they_are"].split())}
    side = f.side
    side_phrase = f"on your {side} side" if side else "today"
    deciding = list(dict.fromkeys(x.plain for x in s.findings if x.decision == s.decision and x.plain))
    if s.decision in ("refer_urgent", "refer", "defer"):
        sections["found"] = " ".join(deciding) if deciding else cfg[s.decision]
        if s.decision == "defer":
            sections["plan"] = cfg["plan"]["none_defer"]
        else:
            sections["plan"] = cfg["plan"]["none_refer"]
    else:
        sections["found"] = " ".join([cfg["found"]["intro"].format(side_phrase=side_phrase),
                                      *_found(f, cfg["found"])])
        goals = "; ".join(f.case.patient.goals)
        lines = [cfg["plan"]["intro"].format(goals=goals) if goals else cfg["plan"]["no_goal"]]
        lines += [ex.patient_text for ex in program.exercises]
        if not program.exercises:
            lines.append(cfg["plan"]["none_blocked"])
        lines += _supervision_lines(program, cfg["plan"])
        lines += _later_stages(program, cfg["plan"])
        if f.case.history.surgery and f.rules & data.postop_rules():
            lines.append(cfg["plan"]["postop"])
        sections["plan"] = " ".join(lines)
        advice = list(dict.fromkeys(x.plain for x in s.findings if x.decision == "modify" and x.plain))
        if advice:
            sections["advice"] = " ".join(advice)
        limit_lines = _limits_plain(f, cfg)
        if limit_lines:
            sections["limits"] = " ".join([cfg["limits_intro"], *limit_lines])
        pain = [cfg["pain"]["intro"], cfg["pain"]["zones"], cfg["pain"]["morning"]]
        if program.phase == "protect":
            pain.append(cfg["pain"]["strict"])
        sections["pain"] = " ".join(pain)
    sections["help"] = " ".join([cfg["help"]["intro"], cfg["help"]["urgent"], cfg["help"]["soon"]])
    faq = cfg["faq"]
    postop = bool(f.case.history.surgery) and bool(f.rules & data.postop_rules())
    safe_ctx = ""
    if s.decision in ("refer_urgent", "refer", "defer"):
        safe_ctx = "For you, we wait until a doctor says it is okay."
    elif postop:
        safe_ctx = "After your surgery, keep to your surgeon's limits."
    elif f.rules & {"acute_hamstring_strain", "acute_gluteal_strain"}:
        safe_ctx = "While your muscle heals, we avoid hard pulls and stretched positions."
    elif "cardiopulmonary_limits" in f.rules:
        safe_ctx = "Because of your heart or lung condition, we keep the effort moderate."
    goals = "; ".join(f.case.patient.goals)
    last_ctx = f"Keep using your strength for your goal: {goals}." if goals else ""
    back_ctx = "We saw this in you, so keep your back still as you move." if f.lumbar_substitution \
        else "We will watch for this."
    drive_ctx = "After surgery, ask your surgeon when you can drive." if postop \
        else "Heavy lifting or long standing may be harder for a while."
    if s.decision in ("refer_urgent", "refer"):
        keys = ["where", "cause_pain", "safe", "cost"]
    else:
        keys = list(faq)
    answers = [" ".join(faq[k].format(safe_context=safe_ctx, last_context=last_ctx, back_context=back_ctx,
                                       drive_context=drive_ctx).split()) for k in keys]
    sections["faq"] = " ".join(answers)
    order = ["what", "found", "plan", "advice", "limits", "pain", "help", "faq"]
    text = "\n\n".join(sections[k] for k in order if k in sections)
    grade, method = reading_grade(text)
    return Education(title=cfg["title"], text=text, reading_grade=round(grade, 1), grade_method=method,
                     sections=sections,
                     sources=[cfg["source"], data.pain_model()["model"]["source"]])
