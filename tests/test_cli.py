"""The command a clinician or researcher runs, exactly as they run it."""

import json

import jsonschema
import pytest
import yaml

from hipext.caseio import _CaseLoader

from .conftest import CASES, ROOT

EXAMPLE = str(ROOT / "examples" / "athlete-hamstring.yaml")


@pytest.fixture(scope="module")
def evaluation_json():
    from .conftest import run_cli

    proc = run_cli("evaluate", EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_output_follows_its_published_schema(cli, evaluation_json):
    schema = json.loads(cli("schema", "evaluation").stdout)
    jsonschema.validate(evaluation_json, schema)
    for key in ("hipext_version", "patient", "results", "findings", "sources"):
        assert key in evaluation_json
    r = evaluation_json["results"][0]
    for key in ("test", "side", "date", "value", "unit", "torque_nm", "torque_nm_per_kg", "norm", "lsi_percent",
                "change", "sources"):
        assert key in r


def test_shipped_case_files_follow_the_case_schema(cli):
    schema = json.loads(cli("schema", "case").stdout)
    assert "hhd_hip_extension_prone_knee_flexed" in schema["$defs"]["Measurement"]["properties"]["test"]["enum"]
    files = [ROOT / "examples" / "athlete-hamstring.yaml"] + [
        p for p in CASES.glob("*.yaml") if not p.name.endswith(".expected.yaml")]
    for path in files:
        jsonschema.validate(yaml.load(path.read_text(), Loader=_CaseLoader), schema)


def test_markdown_report_reads_like_a_report(cli):
    proc = cli("evaluate", EXAMPLE, "--format", "markdown")
    assert proc.returncode == 0
    text = proc.stdout
    assert text.startswith("# Hip extensor evaluation: example-001")
    assert text.index("## Findings") < text.index("## Results") < text.index("## Sources")
    assert "83%" in text and "N m" in text
    own = text[: text.index("## Sources")]  # cited titles may use the word; the report's own sentences may not
    assert "diagnosis" not in own.replace("not a diagnosis", "").replace("not diagnoses", "")


def test_html_report_written_to_a_file(cli, tmp_path):
    out = tmp_path / "report.html"
    proc = cli("evaluate", EXAMPLE, "--format", "html", "--out", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    html = out.read_text()
    assert html.startswith("<!doctype html>") and 'id="findings"' in html and 'id="sources"' in html
    assert "<script" not in html  # a static report: nothing to run


def test_unwritable_output_is_a_clear_error(cli, tmp_path):
    proc = cli("evaluate", EXAMPLE, "--out", str(tmp_path / "no" / "such" / "dir.json"))
    assert proc.returncode == 2 and "--out" in proc.stderr and "Traceback" not in proc.stderr


def test_evidence_list_and_show(cli):
    listing = cli("evidence", "list").stdout
    assert "keep2016_hhd_prone_standing" in listing and "<- keep2016 (verified)" in listing
    shown = cli("evidence", "show", "keep2016_hhd_prone_standing")
    assert shown.returncode == 0
    # the source is cited with a full address, so it opens from a terminal
    assert "mdc: 14.8" in shown.stdout and "https://doi.org/10.3138/ptc.2014-62" in shown.stdout
    source = cli("evidence", "show", "keep2016").stdout
    assert "  link: https://doi.org/10.3138/ptc.2014-62" in source
    missing = cli("evidence", "show", "no_such_record")
    assert missing.returncode == 2 and "no_such_record" in missing.stderr


def test_evidence_list_rejects_an_unknown_kind(cli):
    proc = cli("evidence", "list", "--kind", "gossip")
    assert proc.returncode == 2 and "gossip" in proc.stderr


def test_every_test_id_is_documented():
    from hipext import evidence

    doc = (ROOT / "docs" / "case-format.md").read_text()
    missing = [t for t in evidence.load().protocols if f"`{t}`" not in doc]
    assert not missing, f"document these tests in docs/case-format.md: {missing}"


def test_evaluation_date_is_an_input_recorded_in_the_document(cli, tmp_path):
    """Four weeks after a posterior hip replacement the precautions bind; weeks later they are over. The date the
    case is evaluated for decides, so it is an input (--as-of, default the latest visit) and it is in the document."""
    case = str(CASES / "post_op_posterior_tha.yaml")
    default = json.loads(cli("evaluate", case).stdout)
    assert default["as_of"] == default["evaluated_visit"] == "2026-11-17"
    assert default["screening"]["decision"] == "modify" and default["screening"]["blocked_exercises"]
    later = json.loads(cli("evaluate", case, "--as-of", "2027-03-01").stdout)
    assert later["as_of"] == "2027-03-01" and later["evaluated_visit"] == "2026-11-17"
    assert later["screening"]["decision"] == "proceed" and not later["screening"]["blocked_exercises"]
    # Before the visit, the visit is not part of the evaluation.
    before = json.loads(cli("evaluate", case, "--as-of", "2026-11-01").stdout)
    assert before["evaluated_visit"] is None and before["results"] == []
    assert "as of 2027-03-01" in cli("evaluate", case, "--as-of", "2027-03-01", "--format", "markdown").stdout
    bundle = json.loads(cli("export", case, "--as-of", "2027-03-01").stdout)
    assert bundle["resourceType"] == "Bundle"
    for bad in ("2026-13-01", "yesterday"):
        proc = cli("evaluate", case, "--as-of", bad)
        assert proc.returncode == 2 and f"--as-of: got '{bad}'; expected a date as YYYY-MM-DD" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_same_case_and_date_give_the_same_bytes(cli):
    case = str(CASES / "post_op_posterior_tha.yaml")
    first = cli("evaluate", case, "--as-of", "2026-12-01").stdout
    assert first == cli("evaluate", case, "--as-of", "2026-12-01").stdout and first.endswith("}\n")
