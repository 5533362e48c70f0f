"""Reading case files (YAML or JSON) into a validated `Case`, collecting every problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hipext import evidence
from hipext.care.data import activity_checks, red_flag_questions
from hipext.core.case import Case, Measurement
from hipext.core.errors import CaseInputError, Problem

_EXPECTED = {
    "missing": "a value (this field is required)",
    "extra_forbidden": "no such field (check the spelling against `hipext schema case`)",
    "date_from_datetime_parsing": "a date as YYYY-MM-DD",
    "date_parsing": "a date as YYYY-MM-DD",
    "date_type": "a date as YYYY-MM-DD",
    "string_pattern_mismatch": "an MRC grade 0-5, optionally with + or - (e.g. 4+)",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _expected(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "greater_than":
        return f"a number greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"a number of at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"a number of at most {ctx['le']}"
    if kind == "less_than":
        return f"a number below {ctx['lt']}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}"
    return str(err["msg"]).removeprefix("Value error, ")


def problems_from(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        value = err.get("input") if err["type"] != "missing" else None
        if isinstance(value, dict):
            value = None if err["type"] != "extra_forbidden" else value
        problems.append(Problem(_path(loc), value, _expected(err)))
    return problems


def check_measurement(m: Measurement, where: str) -> list[Problem]:
    """What a test needs is data (protocols.yaml); this is the one generic check of it."""
    protocols = evidence.load().protocols
    proto = protocols.get(m.test)
    if proto is None:
        near = sorted(p for p in protocols if p.split("_")[0] == m.test.split("_")[0])
        hint = f" (similar: {', '.join(near)})" if near else ""
        return [Problem(f"{where}.test", m.test, f"a known test id{hint}; `hipext evidence list` shows them")]
    problems = []
    for need in proto.requires:
        options = need.split("|")
        if all(getattr(m, f) is None for f in options):
            problems.append(Problem(f"{where}.{options[0]}", None, f"{' or '.join(options)} for test {m.test}"))
    if proto.bilateral and m.side is None:
        problems.append(Problem(f"{where}.side", None, f"left or right for test {m.test}"))
    if not proto.bilateral and m.side is not None:
        problems.append(Problem(f"{where}.side", m.side, f"no side: {m.test} is not a one-side test"))
    if proto.kind == "pain" and m.value is not None and not 0 <= m.value <= 10:
        problems.append(Problem(f"{where}.value", m.value, "a pain rating from 0 to 10"))
    if proto.kind == "prom" and proto.instrument and m.items is not None:
        problems += _check_items(m, proto.instrument, where)
    return problems


def _check_items(m: Measurement, instrument: str, where: str) -> list[Problem]:
    rule = evidence.load().proms[instrument]
    problems = []
    for k, v in (m.items or {}).items():
        if not isinstance(k, int) or not 1 <= k <= rule.items:
            problems.append(Problem(f"{where}.items", k, f"item numbers 1-{rule.items} for {rule.name}"))
            continue
        if v is None:
            continue
        allowed = rule.item_allowed_values.get(k)
        top = rule.item_max_overrides.get(k, rule.item_max)
        if allowed is not None and v not in allowed:
            problems.append(Problem(f"{where}.items.{k}", v, f"one of {allowed}"))
        elif not rule.item_min <= v <= top:
            problems.append(Problem(f"{where}.items.{k}", v, f"a response from {rule.item_min:g} to {top:g}"))
    return problems


class _CaseLoader(evidence._Loader):
    """YAML without implicit timestamps: dates stay text so a bad date is reported, not a crash."""


_CaseLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in evidence._Loader.yaml_implicit_resolvers.items()
}


def _check_red_flags(case: Case) -> list[Problem]:
    """A screening answer under an unknown key would be silently ignored by screening, so it is an error."""
    known = red_flag_questions()
    return [Problem(f"history.red_flags.{k}", k, "a known screening question: " + ", ".join(sorted(known)))
            for k in case.history.red_flags if k not in known]


def _check_activity_checks(case: Case) -> list[Problem]:
    """An activity check under an unknown key would never open a stage, so it is an error too."""
    known = activity_checks()
    return [Problem(f"visits[{i}].activity_checks.{k}", k, "a known activity check: " + ", ".join(sorted(known)))
            for i, v in enumerate(case.visits) for k in v.activity_checks if k not in known]


def parse_case(data: Any) -> Case:
    """Validate a case given as plain data. Raises CaseInputError listing every problem."""
    if not isinstance(data, dict):
        raise CaseInputError([Problem("", type(data).__name__, "a mapping with hipext_case, patient, visits")])
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc)
        # Schema errors stop here, but still report unknown tests in measurements that parsed.
        problems += _unknown_tests_in_raw(data, {p.path for p in problems})
        raise CaseInputError(problems) from None
    problems = _check_red_flags(case) + _check_activity_checks(case)
    for i, visit in enumerate(case.visits):
        for j, m in enumerate(visit.measurements):
            problems += check_measurement(m, f"visits[{i}].measurements[{j}]")
    if problems:
        raise CaseInputError(problems)
    return case


def _unknown_tests_in_raw(data: dict[str, Any], already: set[str]) -> list[Problem]:
    protocols = evidence.load().protocols
    out = []
    visits = data.get("visits")
    for i, v in enumerate(visits if isinstance(visits, list) else []):
        ms = v.get("measurements") if isinstance(v, dict) else None
        for j, m in enumerate(ms if isinstance(ms, list) else []):
            path = f"visits[{i}].measurements[{j}].test"
            if isinstance(m, dict) and isinstance(m.get("test"), str) and m["test"] not in protocols:
                if path not in already:
                    out.append(Problem(path, m["test"], "a known test id; `hipext evidence list` shows them"))
    return out


def read_case_file(path: str | Path) -> Case:
    """Read a YAML or JSON case file. Unreadable or malformed files raise CaseInputError too."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseInputError([Problem("", str(p), "an existing, readable case file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseInputError([Problem("", str(p), f"a readable UTF-8 case file ({exc.__class__.__name__})")]) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.load(text, Loader=_CaseLoader)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else f"line {getattr(exc, 'lineno', '?')}"
        kind = "JSON" if p.suffix.lower() == ".json" else "YAML"
        raise CaseInputError([Problem(where, str(p), f"valid {kind}")]) from None
    return parse_case(data)
