"""Adding imported measurements to a visit: all of them or none, the whole case checked before anything is written.

`add_measurements` works on plain case data (a dict from YAML or JSON, or from the web store) and returns new data;
`add_to_case_file` does the same to a file in place, keeping its comments and layout (ruamel.yaml round trip) and
replacing it only when the new case validates.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hipext.core.case import Case, Measurement
from hipext.core.errors import CaseInputError, Problem


@dataclass(frozen=True)
class Added:
    case: Case
    added: int
    replaced: int
    new_visit: bool


def _same_slot(a: dict[str, Any], b: Measurement) -> bool:
    """Same test, side and set-up variant: a second one would be a duplicate, not another test."""
    return (a.get("test"), a.get("side"), a.get("context"), a.get("velocity_deg_s"), a.get("mode")) == \
        (b.test, b.side, b.context, b.velocity_deg_s, b.mode)


def _as_data(m: Measurement) -> dict[str, Any]:
    data = m.model_dump(mode="json", exclude_none=True)
    metrics = data.get("device_metrics")
    if metrics is not None and not metrics.get("repetitions"):
        metrics.pop("repetitions", None)
    return data


def add_measurements(data: dict[str, Any], visit: dt.date, measurements: list[Measurement], *,
                     replace: bool = False) -> tuple[dict[str, Any], int, bool]:
    """Case data with the measurements added to the visit on `visit` (created if there is none).

    A measurement of a test and side the visit already has is a problem unless `replace`; so is a file already
    imported into this visit. Returns (data, how many were replaced, whether the visit is new). Mutates `data`.
    """
    visits = data.setdefault("visits", [])
    target = next((v for v in visits if isinstance(v, dict) and str(v.get("date")) == visit.isoformat()), None)
    new_visit = target is None
    if target is None:
        target = {"date": visit, "measurements": []}
        visits.append(target)
    existing = target.setdefault("measurements", [])
    before = list(existing)
    problems: list[Problem] = []
    replaced = 0
    for m in measurements:
        sha = m.device_metrics.source_sha256 if m.device_metrics else None
        if sha and any((e.get("device_metrics") or {}).get("source_sha256") == sha for e in before):
            problems.append(Problem(f"visit {visit}", m.device_metrics.source_file if m.device_metrics else None,
                                    "a file not imported into this visit before (it is already there)"))
            break
        clash = [i for i, e in enumerate(existing) if isinstance(e, dict) and _same_slot(e, m) and
                 any(e is b for b in before)]
        if clash and not replace:
            problems.append(Problem(f"visit {visit}", f"{m.test} {m.side or ''}".strip(),
                                    "a test and side the visit does not have yet (use --replace to replace it)"))
            continue
        for i in reversed(clash):
            del existing[i]
            replaced += 1
        existing.append(_as_data(m))
    if problems:
        raise CaseInputError(problems)
    return data, replaced, new_visit


def _yaml(text: str = "") -> Any:
    """A round-trip YAML reader and writer (comments, key order and flow style survive), indented like `text`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap the lines of the file being added to
    y.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    if text:
        _, indent, offset = load_yaml_guess_indent(text)
        y.indent(mapping=(indent - offset) if offset else indent, sequence=indent, offset=offset)
    return y


def add_to_case_file(path: Path, visit: dt.date, measurements: list[Measurement], *, out: Path | None = None,
                     replace: bool = False) -> Added:
    """Add to the case file at `path` (or write the result to `out`). Raises CaseInputError; writes nothing then."""
    from hipext.caseio import parse_case, read_case_file

    read_case_file(path)  # the case must be valid before anything is added to it
    text = path.read_text(encoding="utf-8")
    is_json = path.suffix.lower() == ".json"
    data = json.loads(text) if is_json else _yaml(text).load(text)
    data, replaced, new_visit = add_measurements(data, visit, measurements, replace=replace)
    plain = json.loads(json.dumps(data, default=str))  # ruamel's maps and dates as plain data, as a file reads back
    case = parse_case(plain)
    target = out or path
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if is_json:
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                _yaml(text).dump(_flow_leaves(data), fh)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CaseInputError([Problem("--out" if out else "CASE", str(target),
                                      f"a writable file ({exc.strerror})")]) from None
    return Added(case=case, added=len(measurements), replaced=replaced, new_visit=new_visit)


def _flow_leaves(data: Any) -> Any:
    """New measurements in the compact style of hand-written case files: one line each where it fits."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def convert(x: Any, depth: int) -> Any:
        if isinstance(x, (CommentedMap, CommentedSeq)):
            return x  # already in the file: keep its style
        if isinstance(x, dict):
            m = CommentedMap((k, convert(v, depth + 1)) for k, v in x.items())
            nested = any(isinstance(v, dict) or (isinstance(v, list) and any(isinstance(i, dict) for i in v))
                         for v in x.values())
            if not nested:
                m.fa.set_flow_style()
            return m
        if isinstance(x, list):
            s = CommentedSeq(convert(v, depth + 1) for v in x)
            if all(not isinstance(v, (dict, list)) for v in x):
                s.fa.set_flow_style()
            return s
        return x

    if isinstance(data, CommentedMap):
        for visit in data.get("visits", []):
            if isinstance(visit, CommentedMap):
                ms = visit.get("measurements")
                if isinstance(ms, CommentedSeq):
                    for i, m in enumerate(ms):
                        ms[i] = convert(m, 0)
                elif isinstance(ms, list):
                    visit["measurements"] = convert(ms, 0)
        visits = data.get("visits")
        if isinstance(visits, CommentedSeq):
            for i, v in enumerate(visits):
                visits[i] = convert(v, 0) if not isinstance(v, CommentedMap) else v
    return data
