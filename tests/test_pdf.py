"""PDF documents as a clinician and a patient get them: opened, counted, read back as text, looked at as a picture.

Text comes back through pypdf (what a screen reader or a search in the PDF viewer sees); page 1 is drawn to pixels
by PDFium (pypdfium2), no browser involved, and the QR code on the home program is decoded from those pixels.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import re
from pathlib import Path

import pypdf
import pypdfium2
import pytest
import zxingcpp

from hipext.app import default_as_of, evaluate_case
from hipext.caseio import parse_case, read_case_file
from hipext.document import Evaluation
from hipext.reports import protocol_name
from hipext.reports.pdf import Letterhead, render_pdf

from .conftest import CASES, ROOT

CASE_FILES = sorted(p for p in [*CASES.glob("*.yaml"), *(CASES / "care").glob("*.yaml")]
                    if not p.name.endswith(".expected.yaml"))
IDS = [str(p.relative_to(CASES)) for p in CASE_FILES]
EXAMPLE = ROOT / "examples" / "athlete-hamstring.yaml"
CLINIC = Letterhead("Riverside Physiotherapy", "020 7946 0000 · desk@riverside.example")
LINK = "https://clinic.example/p/6f1c0b3e9a5d4c2b8e7f"


@functools.cache
def _evaluation(path: Path) -> Evaluation:
    case = read_case_file(path)
    return evaluate_case(case, as_of=default_as_of(case) or dt.date(2026, 11, 20))


def _read(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), " ".join(text.split())


def _has(text: str, phrase: str) -> bool:
    """Phrase in the extracted text, ignoring where lines were broken (PDF text has no soft wraps)."""
    return re.sub(r"\s+", "", phrase) in re.sub(r"\s+", "", text)


def _page1(pdf: bytes, scale: float = 2.0):
    return pypdfium2.PdfDocument(pdf)[0].render(scale=scale).to_pil().convert("L")


def test_the_corpus_is_what_the_tests_assume():
    assert len(CASE_FILES) >= 30


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_summary_is_one_page_with_the_decision_the_program_and_the_retest(path):
    e = _evaluation(path)
    pages, text = _read(render_pdf(e, "summary", letterhead=CLINIC))
    assert pages == 1
    assert e.patient.id in text and CLINIC.name in text
    assert f"Evaluated for {e.as_of}" in text
    if e.screening:
        assert e.screening.decision.replace("_", " ").upper() in text
    for x in e.program.exercises if e.program else []:
        assert _has(text, x.name)  # the program is never folded away
    if e.follow_up and e.follow_up.retest_on:
        assert f"Re-test on {e.follow_up.retest_on}" in text
    assert e.disclaimer.split(";")[0] in text


def test_summary_shows_norm_lsi_and_change_against_the_mdc():
    e = _evaluation(EXAMPLE)
    _, text = _read(render_pdf(e, "summary"))
    flexed = next(r for r in e.results if r.date == e.evaluated_visit and r.side == "right"
                  and r.test == "hhd_hip_extension_prone_knee_flexed")
    assert flexed.change is not None and flexed.change.mdc is not None
    assert f"{flexed.change.delta:+.1f} N m vs {round(flexed.change.mdc, 1):g}" in text
    assert "possibly real" in text  # the verdict in words, next to the number
    assert f"{flexed.lsi_percent:.0f}%" in text
    from hipext import evidence

    first = evidence.load().references[e.sources[0].id].short()
    assert "Sources:" in text and first in text  # short author-year references


def test_a_visit_with_every_test_still_gives_one_page_and_says_what_was_left_out():
    data = read_case_file(EXAMPLE).model_dump(mode="json", exclude_none=True)
    latest = data["visits"][-1]
    extra = []
    for side in ("left", "right"):
        for test in ("hhd_hip_extension_prone_standing", "hhd_hip_extension_supine"):
            extra.append({"test": test, "side": side, "trials_n": [150, 160], "lever_arm_m": 0.4, "fixation": "belt"})
        for velocity in (60, 120, 180, 240):
            extra.append({"test": "isokinetic_hip_extension", "side": side, "trials_nm": [150, 155],
                          "velocity_deg_s": velocity, "mode": "concentric"})
        extra += [{"test": "mmt_hip_extension_knee_flexed", "side": side, "grade": "4+"},
                  {"test": "hip_extension_rom", "side": side, "angle_deg": 15},
                  {"test": "passive_straight_leg_raise", "side": side, "angle_deg": 70},
                  {"test": "step_up", "side": side, "reps": 20}]
    latest["measurements"] += extra
    e = evaluate_case(parse_case(data))
    n_latest = sum(r.date == e.evaluated_visit for r in e.results)
    assert n_latest > 25
    pages, text = _read(render_pdf(e, "summary"))
    assert pages == 1
    folded = re.search(r"(\d+) more result\(s\) of this visit in the full report", text)
    assert folded and 0 < int(folded.group(1)) < n_latest


def test_full_report_has_every_section_and_every_source():
    e = _evaluation(EXAMPLE)
    pages, text = _read(render_pdf(e, "full", letterhead=CLINIC))
    assert pages > 1
    for heading in ("Screening", "Findings", "Results", "Capacity and task demand", "Exercise program",
                    "Follow-up", "Return to activity", "Patient handout", "Sources"):
        assert heading in text
    for s in e.sources:
        assert s.id in text
    assert f"Page {pages} of {pages}" in text  # the running footer counts pages


def test_home_program_gives_each_dose_the_plain_instruction_and_a_scannable_link():
    from hipext.care import data

    e = _evaluation(EXAMPLE)
    pdf = render_pdf(e, "home_program", letterhead=CLINIC, patient_link=LINK)
    pages, text = _read(pdf)
    assert e.program and e.program.exercises
    for x in e.program.exercises:
        assert _has(text, x.name)
        assert _has(text, x.dose.plain)  # the dose in the patient's words
        assert _has(text, x.how or data.exercises()[x.exercise].plain)
    assert CLINIC.name in text and "020 7946 0000" in text
    assert LINK in text
    decoded = set()
    reader = pypdfium2.PdfDocument(pdf)
    for i in range(len(reader)):
        decoded |= {r.text for r in zxingcpp.read_barcodes(reader[i].render(scale=3).to_pil())}
    assert decoded == {LINK}


def test_home_program_without_a_link_has_no_code():
    pdf = render_pdf(_evaluation(EXAMPLE), "home_program")
    assert "Your own page" not in _read(pdf)[1]


def test_a_referred_person_gets_no_exercises_to_do_at_home():
    e = _evaluation(CASES / "care" / "ces_urgent.yaml")
    assert e.screening and e.screening.decision == "refer_urgent"
    _, text = _read(render_pdf(e, "home_program"))
    assert "Your exercises" not in text and "Your log" not in text
    assert e.education and e.education.sections["plan"].split(".")[0] in text


def test_a_supervised_only_person_is_told_to_exercise_with_the_physiotherapist():
    e = _evaluation(CASES / "care" / "neuro_unsafe.yaml")
    assert e.screening and e.screening.limits.supervised and e.program and e.program.exercises
    _, text = _read(render_pdf(e, "home_program"))
    assert "Do these only with your physiotherapist" in text
    assert "home exercise program" not in text.lower()


def test_page_one_looks_like_a_filled_a4_page():
    image = _page1(render_pdf(_evaluation(EXAMPLE), "summary"), scale=1.0)
    width, height = image.size
    assert abs(height / width - 297 / 210) < 0.01  # A4 portrait
    ink = sum(image.histogram()[:128]) / (width * height)
    assert 0.02 < ink < 0.4  # text and tables on white, neither blank nor a black box
    top, bottom = image.crop((0, 0, width, height // 2)), image.crop((0, height // 2, width, height))
    assert min(top.getextrema()) < 100 and min(bottom.getextrema()) < 100  # content in both halves


def test_retest_names_are_protocol_names_not_ids():
    e = _evaluation(EXAMPLE)
    _, text = _read(render_pdf(e, "summary"))
    assert e.follow_up and e.follow_up.tests
    assert protocol_name(e.follow_up.tests[0].test) in text


def test_cli_writes_the_summary_and_the_full_report(cli, tmp_path):
    out = tmp_path / "r.pdf"
    done = cli("evaluate", str(EXAMPLE), "--format", "pdf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert _read(out.read_bytes())[0] == 1
    full = tmp_path / "full.pdf"
    assert cli("evaluate", str(EXAMPLE), "--format", "pdf", "--out", str(full), "--full").returncode == 0
    assert _read(full.read_bytes())[0] > 1
    home = tmp_path / "home.pdf"
    assert cli("evaluate", str(EXAMPLE), "--format", "pdf", "--out", str(home), "--home-program").returncode == 0
    assert "home exercise program" in _read(home.read_bytes())[1].lower()


def test_cli_pdf_without_out_is_an_error_and_writes_nothing(cli, tmp_path):
    done = cli("evaluate", str(EXAMPLE), "--format", "pdf")
    assert done.returncode == 2 and "--out" in done.stderr and done.stdout == ""
    done = cli("evaluate", str(EXAMPLE), "--full")
    assert done.returncode == 2 and "--format pdf" in done.stderr


def test_a_bad_case_file_writes_no_pdf(cli, tmp_path):
    out = tmp_path / "r.pdf"
    done = cli("evaluate", str(CASES / "bad" / "impossible_values.yaml"), "--format", "pdf", "--out", str(out))
    assert done.returncode == 2 and not out.exists()


def test_documents_do_not_change_the_evaluation():
    e = _evaluation(EXAMPLE)
    before = copy.deepcopy(e.model_dump())
    for document in ("summary", "full", "home_program"):
        render_pdf(e, document)
    assert e.model_dump() == before


def test_round_numbers_keep_their_zeros():
    from hipext.reports import _num

    assert (_num(1000.0, 0), _num(100.0, 0), _num(20.0), _num(1.50, 2)) == ("1000", "100", "20", "1.5")
