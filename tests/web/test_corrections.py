"""Correctable records: a visit or the patient block is amended with a required reason, every version is kept and
shown, evaluations follow the corrected record, and an entered-in-error visit is voided (kept, excluded, audited)."""

from __future__ import annotations

import re

import pytest

from hipext.store import repo

from .conftest import add_patient, csrf_of

HHD = "hhd_hip_extension_prone_knee_flexed"


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def _evaluation(c, pid: int) -> dict:
    return c.get(f"/api/patients/{pid}/evaluation").json()


def _hhd(doc: dict, side: str) -> dict:
    return next(r for r in doc["results"] if r["test"] == HHD and r["side"] == side and r["date"] == doc["as_of"])


def _form_of(html: str) -> dict[str, str]:
    """The amend form's fields as the browser would post them (text inputs, selected options, checked boxes)."""
    data = dict(re.findall(r'<input type="(?:text|number|date)" name="([^"]+)" id="[^"]*" value="([^"]*)"', html))
    data |= dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        if chosen:
            data[name] = chosen.group(1)
    return data


def test_a_tenfold_typo_is_corrected_with_a_reason_and_every_version_kept(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    with world.session() as s:
        vid = repo.get_patient(s, world.clinics["A"]["id"], pid).visits[0].id
    before = _hhd(_evaluation(clinician, pid), "right")
    form = _form_of(clinician.get(f"/patients/{pid}/visits/{vid}/amend").text)
    assert form[f"m.{HHD}.right.trial1"] == "180" and form[f"m.{HHD}.right.lever_arm_m"] == "0.38"
    form[f"m.{HHD}.right.trial1"] = "1800"  # the typo an amendment must be able to undo, and here makes first
    form["csrf_token"] = clinician.token
    url = f"/patients/{pid}/visits/{vid}/amend"
    # No reason: refused, nothing stored, the reason field says why.
    r = clinician.post(url, data=form)
    assert r.status_code == 422 and 'data-for="reason"' in r.text
    assert _hhd(_evaluation(clinician, pid), "right")["force_n"] == before["force_n"]
    r = clinician.post(url, data=form | {"reason": "trial typed in the wrong box"})
    # A trial ten times the others is possible but unusual: confirmed first, nothing stored until then.
    assert r.status_code == 422 and 'name="confirm_warnings"' in r.text
    assert _hhd(_evaluation(clinician, pid), "right")["force_n"] == before["force_n"]
    token = re.search(r'name="confirm_token" value="([^"]+)"', r.text).group(1)
    r = clinician.post(url, data=form | {"reason": "trial typed in the wrong box", "confirm_warnings": "yes",
                                         "confirm_token": token})
    assert r.status_code == 200
    after = _hhd(_evaluation(clinician, pid), "right")
    assert after["force_n"] == 1800 and after["force_n"] != before["force_n"]  # the evaluation follows
    form[f"m.{HHD}.right.trial1"] = "180"
    clinician.post(url, data=form | {"reason": "back to what was measured"})
    assert _hhd(_evaluation(clinician, pid), "right")["force_n"] == before["force_n"]
    page = clinician.get(f"/patients/{pid}/visits/{vid}").text
    assert "trial typed in the wrong box" in page and "back to what was measured" in page
    with world.session() as s:
        versions = [v for v in repo.visit_versions(s, world.clinics["A"]["id"], pid) if v.visit_id == vid]
    assert [v.reason for v in versions] == [None, "trial typed in the wrong box", "back to what was measured"]
    right = [m for m in versions[1].data_json["measurements"] if m["test"] == HHD and m["side"] == "right"]
    assert right[0]["trials_n"][0] == 1800  # every version kept as it was
    timeline = clinician.get(f"/patients/{pid}").text
    assert "trial typed in the wrong box" in timeline
    assert clinician.get(f"/admin/audit?patient_id={pid}").status_code == 403  # clinicians do not read the log
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)]
    assert actions.count("visit.amend") == 4  # two refused (no reason; not yet confirmed), two kept
    assert actions.count("values.confirmed") == 1


def test_a_visit_dated_in_the_future_is_voided_kept_and_excluded(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    wrong = {"date": "2031-05-01", "measurements": [{"test": "single_leg_bridge", "side": "right", "reps": 2}]}
    clinician.headers["X-CSRF-Token"] = clinician.token
    vid = clinician.post(f"/api/patients/{pid}/visits", json=wrong).json()["id"]
    assert _evaluation(clinician, pid)["as_of"] == "2031-05-01"  # the typo drives the evaluation...
    url = f"/patients/{pid}/visits/{vid}/void"
    r = clinician.post(url, data={"csrf_token": clinician.token, "reason": ""})
    assert r.status_code == 422 and _evaluation(clinician, pid)["as_of"] == "2031-05-01"
    r = clinician.post(url, data={"csrf_token": clinician.token, "reason": "year typed wrong, entered again"})
    assert r.status_code == 200
    doc = _evaluation(clinician, pid)
    assert doc["as_of"] != "2031-05-01" and all(res["date"] != "2031-05-01" for res in doc["results"])  # ...no more
    page = clinician.get(f"/patients/{pid}/visits/{vid}").text
    assert "Voided (entered in error)" in page and "year typed wrong" in page and "Amend this visit" not in page
    assert "voided" in clinician.get(f"/patients/{pid}").text
    assert "2031-05-01" not in clinician.get(f"/api/patients/{pid}/case").text
    assert clinician.post(url, data={"csrf_token": clinician.token, "reason": "again"}).status_code == 422


def test_patient_details_are_corrected_with_a_reason(world, clinician) -> None:
    pid = add_patient(world, "A", visits=1)
    url = f"/patients/{pid}/edit"
    page = clinician.get(url).text
    assert 'name="patient.body_mass_kg"' in page and 'value="78"' in page
    data = {"csrf_token": clinician.token, "patient.id": f"EDIT-{world.backend.name}", "patient.age": "34",
            "patient.sex": "male", "patient.body_mass_kg": "780", "patient.activity_level": "competitive_sport"}
    r = clinician.post(url, data=data)  # no reason, and an implausible mass: both named
    assert r.status_code == 422 and 'data-for="reason"' in r.text and 'data-for="patient.body_mass_kg"' in r.text
    r = clinician.post(url, data=data | {"patient.body_mass_kg": "87", "reason": "78 was last year's weight"})
    assert r.status_code == 200 and "78 was last year" in r.text
    assert _evaluation(clinician, pid)["patient"]["body_mass_kg"] == 87
    with world.session() as s:
        versions = repo.patient_versions(s, world.clinics["A"]["id"], pid)
    assert [v.patient_json["body_mass_kg"] for v in versions] == [78, 87]


def test_read_only_users_cannot_correct_or_void(world) -> None:
    c = world.login(world.clinics["A"]["users"]["read_only"])
    token = csrf_of(c)
    pid = add_patient(world, "A", visits=1)
    with world.session() as s:
        vid = repo.get_patient(s, world.clinics["A"]["id"], pid).visits[0].id
    for url in (f"/patients/{pid}/visits/{vid}/void", f"/patients/{pid}/visits/{vid}/amend", f"/patients/{pid}/edit"):
        assert c.post(url, data={"csrf_token": token, "reason": "because"}).status_code == 403
