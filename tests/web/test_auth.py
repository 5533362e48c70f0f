"""Sessions (rotation, idle and absolute timeouts, logout), CSRF, roles, throttling, error pages."""

from __future__ import annotations

import re

from hipext.store import repo
from hipext.web.security import SESSION_COOKIE

from .conftest import PASSWORD, add_patient, csrf_of, login


def test_login_sets_a_new_session_id_each_time(world) -> None:
    c = world.client()
    assert login(c, world.clinics["A"]["users"]["clinician"]).status_code == 303
    first = c.cookies.get(SESSION_COOKIE)
    assert first and len(first) >= 43
    assert login(c, world.clinics["A"]["users"]["clinician"]).status_code == 303
    second = c.cookies.get(SESSION_COOKIE)
    assert second != first
    other = world.client()
    other.cookies.set(SESSION_COOKIE, first)
    assert other.get("/patients", follow_redirects=False).status_code == 303  # the old id is dead


def test_wrong_password_is_refused_audited_and_throttled(world, clock) -> None:
    user = world.clinics["A"]["users"]["admin"]
    c = world.client()
    r = login(c, user, "wrong password!")
    assert r.status_code == 400 and "not correct" in r.text
    for _ in range(4):
        login(c, user, "wrong password!")
    assert login(c, user, PASSWORD).status_code == 429  # even the right password waits
    clock.advance(minutes=16)
    assert login(c, user, PASSWORD).status_code == 303
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"])]
    assert "auth.login_failed" in actions and "auth.login" in actions


def test_idle_timeout(world, clock) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    assert c.get("/patients").status_code == 200
    clock.advance(minutes=29)
    assert c.get("/patients", follow_redirects=False).status_code == 200
    clock.advance(minutes=31)
    assert c.get("/patients", follow_redirects=False).status_code == 303


def test_absolute_lifetime(world, clock) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    for _ in range(35):  # active every 20 minutes for almost 12 hours
        clock.advance(minutes=20)
        assert c.get("/api/patients").status_code == 200
    clock.advance(minutes=25)
    assert c.get("/api/patients").status_code == 401


def test_logout_ends_the_session(world) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    token = c.cookies.get(SESSION_COOKIE)
    assert c.post("/logout", data={"csrf_token": csrf_of(c)}, follow_redirects=False).status_code == 303
    replay = world.client()
    replay.cookies.set(SESSION_COOKIE, token)
    assert replay.get("/api/patients").status_code == 401


def test_csrf_is_required_on_forms_and_cookie_api_calls(world) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    form = {"patient.id": "CSRF-1", "patient.age": "40", "patient.sex": "female", "patient.body_mass_kg": "60"}
    assert c.post("/patients/new", data=form).status_code == 403
    assert c.post("/patients/new", data=dict(form, csrf_token="forged")).status_code == 403
    body = {"patient": {"id": "CSRF-2", "age": 40, "sex": "female", "body_mass_kg": 60}}
    assert c.post("/api/patients", json=body).status_code == 403
    assert c.post("/api/patients", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    token = csrf_of(c)
    assert c.post("/api/patients", json=body, headers={"X-CSRF-Token": token}).status_code == 201
    assert c.post("/patients/new", data=dict(form, csrf_token=token), follow_redirects=False).status_code == 303
    login_page = world.client()
    assert login_page.post("/login", data={"username": "x", "password": "y"}).status_code == 403


def test_bearer_token_needs_no_csrf(world) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    r = c.post("/account/api-token", data={"csrf_token": csrf_of(c)})
    token = re.search(r'id="api-token">([^<]+)<', r.text).group(1)
    api = world.client()
    h = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/patients", headers=h).status_code == 200
    body = {"patient": {"id": "BEARER-1", "age": 50, "sex": "male", "body_mass_kg": 80}}
    assert api.post("/api/patients", json=body, headers=h).status_code == 201
    assert api.get("/api/patients", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with world.session() as s:  # stored hashed
        user = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"])
        assert user.api_token_hash != token and len(user.api_token_hash) == 64


def test_read_only_can_read_but_not_write(world) -> None:
    pid = add_patient(world, "A")
    c = world.login(world.clinics["A"]["users"]["read_only"])
    token = csrf_of(c)
    assert c.get("/patients").status_code == 200
    assert c.get(f"/patients/{pid}/evaluation").status_code == 200
    assert c.get("/api/patients").status_code == 200
    assert c.get("/patients/new").status_code == 403
    assert c.get(f"/patients/{pid}/visits/new").status_code == 403
    form = {
        "csrf_token": token,
        "patient.id": "RO-1",
        "patient.age": "40",
        "patient.sex": "male",
        "patient.body_mass_kg": "70",
    }
    assert c.post("/patients/new", data=form).status_code == 403
    assert (
        c.post(f"/patients/{pid}/visits/new", data={"csrf_token": token, "visit.date": "2026-01-01"}).status_code == 403
    )
    assert c.post(f"/patients/{pid}/links", data={"csrf_token": token}).status_code == 403
    assert c.post(f"/patients/{pid}/program/overrides", data={"csrf_token": token}).status_code == 403
    h = {"X-CSRF-Token": token}
    assert c.post("/api/patients", json={"patient": {}}, headers=h).status_code == 403
    assert c.post(f"/api/patients/{pid}/visits", json={"date": "2026-01-01"}, headers=h).status_code == 403
    assert "New patient" not in c.get("/patients").text
    with world.session() as s:
        assert repo.patient_by_external_id(s, world.clinics["A"]["id"], "RO-1") is None


def test_admin_pages_are_for_admins(world) -> None:
    clinician = world.login(world.clinics["A"]["users"]["clinician"])
    assert clinician.get("/admin/audit").status_code == 403
    assert clinician.get("/admin/users").status_code == 403
    admin = world.login(world.clinics["A"]["users"]["admin"])
    page = admin.get("/admin/audit")
    assert page.status_code == 200 and "auth.login" in page.text
    r = admin.post(
        "/admin/users", data={"csrf_token": csrf_of(admin), "username": "x", "role": "clinician", "password": "short"}
    )
    assert r.status_code == 422 and "at least 8 characters" in r.text


def test_anonymous_is_sent_to_login_and_api_gets_401(world) -> None:
    c = world.client()
    assert c.get("/patients", follow_redirects=False).headers["location"] == "/login"
    assert c.get("/api/patients").status_code == 401


def test_error_pages_are_generic(world) -> None:
    c = world.login(world.clinics["A"]["users"]["clinician"])
    r = c.get("/patients/999999999")
    assert r.status_code == 404 and "Traceback" not in r.text and "<html" in r.text

    def boom() -> None:
        raise RuntimeError("secret internals")

    if not any(getattr(rt, "path", None) == "/test-boom" for rt in world.app.router.routes):
        world.app.add_api_route("/test-boom", boom, include_in_schema=False)
        world.app.add_api_route("/api/test-boom", boom, include_in_schema=False)
    r = c.get("/test-boom")
    assert r.status_code == 500 and "secret internals" not in r.text and "Traceback" not in r.text
    r = c.get("/api/test-boom")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}


def test_security_headers(world) -> None:
    r = world.client().get("/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "httponly" in r.headers["set-cookie"].lower()


def test_deactivated_user_loses_every_session(world) -> None:
    import uuid

    name = f"temp-{uuid.uuid4().hex[:6]}"
    admin = world.login(world.clinics["A"]["users"]["admin"])
    token = csrf_of(admin)
    r = admin.post(
        "/admin/users",
        data={"csrf_token": token, "username": name, "role": "clinician", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303
    victim = world.login(name)
    assert victim.get("/api/patients").status_code == 200
    with world.session() as s:
        uid = repo.user_by_username(s, name).id
    other = world.login(world.clinics["B"]["users"]["admin"])
    assert other.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": csrf_of(other)}).status_code == 404
    assert (
        admin.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    assert victim.get("/api/patients").status_code == 401
    assert login(world.client(), name).status_code == 400


def test_sign_out_everywhere_else(world) -> None:
    user = world.clinics["B"]["users"]["clinician"]
    phone, tablet = world.login(user), world.login(user)
    assert phone.get("/api/patients").status_code == 200
    assert tablet.post("/account/sessions/end-others", data={"csrf_token": csrf_of(tablet)}).status_code == 200
    assert phone.get("/api/patients").status_code == 401
    assert tablet.get("/api/patients").status_code == 200


def test_hsts_only_with_secure_cookies(world, tmp_path) -> None:
    from hipext.web import create_app
    from hipext.web.config import Settings

    assert "strict-transport-security" not in world.client().get("/login").headers
    secure = create_app(f"sqlite:///{tmp_path / 'h.sqlite3'}", settings=Settings(secure_cookies=True))
    from starlette.testclient import TestClient

    r = TestClient(secure).get("/login")
    assert "max-age" in r.headers["strict-transport-security"] and "secure" in r.headers["set-cookie"].lower()
