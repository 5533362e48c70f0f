"""Issue 10, item 7: password change for every user, an administrator's one-time reset link, the common-password
check on every new password, and a TOTP second factor with recovery codes (required for admins when configured)."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest

from hipext.store import repo
from hipext.store.models import Clinic

from .conftest import PASSWORD, csrf_of, login

NEW = "violet heron quarry 88"


def new_user(world, clinic: str = "A", role: str = "clinician") -> str:
    name = f"cred-{uuid.uuid4().hex[:8]}"
    with world.session() as s:
        repo.create_user(s, s.get(Clinic, world.clinics[clinic]["id"]), name, PASSWORD, role=role)
        s.commit()
    return name


def change(c, current: str, new: str, confirm: str | None = None):  # noqa: ANN201
    return c.post(
        "/account/password",
        data={
            "csrf_token": csrf_of(c),
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm or new,
        },
        follow_redirects=False,
    )


@pytest.mark.parametrize("role", ["read_only", "clinician", "admin"])
def test_every_user_can_change_their_password(world, role: str) -> None:
    name = new_user(world, role=role)
    c, other = world.login(name), world.login(name)
    assert "not correct" not in c.get("/account/password").text
    r = change(c, "wrong current", NEW)
    assert r.status_code == 422 and "your current password" in r.text
    for weak, why in (("P@ssw0rd", "common and breached"), ("aaaaaaaa", "pattern"), (name + "!", "username")):
        r = change(c, PASSWORD, weak)
        assert r.status_code == 422 and why in r.text, weak
    assert change(c, PASSWORD, NEW, "something else").status_code == 422
    assert change(c, PASSWORD, NEW).status_code == 303
    assert other.get("/api/patients").status_code == 401  # other sessions signed out
    assert c.get("/api/patients").status_code == 200
    assert login(world.client(), name, PASSWORD).status_code == 400
    assert login(world.client(), name, NEW).status_code == 303
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"]) if name in e.actor]
    assert "auth.password_change" in actions


def reset_link(world, admin_client, username: str) -> str:
    with world.session() as s:
        uid = repo.user_by_username(s, username).id
    r = admin_client.post(f"/admin/users/{uid}/reset", data={"csrf_token": csrf_of(admin_client)})
    assert r.status_code == 200
    return re.search(r'id="reset-link">([^<]+)<', r.text).group(1)


def submit_reset(world, link: str, new: str, **extra: str):  # noqa: ANN201
    anon = world.client()
    page = anon.get(link)
    if page.status_code != 200:
        return page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return anon.post(
        link, data={"csrf_token": csrf, "new_password": new, "confirm_password": new, **extra}, follow_redirects=False
    )


def test_admin_reset_link_works_once_and_within_the_hour(world, clock) -> None:
    name = new_user(world)
    victim_session = world.login(name)
    admin = world.login(world.clinics["A"]["users"]["admin"])
    link = reset_link(world, admin, name)
    assert link.startswith("/reset/") and len(link) >= 50  # a 256-bit token
    outsider = world.login(world.clinics["B"]["users"]["admin"])
    with world.session() as s:
        uid = repo.user_by_username(s, name).id
    assert outsider.post(f"/admin/users/{uid}/reset", data={"csrf_token": csrf_of(outsider)}).status_code == 404
    assert submit_reset(world, link, "password123").status_code == 422
    assert submit_reset(world, link, NEW).status_code == 303
    assert victim_session.get("/api/patients").status_code == 401  # every session ended
    assert login(world.client(), name, PASSWORD).status_code == 400
    assert login(world.client(), name, NEW).status_code == 303
    assert submit_reset(world, link, "another fine passphrase").status_code == 404  # one time only
    late = reset_link(world, admin, name)
    clock.advance(minutes=61)
    assert submit_reset(world, late, "another fine passphrase").status_code == 404
    with world.session() as s:
        actions = [e.action for e in repo.audit_events(s, world.clinics["A"]["id"])]
    assert {"user.reset_link", "auth.password_reset", "auth.reset_denied"} <= set(actions)


def enable_totp(world, c) -> tuple[str, list[str]]:
    page = c.get("/account/totp")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    code = pyotp.TOTP(secret).at(world.clock())
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/account/totp", data={"csrf_token": csrf, "code": code, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return secret, re.findall(r"<li><code>([0-9a-f-]+)</code></li>", r.text)


def second_step(world, c, code: str):  # noqa: ANN201
    page = c.get("/login/totp")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post("/login/totp", data={"csrf_token": csrf, "code": code}, follow_redirects=False)


def test_totp_second_factor_with_recovery_codes(world, clock) -> None:
    name = new_user(world)
    secret, codes = enable_totp(world, world.login(name))
    assert len(codes) == 10
    c = world.client()
    r = login(c, name)
    assert r.status_code == 303 and r.headers["location"] == "/login/totp"
    assert c.get("/api/patients").status_code == 401  # the password alone opens nothing
    assert c.get("/patients", follow_redirects=False).status_code == 303
    assert second_step(world, c, "000000").status_code == 400
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(world.clock())
    assert second_step(world, c, code).status_code == 303
    assert c.get("/api/patients").status_code == 200
    replay = world.client()
    login(replay, name)
    assert second_step(world, replay, code).status_code == 400  # the same code twice: refused
    assert second_step(world, replay, codes[0]).status_code == 303  # a recovery code, once
    again = world.client()
    login(again, name)
    assert second_step(world, again, codes[0]).status_code == 400
    for _ in range(5):  # guessing codes ends the sign-in
        r = second_step(world, again, "123456")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_reset_link_does_not_get_past_the_second_factor(world, clock) -> None:
    name = new_user(world)
    secret, _codes = enable_totp(world, world.login(name))
    link = reset_link(world, world.login(world.clinics["A"]["users"]["admin"]), name)
    r = submit_reset(world, link, NEW)
    assert r.status_code == 422 and "authenticator" in r.text
    clock.advance(seconds=30)
    assert submit_reset(world, link, NEW, code=pyotp.TOTP(secret).at(world.clock())).status_code == 303


def test_admins_must_set_up_a_second_factor_when_required(world, clock) -> None:
    name = new_user(world, role="admin")
    world.app.state.settings.require_admin_totp = True
    try:
        c = world.client()
        r = login(c, name)
        assert r.headers["location"] == "/account/totp"
        assert c.get("/admin/audit", follow_redirects=False).status_code == 303  # nothing else until it is set up
        assert c.get("/api/patients").status_code == 401
        enable_totp(world, c)
        assert c.get("/admin/audit").status_code == 200
        clinician = new_user(world)  # optional for everyone else
        assert login(world.client(), clinician).headers["location"] == "/patients"
    finally:
        world.app.state.settings.require_admin_totp = False
