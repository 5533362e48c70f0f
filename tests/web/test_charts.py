"""Charts a clinician can read: labelled axes with units, LSI over time against the target the evaluation states,
colours that keep 3:1 contrast and cues besides hue."""

from __future__ import annotations

import re

import pytest

from hipext.web import charts

from .conftest import add_patient, csrf_of


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


@pytest.mark.parametrize("colour", [charts.LEFT, charts.RIGHT, charts.BAD, charts.GOOD, charts.MUTED, charts.INK])
def test_chart_colours_keep_3_to_1_contrast(colour: str) -> None:
    assert charts.contrast_ratio(colour) >= 3.0, colour
    assert charts.contrast_ratio("#d9822b") < 3.0  # the old right-side orange the testers measured at 2.9:1


def test_lsi_over_time_against_the_target_from_the_evaluation(world, clinician) -> None:
    pid = add_patient(world, "A", visits=2)
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    targets = charts.lsi_targets(doc)
    assert targets, "the return-to-activity criteria state the symmetry targets"
    page = clinician.get(f"/patients/{pid}/evaluation").text
    svg = re.search(r'<svg class="chart lsi-time-chart".*?</svg>', page, re.S).group(0)
    assert "LSI (%)" in svg and "visit date" in svg
    lines = re.findall(r'class="lsi-target"[^>]*><title>target ([\d.]+) %</title>', svg)
    assert lines and {float(x) for x in lines} <= set(targets.values())
    desc = re.search(r"<desc>(.*?)</desc>", svg).group(1)
    assert "target" in desc and ("met at the last visit" in desc or "not met at the last visit" in desc)
    # Without a target in the document, no line is drawn: the chart never invents one.
    results = [r for r in doc["results"] if r.get("lsi_percent") is not None]
    assert 'class="lsi-target"' not in charts.lsi_over_time_chart(results, {})


def test_trend_and_bar_charts_have_axes_and_non_colour_cues(world, clinician) -> None:
    pid = add_patient(world, "A", visits=2)
    page = clinician.get(f"/patients/{pid}/evaluation").text
    trend = re.search(r'<svg class="chart trend-chart".*?</svg>', page, re.S).group(0)
    ticks = re.findall(r'<text x="2" y="[\d.]+" font-size="9">([\d.]+)</text>', trend)
    assert len(ticks) == 3 and "visit date" in trend  # a y-axis with values, so small changes look small
    strength = re.search(r'<svg class="chart strength-chart".*?</svg>', page, re.S).group(0)
    assert "right (hatched)" in strength and 'fill="url(#hatch-right-strength)"' in strength
    lsi = re.search(r'<svg class="chart lsi-chart".*?</svg>', page, re.S).group(0)
    assert re.search(r"\d+ % (below|meets) target", lsi)  # pass and fail in words, not only in colour
