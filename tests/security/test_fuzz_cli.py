"""`hipext evaluate` fuzzed with hypothesis-generated case documents: whatever the file holds, the command ends with
exit 0 (evaluated) or 2 (input problems listed), never a traceback or an internal error. Mutations start from a
real case, so the documents reach screening, interpretation and the reports, not just the first validator.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hipext import cli

from ..conftest import ROOT

BASE = yaml.safe_load((ROOT / "examples" / "athlete-hamstring.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "right",
            "left",
            "both",
            "none",
            "male",
            "female",
            "2026-02-30",
            "2026-11-17",
            "",
            "nan",
            "positive",
            "belt",
            "worst_24h",
            "hamstring_strain",
            "<script>",
            "\u202e\u05d0",
            "\x00",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def typed_numbers(old: float):  # noqa: ANN201
    """Numbers near the original (a plausible other patient), at the edges, or absurd."""
    near = st.floats(min_value=0.5 * old, max_value=1.5 * old) if old > 0 else st.floats(-10, 10)
    if isinstance(old, int):
        near = near.map(round)
    return st.one_of(near, near, st.sampled_from([0, -1, 1e-9, 1e9, old * 100]), st.floats())


def _at(doc, path):  # noqa: ANN001, ANN202
    for key in path:
        doc = doc[key]
    return doc


def _paths(doc, prefix=()):  # noqa: ANN001, ANN202
    """Every place in the document a value can be replaced."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(BASE) if p]
BASE_STRINGS = sorted({v for p in PATHS for v in [_at(BASE, p)] if isinstance(v, str)})


@st.composite
def case_documents(draw):  # noqa: ANN001, ANN201
    doc = copy.deepcopy(BASE)
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)):
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            old = target[path[-1]]
            mode = draw(st.integers(0, 5))
            if mode == 0 and isinstance(target, dict):
                target.pop(path[-1], None)  # a field left out
            elif mode <= 3 and isinstance(old, (int, float)) and not isinstance(old, bool):
                target[path[-1]] = draw(typed_numbers(old))  # a number of the same kind: often still valid
            elif mode <= 3 and isinstance(old, bool):
                target[path[-1]] = not old
            elif mode <= 3 and isinstance(old, str):
                target[path[-1]] = draw(st.sampled_from(BASE_STRINGS))  # another word the format uses
            else:
                target[path[-1]] = draw(values)  # a field with any value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the path
    if draw(st.integers(0, 19)) == 0:
        doc = draw(values)  # now and then not a case at all
    return doc


def _write(doc, path: Path, as_yaml: bool) -> None:  # noqa: ANN001
    if as_yaml:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    else:
        path.write_text(json.dumps(doc, allow_nan=True, default=str), encoding="utf-8")


cli._register_commands()
runner = CliRunner()


@given(doc=case_documents(), fmt=st.sampled_from(["json", "markdown", "html"]), as_yaml=st.booleans())
@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_cli_never_crashes_on_a_case_document(tmp_path_factory, doc, fmt: str, as_yaml: bool) -> None:
    path = tmp_path_factory.mktemp("fuzz") / ("case.yaml" if as_yaml else "case.json")
    try:
        _write(doc, path, as_yaml)
    except (ValueError, yaml.YAMLError, UnicodeEncodeError):
        return  # not writable as a file (a lone surrogate): nothing a user could hand the CLI
    result = runner.invoke(cli.app, ["evaluate", str(path), "--format", fmt])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback a user would have seen (as "internal problem")
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert "error:" in result.output or "problem" in result.output  # it says what is wrong


def test_the_fuzzer_reaches_evaluation() -> None:
    """Sanity: the unmutated base evaluates (exit 0), so mutations near it exercise the whole pipeline."""
    assert math.isfinite(BASE["patient"]["body_mass_kg"])
    path = Path(ROOT / "examples" / "athlete-hamstring.yaml")
    assert runner.invoke(cli.app, ["evaluate", str(path), "--format", "html"]).exit_code == 0
