"""The clinician's program edits: one pure care function (`apply`) feeds the page, the handout, the home program,
the API and FHIR; exercises come from a picker over the library; dose values are typed; engine changes show up as
stale edits to choose about, never as silent loss."""

from __future__ import annotations

import re

import pytest

from hipext.care import data as care_data
from hipext.store import repo

from .conftest import add_patient, csrf_of


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    c.headers["X-CSRF-Token"] = c.token
    return c


def _edit(c, pid: int, exercise: str, field: str, value: str, reason: str = "clinical judgement"):
    data = {"csrf_token": c.token, "exercise_id": exercise, "field": field, "new_value": value, "reason": reason}
    return c.post(f"/patients/{pid}/program/overrides", data=data, follow_redirects=False)


def test_doses_are_typed_and_ids_come_from_the_library(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    first = clinician.get(f"/api/patients/{pid}/evaluation").json()["program"]["exercises"][0]["exercise"]
    r = _edit(clinician, pid, first, "sets", "ten")
    assert r.status_code == 422 and "sets: a whole number of 1 or more (got &#39;ten&#39;)" in r.text
    r = _edit(clinician, pid, "single_leg_brdge", "include", "yes")  # a typo is not a phantom exercise
    assert r.status_code == 422 and "an exercise from the list" in r.text
    r = _edit(clinician, pid, first, "colour", "red")
    assert r.status_code == 422 and "what to change, from the list" in r.text
    with world.session() as s:
        assert repo.overrides(s, world.clinics["A"]["id"], pid) == []


def test_an_added_exercise_and_a_dose_reach_every_output(world, clinician) -> None:
    history = {"involved_side": "right", "conditions": ["acute_hamstring_strain"]}
    pid = add_patient(world, "A", visits=1, history=history)
    ev = clinician.get(f"/api/patients/{pid}/evaluation").json()
    blocked = set(ev["screening"]["blocked_exercises"])
    in_program = {e["exercise"] for e in ev["program"]["exercises"]}
    page = clinician.get(f"/patients/{pid}/program").text
    for b in blocked:  # shown in the picker, disabled, with the reason
        assert re.search(rf'<option value="{b}" disabled>[^<]*not allowed: [^<]+</option>', page), b
    extra = next(x for x in sorted(care_data.exercises()) if x not in blocked and x not in in_program
                 and f'<option value="{x}">' in page)
    first = ev["program"]["exercises"][0]["exercise"]
    assert _edit(clinician, pid, extra, "include", "yes", "patient likes it").status_code == 303
    assert _edit(clinician, pid, first, "sets", "2", "sore after the first session").status_code == 303
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    program = {e["exercise"]: e for e in doc["program"]["exercises"]}
    assert extra in program and "Added by the clinician: patient likes it" in program[extra]["rationale"]
    assert str(program[first]["dose"]["sets"]) == "2"
    assert {e["state"] for e in doc["clinician_edits"]} == {"applied"}
    name = care_data.exercises()[extra].name
    handout = clinician.get(f"/patients/{pid}/handout").text
    assert name in handout and "2 sets of" in handout
    link = clinician.post(f"/patients/{pid}/links", data={"csrf_token": clinician.token}).text
    home = clinician.get(re.search(r'id="patient-link" href="([^"]+)"', link).group(1)).text
    assert name in home
    fhir = clinician.get(f"/api/patients/{pid}/fhir").text
    assert extra in fhir or name in fhir


def test_an_edit_the_engine_has_since_changed_is_shown_stale_and_chosen(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    first = clinician.get(f"/api/patients/{pid}/evaluation").json()["program"]["exercises"][0]
    with world.session() as s:  # an edit made when the engine said something else
        row = repo.get_patient(s, world.clinics["A"]["id"], pid)
        user = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"])
        repo.add_override(s, row, exercise_id=first["exercise"], field="sets", old_value="99", new_value="1",
                          reason="very sore", user_id=user.id)
        s.commit()
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    stale = [e for e in doc["clinician_edits"] if e["state"] == "stale"]
    assert stale and str(doc["program"]["exercises"][0]["dose"]["sets"]) == str(first["dose"]["sets"])
    page = clinician.get(f"/patients/{pid}/program").text
    assert 'id="stale"' in page and "very sore" in page and "Keep mine (1)" in page
    r = clinician.post(f"/patients/{pid}/program/overrides", data={
        "csrf_token": clinician.token, "exercise_id": first["exercise"], "field": "sets", "new_value": "1",
        "reason": "kept after the engine changed it: very sore"}, follow_redirects=False)
    assert r.status_code == 303
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    assert str(doc["program"]["exercises"][0]["dose"]["sets"]) == "1"
    assert all(e["state"] == "applied" for e in doc["clinician_edits"])


def test_a_patient_loaded_without_edits_sees_an_edit_added_in_the_same_session(world) -> None:
    pid = add_patient(world, "A", visits=1)
    cid = world.clinics["A"]["id"]
    with world.session() as s:
        user_id = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"]).id
        row = repo.get_patient(s, cid, pid)
        assert row.has_program_edits is False and repo.program_edits(s, row) == []  # no query for none
        o = repo.add_override(s, row, exercise_id="bridge", field="sets", old_value="3", new_value="4",
                              reason="clinical judgement", user_id=user_id)
        assert [e.id for e in repo.program_edits(s, row)] == [o.id]
        s.rollback()
