"""The care data files: every number cited with a level, every source resolvable, the library complete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hipext.care import data
from hipext.care.cli import exercises_command
from hipext.evidence import bibliography_files, data_dir, read_yaml

CARE_FILES = sorted(p.name for p in (data_dir() / "care").iterdir() if p.name.endswith(".yaml"))
LEVELS = {"verified", "secondary", "clinical_default"}


def _bibliography_ids() -> set[str]:
    ids: set[str] = set()
    for name in bibliography_files():
        ids |= {r["id"] for r in read_yaml(name) or []}
    return ids


def _walk(x: Any, cited: bool, path: str, out: list[str]) -> None:
    if isinstance(x, dict):
        here = cited or ("source" in x and "level" in x)
        if not here and any(isinstance(v, (int, float)) for v in x.values()):
            out.append(path)
        for k, v in x.items():
            _walk(v, here, f"{path}.{k}", out)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            if isinstance(v, (int, float)) and not cited:
                out.append(f"{path}[{i}]")
            _walk(v, cited, f"{path}[{i}]", out)


@pytest.mark.parametrize("name", CARE_FILES)
def test_every_number_has_a_source_and_level(name: str) -> None:
    uncited: list[str] = []
    _walk(read_yaml(f"care/{name}"), False, name, uncited)
    assert uncited == []


@pytest.mark.parametrize("name", CARE_FILES)
def test_every_source_resolves_and_every_level_is_known(name: str) -> None:
    ids = _bibliography_ids()
    bad: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "source" and v not in ids:
                    bad.append(str(v))
                if k == "sources":
                    bad.extend(s for s in v if s not in ids)
                if k == "level":
                    assert v in LEVELS, v
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(read_yaml(f"care/{name}"))
    assert bad == []


def test_care_bibliography_ids_are_prefixed_and_unique() -> None:
    refs = read_yaml("evidence/bibliography_care.yaml")
    ids = [r["id"] for r in refs]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("care_") for i in ids)


def test_library_has_forty_exercises_covering_every_axis() -> None:
    lib = data.exercises()
    assert len(lib) >= 40
    axes = {"target": {"gluteus_maximus", "hamstrings", "both", "gluteus_medius", "secondary"},
            "chain": {"open", "closed"},
            "contraction": {"isometric", "concentric", "eccentric", "mixed"}, "knee": {"flexed", "extended"},
            "quality": {"strength", "endurance", "power"}}
    for axis, values in axes.items():
        assert {getattr(e.tags, axis) for e in lib.values()} == values, axis
    families = {e.family for e in lib.values()}
    for fam in ("bridge", "hip_thrust", "step_up", "split_squat", "sit_to_stand", "deadlift", "nordic", "sprint",
                "plyometric", "prone_hip_extension", "gluteal_isometric", "abduction_isometric",
                "abduction_side_lying", "abduction_standing", "side_plank"):
        assert fam in families, fam


def test_emg_values_are_only_the_published_ones() -> None:
    published = {("care_macadam2019", 54.2), ("care_macadam2019", 86), ("care_macadam2019", 106.2),
                 ("care_neto2020", 75.41), ("care_neto2020", 125.09), ("care_neto2020", 70), ("care_neto2020", 66.5),
                 ("care_neto2020", 71.34), ("care_neto2020", 61.02), ("care_neto2020", 53.10),
                 ("care_neto2020", 40.54), ("care_mccurdy2018", 65.6), ("care_mccurdy2018", 40.1),
                 ("care_mccurdy2018", 40.5), ("care_mccurdy2018", 29.9), ("care_mccurdy2018", 24.4),
                 ("care_macaskill2014", 28.7), ("care_macaskill2014", 31), ("care_macaskill2014", 100.7),
                 ("care_ijspt2014_commentary", 25), ("care_ijspt2014_commentary", 59),
                 ("care_ijspt2014_commentary", 56), ("care_boren2011", 81), ("care_macaskill2014", 99.9),
                 ("care_ijspt2014_commentary", 33)}
    seen = {(e.source, e.percent_mvic) for ex in data.exercises().values() for e in ex.emg
            if e.percent_mvic is not None}
    assert seen <= published


NEW_AXES = ("hip_extension_max_deg", "hip_external_rotation_max_deg", "positions", "abductor_load",
            "ischial_compression", "lateral_hip_compression", "single_leg_stance")


def test_every_exercise_and_test_states_every_new_demand_axis() -> None:
    """A task that does not state an axis cannot be filtered on it, so the axis is required, not defaulted."""
    from pydantic import ValidationError

    from hipext.care.models import Demands

    rows = [r["demands"] for r in read_yaml("care/exercises.yaml")]
    rows += [t["demands"] for t in read_yaml("care/test_demands.yaml")["tests"]]
    assert all(set(NEW_AXES) <= set(r) for r in rows)
    full = dict(rows[0])
    for axis in NEW_AXES:
        with pytest.raises(ValidationError):
            Demands(**{k: v for k, v in full.items() if k != axis})


def test_lateral_hip_exercises_are_tagged_and_chained() -> None:
    lib = data.exercises()
    lateral = [e for e in lib.values() if e.tags.target == "gluteus_medius"]
    assert len(lateral) >= 6
    assert {e.tags.contraction for e in lateral} >= {"isometric", "concentric"}
    assert any(e.demands.lateral_hip_compression == "none" and "protect" in e.phases for e in lateral)
    assert all(e.demands.abductor_load == "resisted" and e.demands.resisted is False for e in lateral)


def test_progression_ladders_stay_in_the_library() -> None:
    lib = data.exercises()
    for ex in lib.values():
        assert ex.regression != ex.id and ex.progression != ex.id


def test_every_protocol_has_declared_demands_or_is_nonphysical() -> None:
    from hipext import evidence

    known = set(data.test_demands()) | data.nonphysical_tests()
    assert set(evidence.load().protocols) <= known


def test_exercises_command_lists_the_library_as_table_and_json() -> None:
    table = exercises_command("table")
    assert "single_leg_bridge" in table and "54.2 (care_macadam2019)" in table
    items = json.loads(exercises_command("json"))
    assert len(items) == len(data.exercises())
    assert {"id", "name", "tags", "demands", "regression", "progression", "emg", "cues", "compensations"} <= set(
        items[0])
    with pytest.raises(ValueError):
        exercises_command("xml")


def test_register_adds_the_exercises_command() -> None:
    import typer
    from typer.testing import CliRunner

    from hipext.care.cli import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps Typer in multi-command mode
        pass

    res = CliRunner().invoke(app, ["exercises", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["id"] == "gluteal_set"
    res = CliRunner().invoke(app, ["exercises", "--format", "xml"])
    assert res.exit_code == 2


def test_wording_considers_and_never_diagnoses() -> None:
    texts: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, str):
            texts.append(x.lower())

    for name in ("screening_rules", "aftercare", "education", "precautions"):
        walk(read_yaml(f"care/{name}.yaml"))
    assert all(t.count("diagnos") == t.count("not a diagnosis") for t in texts)
    considerations = read_yaml("care/aftercare.yaml")["considerations"]
    assert all(c["consider"].startswith("Consider") for c in considerations)


def test_every_screening_question_has_plain_wording() -> None:
    """Each red-flag key a rule reads is asked in plain words (forms and exports read them), and no wording is stale."""
    from hipext.care import data as care_data

    assert set(care_data.red_flag_text()) == set(care_data.red_flag_questions())
    assert all(q.strip().endswith("?") for q in care_data.red_flag_text().values())


def test_every_rule_source_resolves_and_stops_only_known_considerations() -> None:
    from hipext import evidence
    from hipext.care import data as care_data

    refs = evidence.load().references
    considerations = {c["id"] for c in care_data.aftercare()["considerations"]}
    for rule in care_data.rules():
        cited = [*rule["sources"], rule["source"]] + [t["source"] for t in rule["triggers"] if "source" in t]
        assert not [s for s in cited if s not in refs], rule["id"]
        assert set(rule.get("stops", [])) <= considerations, rule["id"]
        assert rule["level"] in ("verified", "secondary", "clinical_default")
    for rec in care_data.precautions().values():
        assert rec["source"] in refs
