"""Questionnaires the patient completes through their link: same items and validation as the clinic's form, every
missing answer named, scored by the published rules once they land in the visit."""

from __future__ import annotations

import re

import pytest

from hipext.store import repo

from .conftest import add_patient, csrf_of


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def _link(world, clinician, pid: int, questionnaires: tuple[str, ...] = ("lefs", "psfs")) -> str:
    data = {"csrf_token": clinician.token, "questionnaires": list(questionnaires)}
    page = clinician.post(f"/patients/{pid}/links", data=data).text
    return re.search(r'id="patient-link" href="(?:https?://[^/]+)?(/p/[^"]+)"', page).group(1)


def test_a_patient_completed_lefs_lands_in_the_visit_and_is_scored(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    link = _link(world, clinician, pid)
    patient = world.client()
    home = patient.get(link).text
    assert f'href="{link}/q/lefs"' in home and f'href="{link}/q/psfs"' in home
    assert f'href="{link}/q/visa_h"' not in home  # only those the clinician assigned
    assert patient.get(f"{link}/q/visa_h").status_code == 404
    form = patient.get(f"{link}/q/lefs").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert "Any of your usual work, housework, or school activities" in form
    half = {f"m.lefs.x.item{i}": "3" for i in range(1, 12)}  # 11 of 20: not scorable, so not accepted
    r = patient.post(f"{link}/q/lefs", data={"csrf_token": token} | half)
    assert r.status_code == 422 and "not answered: items 12, 13" in r.text
    with world.session() as s:
        assert repo.questionnaire_responses(s, world.clinics["A"]["id"], pid) == []
    r = patient.post(f"{link}/q/lefs", data={"csrf_token": token} | {f"m.lefs.x.item{i}": "3" for i in range(1, 21)},
                     follow_redirects=False)
    assert r.status_code == 303
    visit_form = clinician.get(f"/patients/{pid}/visits/new").text
    assert 'id="from-patient"' in visit_form and "LEFS" in visit_form
    assert re.search(r'name="m.lefs.x.item20" id="[^"]+" value="3"', visit_form)
    data = {k: v for k, v in re.findall(r'<input type="(?:number|text|date)" name="([^"]+)" id="[^"]*" value="([^"]+)"',
                                          visit_form)}
    data |= {"csrf_token": clinician.token, "history.involved_side": "right"}
    r = clinician.post(f"/patients/{pid}/visits/new", data=data, follow_redirects=False)
    assert r.status_code == 303, re.findall(r'data-for="([^"]+)">([^<]*)<', r.text)
    doc = clinician.get(f"/api/patients/{pid}/evaluation").json()
    lefs = next(x for x in doc["results"] if x["test"] == "lefs")
    assert lefs["value"] == 60 and lefs["unit"] == "points"  # 20 items x 3, the published sum


def test_a_questionnaire_needs_a_valid_link_and_its_csrf_token(world, clinician) -> None:
    pid = add_patient(world, "A", visits=0)
    link = _link(world, clinician, pid)
    patient = world.client()
    assert patient.get("/p/not-a-token/q/lefs").status_code == 404
    assert patient.get(f"{link}/q/no_such_questionnaire").status_code == 404
    assert patient.post(f"{link}/q/lefs", data={"m.lefs.x.item1": "3"}).status_code == 403
