"""Each clinic's data is invisible to every other clinic: 404 on every route, HTML and API."""

from __future__ import annotations

import pytest

from hipext.store import repo

from .conftest import add_patient, csrf_of

HTML_GET = ["", "/visits/new", "/evaluation", "/program", "/handout"]
API_GET = ["", "/case", "/evaluation", "/fhir"]


@pytest.fixture()
def b_patient(world) -> int:
    pid = add_patient(world, "B", visits=2)
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["B"]["id"], pid)
        user = repo.user_by_username(s, world.clinics["B"]["users"]["clinician"])
        link = repo.create_link(
            s,
            row,
            "b-link-token-for-isolation-test-" + str(pid),
            user_id=user.id,
            now=world.clock(),
            lifetime=__import__("datetime").timedelta(days=7),
        )
        s.commit()
        return pid, link.id


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_other_clinic_gets_404_everywhere(world, b_patient, role) -> None:
    pid, link_id = b_patient
    c = world.login(world.clinics["A"]["users"][role])
    token = csrf_of(c)
    with world.session() as s:
        vid = repo.get_patient(s, world.clinics["B"]["id"], pid).visits[0].id
    for sub in [*HTML_GET, f"/visits/{vid}"]:
        r = c.get(f"/patients/{pid}{sub}")
        assert r.status_code == 404, (sub, r.status_code)
        assert "DEMO" not in r.text and "P-" not in r.text
    posts = {
        "/visits/new": {"visit.date": "2026-01-05"},
        "/program/overrides": {"exercise_id": "x", "field": "sets", "new_value": "3", "reason": "test"},
        "/links": {},
        f"/links/{link_id}/revoke": {},
    }
    for sub, data in posts.items():
        r = c.post(f"/patients/{pid}{sub}", data=dict(data, csrf_token=token))
        assert r.status_code == 404, (sub, r.status_code)
    for sub in API_GET:
        assert c.get(f"/api/patients/{pid}{sub}").status_code == 404, sub
    r = c.post(f"/api/patients/{pid}/visits", json={"date": "2026-01-05"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404
    with world.session() as s:
        row = repo.get_patient(s, world.clinics["B"]["id"], pid)
        assert len(row.visits) == 2  # nothing written
        probes = [e for e in repo.audit_events(s, world.clinics["A"]["id"]) if e.action == "access.not_found"]
        assert any(f"/patients/{pid}/evaluation" in (e.detail or "") for e in probes)  # the attempt is on record
        assert all(lk.revoked_at is None for lk in repo.links(s, world.clinics["B"]["id"], pid))
        assert repo.overrides(s, world.clinics["B"]["id"], pid) == []


def test_lists_search_and_audit_are_per_clinic(world, b_patient) -> None:
    pid, _ = b_patient
    with world.session() as s:
        b_ext = repo.get_patient(s, world.clinics["B"]["id"], pid).external_id
    a = world.login(world.clinics["A"]["users"]["admin"])
    assert b_ext not in a.get("/patients").text
    assert f">{b_ext}</a>" not in a.get("/patients", params={"q": b_ext}).text
    assert all(p["external_id"] != b_ext for p in a.get("/api/patients", params={"q": b_ext}).json())
    assert f'patient_id={pid}"' not in a.get("/admin/audit").text
    b = world.login(world.clinics["B"]["users"]["clinician"])
    assert b_ext in b.get("/patients").text
    assert b.get(f"/api/patients/{pid}").status_code == 200


def test_same_external_id_in_two_clinics_stays_separate(world) -> None:
    a_id = add_patient(world, "A", external_id="SHARED-ID-1")
    b_id = add_patient(world, "B", external_id="SHARED-ID-1")
    assert a_id != b_id
    a = world.login(world.clinics["A"]["users"]["clinician"])
    ids = [p["id"] for p in a.get("/api/patients", params={"q": "SHARED-ID-1"}).json()]
    assert ids == [a_id]
