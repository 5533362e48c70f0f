"""What the Markdown and HTML reports show a clinician."""

import re
from html import escape

from hipext.app import evaluate_case
from hipext.caseio import read_case_file
from hipext.reports import render
from hipext.reports.capacity_charts import task_bars_svg, torque_angle_svg

from .conftest import CASES, ROOT


def _evaluation(name: str):
    return evaluate_case(read_case_file(name))


def test_html_report_draws_the_capacity_curve_and_task_bars():
    e = _evaluation(ROOT / "examples" / "athlete-hamstring.yaml")
    html = render(e, "html")
    assert html.count("<svg") == 2
    cap = e.model_dump(mode="json")["capacity"]
    curve_svg = torque_angle_svg(cap)
    # the measured point sits on the isometric curve at the test angle (the curve is scaled to it)
    assert f"measured {cap['test']['measured_torque_nm']:.0f} N m" in curve_svg
    bars = task_bars_svg(cap)
    walking = next(t for t in cap["tasks"] if t["task"] == "walking")
    assert f"{walking['share_of_capacity_percent']:.0f}%" in bars
    assert "no published value retrieved" in bars  # stairs and sprinting have none, and the chart says so


def test_no_capacity_charts_without_strength():
    html = render(_evaluation(CASES / "questionnaires.yaml"), "html")
    assert "<svg" not in html and 'id="capacity"' not in html


def test_screening_comes_first_and_blocked_items_are_named_only_there():
    e = _evaluation(CASES / "care" / "posterior_tha.yaml")
    md = render(e, "markdown")
    assert md.index("## Screening") < md.index("## Findings") < md.index("## Results")
    screening, rest = md.split("## Findings", 1)
    for ex in e.screening.blocked_exercises:
        assert not re.search(rf"\b{ex}\b", rest), ex


def test_every_source_in_the_reports_links_to_the_paper():
    e = _evaluation(ROOT / "examples" / "athlete-hamstring.yaml")
    html, md = render(e, "html"), render(e, "markdown")
    assert e.sources
    for s in e.sources:
        expected = f"https://doi.org/{s.doi}" if s.doi else s.url
        assert s.link == expected
        assert f'<li id="src-{s.id}">' in html and f'<a href="{escape(expected)}">' in html, s.id
        assert f"<{expected}>" in md, s.id
    # a citation in the text jumps to its entry in the source list
    cited = re.findall(r'<a href="#src-([a-z0-9_]+)">', html)
    assert cited and set(cited) <= {s.id for s in e.sources}
