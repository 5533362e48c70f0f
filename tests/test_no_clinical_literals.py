"""No clinical number is written in hipext's Python or templates: every one lives in the evidence data with its
source. Numbers that are not clinical are listed, file by file with the reason, in `nonclinical_literals.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml

from .literal_scan import python_numbers, scan, template_numbers

ALLOWED = yaml.safe_load((Path(__file__).parent / "nonclinical_literals.yaml").read_text(encoding="utf-8"))


def test_every_number_in_code_and_templates_is_a_listed_non_clinical_one() -> None:
    unlisted = []
    for path, items in scan().items():
        allowed = {str(v) for v in (ALLOWED.get(path) or {}).get("values", [])}
        unlisted += [f"{path}:{line}: {text}" for line, text in items if text not in allowed]
    assert unlisted == [], (
        "A clinical number belongs in the evidence data with a source. If a number below is not clinical, list it "
        "with the reason in tests/nonclinical_literals.yaml (`python tests/literal_scan.py` prints them all):\n"
        + "\n".join(unlisted))


def test_the_list_is_exact_and_says_why() -> None:
    found = {path: {t for _, t in items} for path, items in scan().items()}
    stale = [f"{path}: {v}" for path, entry in ALLOWED.items() for v in entry["values"]
             if str(v) not in found.get(path, set())]
    assert stale == []
    assert all(entry.get("why") for entry in ALLOWED.values())


def test_the_scan_catches_a_clinical_number(tmp_path: Path) -> None:
    """The scanner finds the kinds of literal the issue names (an LSI target in code, a band in a template)."""
    code = tmp_path / "x.py"
    code.write_text('MIN_LSI = 90\n\ndef f(v):\n    """Doc 90 %."""\n'
                    '    return v >= 90, f"at least {v}%", "hold 10 s"\n')
    assert {t for _, t in python_numbers(code)} == {"90", "10 s"}
    page = tmp_path / "x.html"
    page.write_text('<p class="a{{ 3 }}">{% if r.lsi < 90 %}low{% endif %} target 90 % and 2-4 sets</p>')
    assert {t for _, t in template_numbers(page)} == {"3", "90", "90 %", "2-4 sets"}
