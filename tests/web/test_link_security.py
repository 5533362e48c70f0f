"""Issue 10, items 9 and 11: the patient link. Absolute links come from HIPEXT_BASE_URL, never the Host header;
a token cannot log sessions without limit; a recorded next-morning pain is not overwritten; guessing is throttled."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest
from starlette.testclient import TestClient

from hipext.store import repo

from .conftest import add_patient, csrf_of


@pytest.fixture()
def clinician(world):
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.token = csrf_of(c)
    return c


def new_link(clinician, pid: int, **headers: str) -> str:
    r = clinician.post(f"/patients/{pid}/links", data={"csrf_token": clinician.token}, headers=headers)
    return re.search(r'id="patient-link" href="([^"]+)"', r.text).group(1)


def test_patient_links_never_take_the_host_header(world, clinician) -> None:
    pid = add_patient(world, "A")
    url = new_link(clinician, pid, host="attacker.example")
    assert "attacker.example" not in url and url.startswith("/p/")  # no base URL configured: a path, never a guess
    world.app.state.settings.base_url = "https://clinic.example.org"
    try:
        url = new_link(clinician, pid, host="attacker.example")
    finally:
        world.app.state.settings.base_url = None
    assert url.startswith("https://clinic.example.org/p/")


def _home(world, token: str, ip: str = "198.51.100.40") -> tuple[TestClient, str]:
    anon = TestClient(world.app, raise_server_exceptions=False, client=(ip, 40000))
    page = anon.get(f"/p/{token}")
    assert page.status_code == 200
    return anon, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_one_link_cannot_log_sessions_without_limit(world, clinician) -> None:
    pid = add_patient(world, "A")
    token = new_link(clinician, pid).rsplit("/", 1)[1]
    anon, csrf = _home(world, token)
    today = dt.date.today().isoformat()
    codes = [
        anon.post(
            f"/p/{token}/log", data={"csrf_token": csrf, "date": today, "pain_during": "2"}, follow_redirects=False
        ).status_code
        for _ in range(25)
    ]
    assert codes.count(303) == world.app.state.settings.link_sessions_per_day and codes[-1] == 429
    with world.session() as s:
        assert (
            len(repo.session_logs(s, world.clinics["A"]["id"], pid)) == world.app.state.settings.link_sessions_per_day
        )


def test_a_recorded_next_morning_pain_is_kept(world, clinician) -> None:
    pid = add_patient(world, "A")
    token = new_link(clinician, pid).rsplit("/", 1)[1]
    anon, csrf = _home(world, token, "198.51.100.41")
    ok = anon.post(
        f"/p/{token}/log", data={"csrf_token": csrf, "date": dt.date.today().isoformat(), "pain_during": "3"}
    )
    log_id = re.search(rf"/p/{re.escape(token)}/log/(\d+)/morning", ok.text).group(1)
    first = anon.post(f"/p/{token}/log/{log_id}/morning", data={"csrf_token": csrf, "pain_next_morning": "6"})
    assert first.status_code == 200
    again = anon.post(f"/p/{token}/log/{log_id}/morning", data={"csrf_token": csrf, "pain_next_morning": "0"})
    assert again.status_code == 409 and "already recorded" in again.text
    with world.session() as s:
        logs = repo.session_logs(s, world.clinics["A"]["id"], pid)
        assert [lg.pain_next_morning for lg in logs] == [6]
        details = [
            e.detail
            for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid)
            if e.action == "home.log_morning"
        ]
    assert any("next-morning pain 6" in d for d in details)  # the history: what was recorded...
    assert any("already recorded (6); 0 not stored" in d for d in details)  # ...and what was refused


def test_token_guessing_is_throttled_per_address(world, clinician) -> None:
    guesser = TestClient(world.app, raise_server_exceptions=False, client=("203.0.113.40", 40000))
    codes = [guesser.get(f"/p/{secrets.token_urlsafe(32)}").status_code for _ in range(30)]
    assert codes[:10] == [404] * 10 and set(codes[10:]) == {429}
    assert "retry-after" in guesser.get(f"/p/{secrets.token_urlsafe(32)}").headers
    pid = add_patient(world, "A")  # a real patient elsewhere is not affected
    token = new_link(clinician, pid).rsplit("/", 1)[1]
    _home(world, token, "198.51.100.42")


def test_denied_link_attempts_are_on_the_clinics_audit_log(world, clinician, clock) -> None:
    pid = add_patient(world, "A")
    token = new_link(clinician, pid).rsplit("/", 1)[1]
    clock.advance(days=43)  # expired
    assert TestClient(world.app, client=("198.51.100.43", 1)).get(f"/p/{token}").status_code == 404
    with world.session() as s:
        denied = [
            e for e in repo.audit_events(s, world.clinics["A"]["id"], patient_id=pid) if e.action == "link.denied"
        ]
    assert denied and denied[0].detail == "expired"
