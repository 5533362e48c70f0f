"""Every export checked by independent validators: the official R4 JSON schema (fhir.schema.json, through ajv) and
every FHIRPath invariant of the R4 StructureDefinitions (fhirpath.js with its R4 model), besides fhir.resources.

`make test` installs the validators (`npm ci` in tests/fhir/validator). The validator itself is tested: a resource
without narrative, an empty element and a schema violation must each be caught, or a clean report means nothing.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from hipext.fhir import bundle_json

from .test_export import CASE_FILES, _export

VALIDATOR = Path(__file__).parent / "validator"
ALLOWED_XHTML = {"div", "p", "b", "ul", "li", "table", "tr", "th", "td", "span", "br"}


def _validate(bundles: dict[str, dict[str, Any]], tmp: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required (make test installs the FHIR validators with npm)"
    assert (VALIDATOR / "node_modules" / "fhirpath").is_dir(), "run `make test` (it installs tests/fhir/validator)"
    files = []
    for name, bundle in bundles.items():
        path = tmp / f"{name}.json"
        path.write_text(bundle_json(bundle), encoding="utf-8")
        files.append(str(path))
    done = subprocess.run([node, str(VALIDATOR / "validate.js"), *files], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    return {Path(k).stem if k != "(not evaluable)" else k: v for k, v in report.items()}


@functools.cache
def _corpus_report(tmp: str) -> dict[str, Any]:
    from hipext.caseio import parse_case
    from hipext.fhir import to_bundle

    from .test_export import _evaluate
    from .test_roundtrip import EVERY_FIELD

    bundles = {p.relative_to(p.parents[1]).as_posix().replace("/", "__"): _export(p)[1] for p in CASE_FILES}
    every = parse_case(json.loads(json.dumps(EVERY_FIELD)))
    bundles["every_field"] = to_bundle(every, _evaluate(every))  # every case field, so every resource kind
    return _validate(bundles, Path(tmp))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Any]:
    return _corpus_report(str(tmp_path_factory.mktemp("bundles")))


def test_every_export_passes_the_official_r4_json_schema(report):
    bundles = {k: v for k, v in report.items() if k != "(not evaluable)"}
    assert len(bundles) == len(CASE_FILES) + 1
    assert {k: v["schema"] for k, v in bundles.items() if v["schema"]} == {}


def test_every_export_meets_every_r4_invariant_with_no_warning(report):
    assert report["(not evaluable)"] == {}  # every invariant the exports touch was evaluated
    bundles = {k: v for k, v in report.items() if k != "(not evaluable)"}
    found = {k: v["invariants"] for k, v in bundles.items() if v["invariants"]}
    assert found == {}  # no errors, and no warnings: no dom-6 (every resource has narrative)
    assert sum(v["resources"] for v in bundles.values()) > 500


def test_every_declared_profile_is_met(report):
    """Body weight and height, blood pressure, heart rate and SpO2 claim their R4 vital-signs profiles; each claim
    is checked against the profile's StructureDefinition (tests/fhir/test_vitals.py shows a violation is caught)."""
    bundles = {k: v for k, v in report.items() if k != "(not evaluable)"}
    assert {k: v["profiles"] for k, v in bundles.items() if v["profiles"]} == {}
    assert all(v["profiled"] >= 1 for v in bundles.values())  # every export has body weight at least


def test_the_validators_catch_a_missing_narrative_an_empty_element_and_a_schema_violation(tmp_path):
    _, bundle = _export(CASE_FILES[0])
    no_text = copy.deepcopy(bundle)
    del no_text["entry"][0]["resource"]["text"]
    empty = copy.deepcopy(bundle)
    obs = next(e["resource"] for e in empty["entry"] if e["resource"]["resourceType"] == "Observation")
    obs["referenceRange"] = [{"text": "x", "low": {}}]
    wrong = copy.deepcopy(bundle)
    wrong["entry"][0]["resource"]["gender"] = 5
    got = _validate({"no_text": no_text, "empty": empty, "wrong": wrong}, tmp_path)
    assert any(i["key"] == "dom-6" and i["severity"] == "warning" for i in got["no_text"]["invariants"])
    assert any(i["key"] == "ele-1" and i["severity"] == "error" for i in got["empty"]["invariants"])
    assert got["wrong"]["schema"]


@pytest.mark.parametrize("path", CASE_FILES[:12], ids=[p.name for p in CASE_FILES[:12]])
def test_narrative_is_generated_xhtml_that_says_what_the_resource_says(path):
    _, bundle = _export(path)
    for e in bundle["entry"]:
        r = e["resource"]
        assert r["text"]["status"] == "generated"
        div = ET.fromstring(r["text"]["div"])
        assert div.tag == "{http://www.w3.org/1999/xhtml}div"
        tags = {el.tag.split("}")[1] for el in div.iter()}
        assert tags <= ALLOWED_XHTML
        text = "".join(div.itertext())
        assert text.strip()
        if r["resourceType"] == "Observation" and "valueQuantity" in r:
            assert f"{r['valueQuantity']['value']:g}" in text
        if r["resourceType"] == "Patient":
            assert r["identifier"][0]["value"] in text
