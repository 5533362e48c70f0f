"""Case files a clinician would write, with the results they should get (tests/cases/*.expected.yaml)."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from hipext.app import evaluate_case
from hipext.caseio import _CaseLoader, read_case_file

from .conftest import CASES

GOOD = sorted(p for p in CASES.glob("*.yaml") if not p.name.endswith(".expected.yaml"))
BAD = sorted(p for p in (CASES / "bad").glob("*.yaml") if not p.name.endswith(".expected.yaml"))


def expected_for(case: Path) -> dict:
    return yaml.load(case.with_name(case.stem + ".expected.yaml").read_text(), Loader=_CaseLoader)


def as_of(expected: dict) -> dt.date | None:
    """The evaluation date a case's expectations were written for (default: its latest visit)."""
    return dt.date.fromisoformat(str(expected["as_of"])) if "as_of" in expected else None


def dig(doc: dict, dotted: str):
    for part in dotted.split("."):
        doc = None if doc is None else doc.get(part)
    return doc


SELECTORS = ("test", "side", "date", "context")


def test_there_are_enough_case_files():
    assert len(GOOD) + len(BAD) >= 12


@pytest.mark.parametrize("case_file", GOOD, ids=lambda p: p.stem)
def test_case_gives_expected_results(case_file):
    expected = expected_for(case_file)
    doc = evaluate_case(read_case_file(case_file), as_of=as_of(expected)).model_dump(mode="json")
    for want in expected.get("results", []):
        pick = {k: str(v) for k, v in want.items() if k in SELECTORS}
        matches = [r for r in doc["results"] if all(str(r.get(k)) == v for k, v in pick.items())]
        assert matches, f"no result matching {pick}"
        got = matches[-1]  # without a date, the latest visit
        for key, value in want.items():
            if key in SELECTORS:
                continue
            actual = dig(got, key)
            if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)
                                            and isinstance(actual, float)):
                assert actual == pytest.approx(value, abs=0.051), f"{pick} {key}"
            else:
                assert actual == value, f"{pick} {key}: {actual!r} != {value!r}"
    for pick in expected.get("absent", []):
        hits = [r for r in doc["results"] if all(str(r.get(k)) == str(v) for k, v in pick.items())]
        assert not hits, f"{pick} should not be in the results"
    for key, value in expected.get("document", {}).items():
        assert dig(doc, key) == value, f"{key}: {dig(doc, key)!r} != {value!r}"
    statements = " ".join(f["statement"] for f in doc["findings"])
    for text in expected.get("findings_contain", []):
        assert text in statements, f"finding containing {text!r} missing"
    # Warnings: exactly those expected (a case without `warnings` must raise none), each at its field path.
    want = expected.get("warnings", [])
    assert [w["path"] for w in doc["warnings"]] == [w["path"] for w in want], doc["warnings"]
    for got, w in zip(doc["warnings"], want, strict=True):
        assert w["message"] in got["message"], f"{w['path']}: {got['message']!r}"


@pytest.mark.parametrize("case_file", GOOD, ids=lambda p: p.stem)
def test_every_cited_source_resolves_and_is_listed(case_file):
    doc = evaluate_case(read_case_file(case_file), as_of=as_of(expected_for(case_file))).model_dump(mode="json")
    listed = {s["id"] for s in doc["sources"]}
    from hipext.app import cited_sources

    assert set(cited_sources(doc)) == listed
    assert all(s["citation"] for s in doc["sources"])


@pytest.mark.parametrize("case_file", BAD, ids=lambda p: p.stem)
def test_bad_input_exits_2_listing_every_problem(case_file, cli):
    proc = cli("evaluate", str(case_file))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    expected = expected_for(case_file)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    for want in expected["problems"]:
        path, says = (want["path"], want["expected"]) if isinstance(want, dict) else (want, "")
        assert any(line.startswith(f"error: {path}") and says in line for line in lines), \
            f"{path} ({says!r}) not reported:\n{proc.stderr}"
    if "count" in expected:  # exactly these problems: nothing reported twice, nothing spurious
        assert len(lines) == expected["count"], proc.stderr
