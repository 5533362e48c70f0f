"""The guard: nothing screening blocked may appear anywhere in an output, except in the blocked lists themselves, and
no section may contradict the screening decision (fail closed: a hit is a bug, never output)."""

from __future__ import annotations

import re
from typing import Any

from hipext.care import data
from hipext.care.models import DECISION_ORDER, PHASE_ORDER, Screening

_ALLOWED_PATHS = {("screening", "blocked_tests"), ("screening", "blocked_exercises"), ("blocked_tests",),
                  ("blocked_exercises",)}
# Where exercise names may legitimately be quoted while blocked: screening itself and the review of the clinician's
# own edits (which says an edit is blocked).
_NAME_FREE = {("screening",), ("clinician_edits",)}
_HOLD = ("defer", "refer", "refer_urgent")  # nothing physical is tested or prescribed


class BlockedItemError(AssertionError):
    """A blocked test or exercise appears in an output, or a section contradicts screening."""

    def __init__(self, hits: list[tuple[str, str]]) -> None:
        self.hits = hits
        super().__init__("blocked items in output: " + "; ".join(f"{i} at {p}" for i, p in hits))


def _as_dict(screening: Screening | dict[str, Any]) -> dict[str, Any]:
    return screening.model_dump(mode="json") if isinstance(screening, Screening) else screening


def _walk(x: Any, path: tuple[str, ...], skip: set[tuple[str, ...]], visit: Any) -> None:
    if path in skip:
        return
    if isinstance(x, dict):
        for k, v in x.items():
            visit(str(k), path + (str(k),))
            _walk(v, path + (str(k),), skip, visit)
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            _walk(v, path + (f"[{i}]",), skip, visit)
    elif isinstance(x, str):
        visit(x, path)


def find_blocked(document: Any, screening: Screening | dict[str, Any]) -> list[tuple[str, str]]:
    """Every (id, path) where a blocked id occurs as a whole token in a key or string value, and every (name, path)
    where a blocked exercise is named (the longest library name wins, so 'Side plank on the knees' is not 'Side
    plank')."""
    s = _as_dict(screening)
    ids = set(s.get("blocked_tests", [])) | set(s.get("blocked_exercises", []))
    if not ids:
        return []
    rx = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
                    + r")(?![A-Za-z0-9_])")
    lib = data.exercises()
    blocked_names = {lib[e].name.lower() for e in s.get("blocked_exercises", []) if e in lib}
    names = sorted({e.name for e in lib.values()}, key=len, reverse=True)
    name_rx = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z0-9])",
                         re.IGNORECASE)
    hits: list[tuple[str, str]] = []

    def ids_in(text: str, path: tuple[str, ...]) -> None:
        hits.extend((m.group(1), ".".join(path)) for m in rx.finditer(text))

    def names_in(text: str, path: tuple[str, ...]) -> None:
        if path and path[-1] not in ("id", "rule"):
            hits.extend((m.group(1), ".".join(path)) for m in name_rx.finditer(text)
                        if m.group(1).lower() in blocked_names)

    _scan(document, _ALLOWED_PATHS, ids_in, lambda text: any(i in text for i in ids))
    if blocked_names and isinstance(document, dict) and "program" in document:
        _scan({k: v for k, v in document.items() if (k,) not in _NAME_FREE}, set(), names_in,
              lambda text: any(n in text.lower() for n in blocked_names))
    return hits


def _scan(document: Any, skip: set[tuple[str, ...]], visit: Any, may_hold: Any) -> None:
    """``visit`` every text of ``document``, only if ``may_hold`` says their concatenation may hold a hit: a hit
    contains a blocked id (or, lower-cased, a blocked name), and a few substring tests of one text are far cheaper
    than the expressions on each (the guard runs on every evaluation; a hit is a bug)."""
    texts: list[str] = []
    _walk(document, (), skip, lambda text, _path: texts.append(text))
    if may_hold("\0".join(texts)):
        _walk(document, (), skip, visit)


def find_contradictions(document: Any, screening: Screening | dict[str, Any]) -> list[tuple[str, str]]:
    """Sections of an evaluation that disagree with screening: (what, path). Screening binds the program, the
    progression, follow-up, return to activity and aftercare alike."""
    if not isinstance(document, dict) or "program" not in document:
        return []  # not an evaluation document (e.g. a FHIR bundle): only the id check applies
    s = _as_dict(screening)
    decision = s.get("decision", "proceed")
    stopped = set(s.get("stopped_considerations", []))
    allowed_for = {c["id"]: c.get("decisions", ("proceed", "modify")) for c in data.aftercare()["considerations"]}
    out: list[tuple[str, str]] = []
    for i, c in enumerate((document.get("aftercare") or {}).get("considerations", [])):
        where = f"aftercare.considerations[{i}]"
        if c.get("id") in stopped:
            out.append((f"consideration '{c.get('id')}' is made unsafe by a screening rule", where))
        elif decision not in allowed_for.get(c.get("id"), ()):
            out.append((f"consideration '{c.get('id')}' does not fit the decision '{decision}'", where))
    program = document.get("program") or {}
    if decision in _HOLD:
        for key, section in (("exercises", program), ("decisions", document.get("progression") or {}),
                             ("tests", document.get("follow_up") or {})):
            if section.get(key):
                out.append((f"{key} after the decision '{decision}'", key))
        if program.get("phase"):
            out.append((f"phase '{program['phase']}' after the decision '{decision}'", "program.phase"))
        if (document.get("return_to_activity") or {}).get("ready"):
            out.append((f"ready for activity after the decision '{decision}'", "return_to_activity.ready"))
    if decision in ("refer", "refer_urgent") and program.get("alternatives"):
        out.append((f"alternatives after the decision '{decision}'", "program.alternatives"))
    cap, phase = s.get("max_phase"), program.get("phase")
    if cap and phase and PHASE_ORDER.index(phase) > PHASE_ORDER.index(cap):
        out.append((f"phase '{phase}' above screening's ceiling '{cap}'", "program.phase"))
    if DECISION_ORDER.index(decision) > DECISION_ORDER.index("proceed") and program.get("exercises") and \
            s.get("limits", {}).get("block_all"):
        out.append(("exercises while screening blocks everything", "program.exercises"))
    return out


def assert_nothing_blocked(document: dict[str, Any], screening: Screening | dict[str, Any]) -> None:
    """Raise BlockedItemError if a blocked test or exercise appears outside the screening's blocked lists, or a
    section contradicts the screening decision."""
    hits = find_blocked(document, screening) + find_contradictions(document, screening)
    if hits:
        raise BlockedItemError(hits)
