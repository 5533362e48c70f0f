"""Faster, friendlier entry: name and date of birth (age derived), the units clinicians use, one force unit per
visit, lever arms remembered, force-only dynamometry accepted, conditions from the vocabulary."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from hipext.store import repo

from .conftest import EXAMPLE_HISTORY, add_patient, csrf_of, example_visit

HHD = "hhd_hip_extension_prone_knee_flexed"


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def _new_patient(world, c, name: str, **extra: str) -> int:
    data = {"csrf_token": c.token, "patient.name": name, "patient.date_of_birth": "1961-03-15",
            "patient.sex": "female", "patient.body_mass_kg": "154", "patient.mass_unit": "lb",
            "patient.height_m": "165", "patient.height_unit": "cm", "patient.activity_level": "recreational",
            "history.involved_side": "left", "history.conditions": "hip osteoarthritis"} | extra
    r = c.post("/patients/new", data=data, follow_redirects=False)
    assert r.status_code == 303, re.findall(r'data-for="([^"]+)">([^<]*)<', r.text)
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_name_date_of_birth_and_units(world, clinician) -> None:
    name = f"Ada Entry {world.backend.name}"
    pid = _new_patient(world, clinician, name)
    with world.session() as s:
        p = repo.get_patient(s, world.clinics["A"]["id"], pid).patient_json
    assert p["body_mass_kg"] == 69.9 and p["height_m"] == 1.65  # 154 lb, 165 cm
    today = world.clock().date()
    assert p["age"] == today.year - 1961 - ((today.month, today.day) < (3, 15))  # derived, not typed
    assert p["id"] == f"{name} 1961-03-15"  # no id to invent
    listing = clinician.get("/patients", params={"q": "ada entry"}).text
    row = listing[listing.index(name):][:600]
    assert "1961-03-15" in row and "hip osteoarthritis" in row  # name, date of birth and diagnosis in the list
    assert name in clinician.get("/patients", params={"q": "1961-03-15"}).text
    # Age follows the evaluation date, not the day it was typed.
    clinician.headers["X-CSRF-Token"] = clinician.token
    visit = {"date": "2026-03-14", "measurements": [{"test": "nprs", "context": "at_rest", "value": 2}]}
    clinician.post(f"/api/patients/{pid}/visits", json=visit)
    assert clinician.get(f"/api/patients/{pid}/evaluation").json()["patient"]["age"] == 64
    late = clinician.get(f"/api/patients/{pid}/evaluation", params={"as_of": "2026-03-15"}).json()
    assert late["patient"]["age"] == 65


def test_errors_are_named_by_the_label_the_clinician_sees(world, clinician) -> None:
    r = clinician.post("/patients/new", data={"csrf_token": clinician.token, "patient.name": "X",
                                              "patient.date_of_birth": "1961-03-15", "patient.sex": "female",
                                              "patient.body_mass_kg": "5", "patient.mass_unit": "kg",
                                              "history.involved_side": "left"})
    assert r.status_code == 422 and "Body mass" in r.text and 'data-for="patient.body_mass_kg"' in r.text


def test_force_only_dynamometry_and_remembered_lever_arms(world, clinician) -> None:
    pid = _new_patient(world, clinician, f"Force Only {world.backend.name}")
    day = dt.date.today()
    form = {"csrf_token": clinician.token, "visit.date": (day - dt.timedelta(days=7)).isoformat(),
            "visit.force_unit": "N", "history.involved_side": "left",
            f"m.{HHD}.left.trial1": "150", f"m.{HHD}.left.trial2": "160", f"m.{HHD}.left.fixation": "belt",
            f"m.{HHD}.right.trial1": "200", f"m.{HHD}.right.lever_arm_m": "0.36", f"m.{HHD}.right.fixation": "belt"}
    r = clinician.post(f"/patients/{pid}/visits/new", data=form, follow_redirects=False)
    assert r.status_code == 303, re.findall(r'data-for="([^"]+)">([^<]*)<', r.text)
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    left = next(x for x in doc["results"] if x["test"] == HHD and x["side"] == "left")
    assert left["torque_nm"] is None and left["unit"] == "N" and left["value"] == 160
    assert any("not available" in n and "lever arm" in n for n in left["notes"])
    assert left["lsi_percent"] == 80.0 and left["lsi_basis"] == "force_n"  # compared by force, said so
    page = clinician.get(f"/patients/{pid}/evaluation").text
    assert "not available" in page
    nxt = clinician.get(f"/patients/{pid}/visits/new").text  # the next visit remembers the lever arm
    assert re.search(rf'name="m.{HHD}.right.lever_arm_m" id="[^"]+" value="0.36"', nxt)
    assert re.search(rf'name="m.{HHD}.left.lever_arm_m" id="[^"]+" value=""', nxt)


def test_conditions_are_offered_from_the_vocabulary(world, clinician) -> None:
    html = clinician.get("/patients/new").text
    options = re.findall(r'<datalist id="condition-terms">(.*?)</datalist>', html, re.S)
    assert options and 'value="acute hamstring strain"' in options[0]
    assert 'list="condition-terms"' in html


def test_problem_summaries_use_the_clinicians_labels_not_internal_paths(world, clinician) -> None:
    pid = _new_patient(world, clinician, f"Labels {world.backend.name}")
    form = {"csrf_token": clinician.token, "visit.date": dt.date.today().isoformat(), "history.involved_side": "left",
            "m.nprs.x.value": "14", f"m.{HHD}.right.trial1": "-5"}
    r = clinician.post(f"/patients/{pid}/visits/new", data=form)
    summary = re.search(r'<div class="errors" role="alert" id="problems">(.*?)</div>', r.text, re.S).group(1)
    assert "Numeric pain rating scale: Pain 0-10" in summary
    assert "(right): Trial 1" in summary
    assert "visits[0]" not in re.sub(r'title="[^"]*"', "", summary)  # the path is only a tooltip
    r = clinician.post("/patients/new", data={"csrf_token": clinician.token, "patient.name": "Y",
                                              "patient.date_of_birth": "1970-01-01", "patient.sex": "x",
                                              "patient.body_mass_kg": "70", "history.involved_side": "left"})
    assert "<strong>Sex</strong>" in r.text


def test_a_visit_is_checked_against_the_whole_record_it_joins(world, clinician) -> None:
    """A baseline entered late (dated before the injury, with a visit after it stored) is a valid record: checked
    alone, the onset looked 'after the latest visit' and the visit was refused. A visit that would make the record
    contradict itself is refused with the problem named, and nothing is stored."""
    today = dt.date.today()
    history = dict(EXAMPLE_HISTORY, onset={"date": (today - dt.timedelta(days=20)).isoformat()})
    pid = add_patient(world, "A", visits=1, history=history)  # the stored visit is 14 days ago, after the onset
    clinician.headers["X-CSRF-Token"] = clinician.token
    baseline = example_visit((today - dt.timedelta(days=60)).isoformat())
    r = clinician.post(f"/api/patients/{pid}/visits", json=baseline)
    assert r.status_code == 201, r.text
    evaluation = clinician.get(f"/api/patients/{pid}/evaluation")
    assert evaluation.status_code == 200
    assert any("onset" in w["message"] for w in evaluation.json()["warnings"])  # to confirm, not to refuse
    twice = example_visit((today - dt.timedelta(days=7)).isoformat())
    twice["measurements"].append(dict(twice["measurements"][0]))
    r = clinician.post(f"/api/patients/{pid}/visits", json=twice)
    assert r.status_code == 422 and "visits[0].measurements" in r.text
    with world.session() as s:
        assert len(repo.get_patient(s, world.clinics["A"]["id"], pid).active_visits) == 2


def test_a_problem_only_the_whole_record_shows_comes_back_on_the_form(world, clinician, monkeypatch) -> None:
    """The store re-checks a visit against the whole record; what it refuses is shown on the form (422, the
    clinician's entries kept), never a server error, and nothing is stored."""
    from hipext.core.errors import Problem
    from hipext.web import services

    pid = add_patient(world, "A", visits=1)
    refused = Problem("visits[0].date", "x", "a date that fits the stored visits")
    monkeypatch.setattr(services, "whole_after", lambda row, **write: (None, None, [refused]))
    form = {"csrf_token": clinician.token, "visit.date": dt.date.today().isoformat(), "visit.force_unit": "N",
            f"m.{HHD}.right.trial1": "200", f"m.{HHD}.right.lever_arm_m": "0.36", f"m.{HHD}.right.fixation": "belt"}
    r = clinician.post(f"/patients/{pid}/visits/new", data=form, follow_redirects=False)
    assert r.status_code == 422 and "a date that fits the stored visits" in r.text and 'value="200"' in r.text
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        assert len(row.active_visits) == 1
        vid = row.active_visits[0].id
    r = clinician.post(f"/patients/{pid}/visits/{vid}/amend", data=dict(form, reason="typo in the date"),
                       follow_redirects=False)
    assert r.status_code == 422 and "a date that fits the stored visits" in r.text
