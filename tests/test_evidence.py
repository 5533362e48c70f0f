"""The evidence base: every clinical number in the shipped data has a resolvable source and a level.

The citation walker reads the RAW YAML of every file under src/hipext/data (all subfolders, so data that
other modules add later is checked too), not the pydantic models, so a number added in a new file or a new
field cannot slip through unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import hipext
import hipext.evidence as evidence

DATA = Path(hipext.__file__).resolve().parent / "data"
LEVELS = {"verified", "secondary", "clinical_default"}

# Keys whose numbers are structure, not clinical claims, so they need no citation. Kept short on purpose:
#  - id, year, *_id: identifiers and publication years;
#  - items, min_answered: questionnaire item counts / item numbers and how many must be answered
#    (the rule itself is cited through missing_rule_level on the record);
#  - age_min, age_max, applies_age_min, applies_age_max: which people a row or record is selected for
#    (the window's evidence level is carried by `applies_level` or the record's level);
#  - confidence_percent: the confidence level (90, 95) that qualifies a cited SEM/MDC, not a finding;
#  - knee_angle_deg, hip_angle_deg: test-position definitions of a protocol (cited by the protocol if at all);
#  - score_min, score_max, item_min, item_max: the response scale of a questionnaire form.
STRUCTURAL_KEYS = {
    "id", "year", "items", "min_answered", "age_min", "age_max", "applies_age_min", "applies_age_max",
    "confidence_percent", "knee_angle_deg", "hip_angle_deg", "score_min", "score_max", "item_min", "item_max",
}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_structural(key: Any) -> bool:
    return isinstance(key, str) and (key in STRUCTURAL_KEYS or key.endswith("_id"))


def _holds_number(v: Any) -> bool:
    """A scalar number, or a list of scalars with a number in it (e.g. allowed item values [0, 4, 7, 10])."""
    if _is_number(v):
        return True
    if isinstance(v, list):
        return any(_holds_number(x) for x in v if not isinstance(x, (dict, list)))
    return False


def _cited(m: dict[Any, Any]) -> tuple[bool, bool]:
    source = m.get("source")
    has_source = isinstance(source, str) and bool(source) or (
        isinstance(source, list) and bool(source) and all(isinstance(s, str) for s in source)
    )
    return has_source, m.get("level") is not None


def uncited_numbers(
    node: Any, path: str = "", has_source: bool = False, has_level: bool = False
) -> list[str]:
    """Paths of mappings holding a clinical number with no `source` and `level` on them or an ancestor."""
    problems: list[str] = []
    if isinstance(node, dict):
        s, lv = _cited(node)
        has_source, has_level = has_source or s, has_level or lv
        numeric = [k for k, v in node.items() if not _is_structural(k) and _holds_number(v)]
        if numeric and not (has_source and has_level):
            missing = " and ".join(w for w, ok in (("source", has_source), ("level", has_level)) if not ok)
            problems.append(f"{path or '<root>'}: number(s) in {sorted(map(str, numeric))} without {missing}")
        for k, v in node.items():
            if _is_structural(k):
                continue
            problems += uncited_numbers(v, f"{path}.{k}" if path else str(k), has_source, has_level)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            label = v.get("id") if isinstance(v, dict) and isinstance(v.get("id"), str) else i
            problems += uncited_numbers(v, f"{path}[{label}]", has_source, has_level)
    return problems


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) in a YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            yield p, k, v
            yield from _walk(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _data_files() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _load(p: Path) -> Any:
    with p.open("rb") as fh:
        return yaml.safe_load(fh)


def _bibliography_ids() -> set[str]:
    ids: set[str] = set()
    for p in sorted((DATA / "evidence").glob("bibliography*.yaml")):
        ids |= {r["id"] for r in _load(p) or []}
    return ids


DATA_FILES = _data_files()


@pytest.fixture(scope="module")
def ev() -> evidence.Evidence:
    return evidence.load()


# --- (a) everything loads -------------------------------------------------------------------------


def test_evidence_loads(ev: evidence.Evidence) -> None:
    assert ev.references and ev.protocols and ev.measurement_error and ev.norms and ev.mcids and ev.proms
    for name in ("bibliography", "measurement_error", "norms", "mcid", "prom_scoring"):
        assert (DATA / "evidence" / f"{name}.yaml").is_file()


def test_record_ids_are_unique(ev: evidence.Evidence) -> None:
    for records in (ev.measurement_error, ev.norms, ev.mcids):
        ids = [r.id for r in records]
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


# --- (b) every number is cited --------------------------------------------------------------------


def test_data_files_found() -> None:
    names = {p.relative_to(DATA).as_posix() for p in DATA_FILES}
    assert {"evidence/protocols.yaml", "evidence/norms.yaml", "evidence/bibliography.yaml"} <= names


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.relative_to(DATA).as_posix())
def test_every_number_has_source_and_level(path: Path) -> None:
    problems = uncited_numbers(_load(path))
    assert not problems, f"{path.relative_to(DATA)}:\n" + "\n".join(problems)


def test_walker_reports_an_uncited_number() -> None:
    data = [
        {"id": "cited", "source": "keep2016", "level": "verified", "mdc": 14.8,
         "rows": [{"low": 1, "high": 2}]},
        {"id": "uncited", "mdc": 99.9},
        {"id": "half_cited", "source": "keep2016", "sem": 1.0},
        {"id": "nested", "thresholds": {"deep": {"value": 3}}},
        {"id": "in_list", "allowed": [0, 4, 7]},
    ]
    problems = uncited_numbers(data)
    assert len(problems) == 4, problems
    joined = "\n".join(problems)
    for bad in ("[uncited]", "[half_cited]", "thresholds.deep", "[in_list]"):
        assert bad in joined
    assert "[cited]" not in joined
    assert "without level" in joined and "without source and level" in joined


def test_walker_ignores_structural_numbers_and_bools() -> None:
    data = [{"id": "p", "items": 20, "year": 1999, "knee_angle_deg": 90, "bilateral": True, "ref_id": 3}]
    assert uncited_numbers(data) == []


def test_walker_rejects_empty_source() -> None:
    assert uncited_numbers([{"id": "x", "source": "", "level": "verified", "mdc": 1}])


# --- (c) every source resolves, every level is known ----------------------------------------------


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.relative_to(DATA).as_posix())
def test_sources_resolve_and_levels_are_known(path: Path) -> None:
    bib = _bibliography_ids()
    problems = []
    for p, key, value in _walk(_load(path)):
        if not isinstance(key, str):
            continue
        if key == "source" or key.endswith("_source"):
            for s in value if isinstance(value, list) else [value]:
                if s is not None and s not in bib:
                    problems.append(f"{p}: source {s!r} is not in any bibliography*.yaml")
        if key == "level" or key.endswith("_level"):
            if value is not None and value not in LEVELS:
                problems.append(f"{p}: level {value!r} is not one of {sorted(LEVELS)}")
    assert not problems, "\n".join(problems)


def test_bibliography_ids_unique_and_lowercase() -> None:
    seen: dict[str, str] = {}
    for p in sorted((DATA / "evidence").glob("bibliography*.yaml")):
        for r in _load(p) or []:
            assert r["id"] == r["id"].lower(), r["id"]
            assert r["id"] not in seen, f"{r['id']} in both {seen.get(r['id'])} and {p.name}"
            seen[r["id"]] = p.name


def test_records_point_at_known_protocols(ev: evidence.Evidence) -> None:
    known = set(ev.protocols)
    for m in ev.measurement_error:
        assert set(m.protocols) <= known, m.id
    for n in ev.norms:
        assert n.test in known or n.test == "hhd_hip_extension_any", n.id
    for c in ev.mcids:
        assert c.instrument in known, c.id


def test_clinical_defaults_say_why(ev: evidence.Evidence) -> None:
    for n in ev.norms:
        if "clinical_default" in (n.level, n.applies_level):
            assert n.note, n.id
    for r in [*ev.measurement_error, *ev.mcids]:
        if r.level == "clinical_default":
            assert r.note, r.id
    for rule in ev.proms.values():
        if rule.missing_rule_level == "clinical_default":
            assert "no" in rule.missing_rule.lower() and "found" in rule.missing_rule.lower(), rule.id


# --- (d) spot checks a clinician would notice -----------------------------------------------------


def _me(ev: evidence.Evidence, rid: str) -> evidence.MeasurementError:
    return next(m for m in ev.measurement_error if m.id == rid)


def _norm(ev: evidence.Evidence, nid: str) -> evidence.Norm:
    return next(n for n in ev.norms if n.id == nid)


def test_keep2016_hhd_mdc(ev: evidence.Evidence) -> None:
    rec = _me(ev, "keep2016_hhd_prone_standing")
    assert (rec.mdc, rec.quantity, rec.source, rec.level) == (14.8, "torque_nm", "keep2016", "verified")
    assert rec.protocols == ["hhd_hip_extension_prone_standing"]
    assert _me(ev, "keep2016_isokinetic_supine").mdc == 41.5
    assert _me(ev, "keep2016_isokinetic_prone_standing").mdc == 25.6


def test_thorborg_belt_mdc_percent_needs_belt(ev: evidence.Evidence) -> None:
    rec = _me(ev, "thorborg2013_hhd_belt")
    assert (rec.mdc_percent_low, rec.mdc_percent_high) == (14, 29)
    assert rec.applies_when == {"fixation": "belt"}


def test_functional_test_errors(ev: evidence.Evidence) -> None:
    g = _me(ev, "goldberg2012_5xsts")
    assert (g.sem, g.mdc, g.confidence_percent) == (0.9, 2.5, 95)
    assert _me(ev, "gill2022_chair_stand_30s").mdc == 2.5
    sct = _me(ev, "sct11_stopwatch")
    assert sct.mdc == 0.102 and sct.applies_when == {"steps": "11"}
    lefs = _me(ev, "binkley1999_lefs")
    assert (lefs.mdc, lefs.confidence_percent) == (9, 90)


def test_chair_stand_women_60_64(ev: evidence.Evidence) -> None:
    norm = _norm(ev, "chair_stand_30s_rikli_jones")
    assert norm.kind == "range" and norm.level == "secondary"
    row = next(r for r in norm.rows if r.sex == "female" and r.age_min == 60)
    assert (row.age_max, row.low, row.high) == (64, 12, 17)
    assert len(norm.rows) == 14
    assert norm.caveat and "13-18" in norm.caveat and "8-13" in norm.caveat  # the disputed cells are flagged


def test_five_sts_cutoffs(ev: evidence.Evidence) -> None:
    norm = _norm(ev, "five_sts_bohannon2006")
    assert norm.kind == "cutoff_high"
    assert [(r.age_min, r.low) for r in norm.rows] == [(60, 11.4), (70, 12.6), (80, 14.8)]
    assert _norm(ev, "five_sts_klukowska2021").applies_level == "clinical_default"


def test_senior_cutoff_applies_to_any_hhd(ev: evidence.Evidence) -> None:
    norm = _norm(ev, "hhd_hip_extension_senior_low_strength")
    assert (norm.test, norm.kind, norm.quantity, norm.rows[0].high) == (
        "hhd_hip_extension_any", "cutoff_low", "force_n_per_kg", 0.79)
    assert norm.applies_age_min == 65 and norm.applies_level == "clinical_default"


def test_bands_are_ordered_and_contiguous(ev: evidence.Evidence) -> None:
    for norm in ev.norms:
        if norm.kind != "bands":
            continue
        groups: dict[tuple[Any, Any, Any], list[evidence.NormRow]] = {}
        for r in norm.rows:
            assert r.label, norm.id
            groups.setdefault((r.sex, r.age_min, r.age_max), []).append(r)
        for rows in groups.values():
            ordered = sorted(rows, key=lambda r: -1e9 if r.low is None else r.low)
            assert ordered[0].low is None and ordered[-1].high is None, norm.id
            for a, b in zip(ordered, ordered[1:], strict=False):
                assert a.high == b.low, norm.id


def test_mcids(ev: evidence.Evidence) -> None:
    by_id = {m.id: m for m in ev.mcids}
    assert (by_id["nprs_farrar2001"].value, by_id["nprs_farrar2001"].percent) == (2, 30)
    assert by_id["lefs_binkley1999"].value == 9
    assert by_id["ihot12_mcid"].value == 13 and by_id["ihot12_scb"].value == 28
    assert by_id["stair_climb_9step_mic"].kind == "mic" and by_id["stair_climb_9step_mic"].value == 2.3
    # The first record per instrument is the one a change is judged against: keep the primary source first.
    first = {}
    for m in ev.mcids:
        first.setdefault(m.instrument, m.id)
    assert first["nprs"] == "nprs_farrar2001" and first["lefs"] == "lefs_binkley1999"
    assert first["ihot12"] == "ihot12_mcid"
    # Not retrieved, so not encoded.
    assert not {m.instrument for m in ev.mcids} & {"hoos", "hoos12", "visa_h"}


def test_every_questionnaire_protocol_has_scoring(ev: evidence.Evidence) -> None:
    for p in ev.protocols.values():
        if p.instrument:
            assert p.instrument in ev.proms, p.id


def test_prom_scoring_shapes(ev: evidence.Evidence) -> None:
    lefs = ev.proms["lefs"]
    assert (lefs.items, lefs.score_max, lefs.method, len(lefs.item_labels)) == (20, 80, "sum", 20)
    assert lefs.item_labels[20] == "Rolling over in bed"
    hoos = ev.proms["hoos"]
    assert [(s.name, len(s.items), s.min_answered) for s in hoos.subscales] == [
        ("Symptoms", 5, 3), ("Pain", 10, 5), ("ADL", 17, 9), ("Sport/Rec", 4, 2), ("QOL", 4, 2)]
    assert sorted(i for s in hoos.subscales for i in s.items) == list(range(1, 41))
    assert set(hoos.reference_values) == {s.name for s in hoos.subscales}
    assert hoos.reference_values["Pain"] == 86.9 and hoos.reference_source == "hoos_danish_reference"
    hoos12 = ev.proms["hoos12"]
    assert sorted(i for s in hoos12.subscales for i in s.items) == list(range(1, 13))
    visa = ev.proms["visa_h"]
    assert visa.item_max_overrides == {8: 30} and visa.item_allowed_values == {7: [0, 4, 7, 10]}
    # Item maxima add up to the published score maximum.
    assert sum(visa.item_max_overrides.get(i, visa.item_max) for i in range(1, 9)) == visa.score_max
    assert lefs.item_max * lefs.items == lefs.score_max
