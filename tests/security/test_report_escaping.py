"""The CLI HTML report escapes whatever the case file says (a patient id or a goal with markup never runs)."""

from __future__ import annotations

import yaml

from hipext.app import evaluate_case
from hipext.caseio import parse_case
from hipext.reports import render

from ..conftest import ROOT

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _case_with_markup() -> dict:
    data = yaml.safe_load((ROOT / "examples" / "athlete-hamstring.yaml").read_text())
    data["patient"]["id"] = "P" + PAYLOAD
    data["patient"]["goals"] = [PAYLOAD]
    return data


def test_html_report_escapes_patient_fields() -> None:
    html = render(evaluate_case(parse_case(_case_with_markup())), "html")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<svg") == 2  # the charts (trusted SVG) are still drawn


def test_cli_html_report_escapes_patient_fields(tmp_path, cli) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(yaml.safe_dump(_case_with_markup()))
    out = tmp_path / "report.html"
    r = cli("evaluate", str(case), "--format", "html", "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
