"""Reading case files (YAML or JSON) into a validated `Case`, collecting every problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hipext import evidence
from hipext.care.data import activity_checks, red_flag_questions
from hipext.core import consistency
from hipext.core.case import Case, Measurement
from hipext.core.consistency import Parts
from hipext.core.consistency import check_measurement as check_measurement
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
    """Validate a case given as plain data. Raises CaseInputError listing every problem at once.

    When the schema fails somewhere, the consistency checks still run on every part that validated on its own
    (`Parts.from_raw`), so a pain score of 12 or an impossible date is listed with the schema errors, not after.
    """
    if not isinstance(data, dict):
        raise CaseInputError([Problem("", type(data).__name__, "a mapping with hipext_case, patient, visits")])
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        problems = problems_from(exc)
        problems += _unknown_tests_in_raw(data, {p.path for p in problems})
        raise CaseInputError(_unique(problems + consistency.errors(Parts.from_raw(data)))) from None
    problems = _check_red_flags(case) + _check_activity_checks(case) + consistency.errors(Parts.of(case))
    if problems:
        raise CaseInputError(problems)
    return case


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.path, p.expected) not in seen:
            seen.add((p.path, p.expected))
            out.append(p)
    return out


def _unknown_tests_in_raw(data: dict[str, Any], already: set[str]) -> list[Problem]:
    """Unknown test ids in measurements that did not validate (those that did are checked with the rest)."""
    protocols = evidence.load().protocols
    out = []
    visits = data.get("visits")
    for i, v in enumerate(visits if isinstance(visits, list) else []):
        ms = v.get("measurements") if isinstance(v, dict) else None
        for j, m in enumerate(ms if isinstance(ms, list) else []):
            path = f"visits[{i}].measurements[{j}].test"
            if isinstance(m, dict) and isinstance(m.get("test"), str) and m["test"] not in protocols:
                if path not in already and not _validates(m):
                    out.append(Problem(path, m["test"], "a known test id; `hipext evidence list` shows them"))
    return out


def _validates(m: dict[str, Any]) -> bool:
    try:
        Measurement.model_validate(m)
    except ValidationError:
        return False
    return True


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
