"""Issue 10, items 1, 3 and 10: the sign-in form as an attacker uses it.

Lock-outs from one address, password spraying, the check-then-count race between workers, throttled and CSRF-failed
sign-ins on the audit log of the right clinic, bounded audit rows from anonymous floods.
"""

from __future__ import annotations

import re
import threading
import uuid

from starlette.testclient import TestClient

from hipext.store import repo

from .conftest import PASSWORD


def client(world, ip: str) -> TestClient:
    return TestClient(world.app, raise_server_exceptions=False, client=(ip, 40000))


def attempt(c: TestClient, username: str, password: str):  # noqa: ANN201
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def new_user(world, clinic: str = "A", role: str = "clinician") -> str:
    from hipext.store.models import Clinic

    name = f"sec-{uuid.uuid4().hex[:8]}"
    with world.session() as s:
        repo.create_user(s, s.get(Clinic, world.clinics[clinic]["id"]), name, PASSWORD, role=role)
        s.commit()
    return name


def actions(world, clinic: str, username: str) -> list[str]:
    with world.session() as s:
        return [e.action for e in repo.audit_events(s, world.clinics[clinic]["id"]) if username in e.actor]


def test_failures_from_one_address_never_lock_the_owner_out_elsewhere(world, clock) -> None:
    victim = new_user(world, role="admin")
    attacker = client(world, "203.0.113.10")
    statuses = []
    for i in range(40):  # a patient attacker: 40 posts over 20 minutes, the right password never among them
        statuses.append(attempt(attacker, victim, "not the password").status_code)
        clock.advance(seconds=30)
        if i % 5 == 4:  # the owner, at their desk, signs in at once whenever they try
            assert attempt(client(world, "198.51.100.20"), victim, PASSWORD).status_code == 303
    assert statuses.count(400) <= 10 and 429 in statuses  # the attacker's own address is slowed down
    assert attempt(attacker, victim, PASSWORD).status_code == 429  # (even with the right password, from there)


def test_failures_from_many_addresses_keep_the_owner_out_at_most_30_seconds(world, clock) -> None:
    victim = new_user(world)
    for i in range(30):  # a botnet: one guess from each of 30 addresses
        attempt(client(world, f"192.0.2.{i + 1}"), victim, f"guess-{i}")
    owner = client(world, "198.51.100.21")
    r = attempt(owner, victim, PASSWORD)
    if r.status_code == 429:
        assert int(r.headers["retry-after"]) <= 30
        clock.advance(seconds=30)
        r = attempt(owner, victim, PASSWORD)
    assert r.status_code == 303


def test_password_spraying_from_one_address_is_throttled(world) -> None:
    spray = client(world, "203.0.113.11")
    codes = [attempt(spray, f"nobody-{i}-{uuid.uuid4().hex[:4]}", "Summer2026!").status_code for i in range(30)]
    assert codes[:20] == [400] * 20 and set(codes[20:]) == {429}  # 20 guesses, then back-off
    assert (
        attempt(client(world, "198.51.100.22"), world.clinics["A"]["users"]["clinician"], PASSWORD).status_code == 303
    )


def test_concurrent_guesses_are_counted_atomically(world) -> None:
    victim = new_user(world)
    results: list[int] = []

    def worker() -> None:
        c = client(world, "203.0.113.12")
        for _ in range(4):
            results.append(attempt(c, victim, "wrong guess").status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    assert results.count(400) == 5, results  # five guesses were checked, not one more
    assert results.count(429) == 11


def test_throttled_and_csrf_failed_sign_ins_are_on_the_clinics_audit_log(world) -> None:
    victim = new_user(world, clinic="B")
    c = client(world, "203.0.113.13")
    for _ in range(6):
        attempt(c, victim, "wrong again")
    forged = client(world, "203.0.113.14").post("/login", data={"username": victim, "password": "x"})
    assert forged.status_code == 403
    seen = actions(world, "B", victim)
    assert "auth.login_failed" in seen and "auth.login_throttled" in seen and "auth.login_csrf_failed" in seen
    assert not any(victim in a for a in actions(world, "A", victim))


def test_anonymous_floods_add_a_bounded_number_of_audit_rows(world) -> None:
    from sqlalchemy import func, select

    from hipext.store.models import AuditEvent

    def anonymous_rows() -> int:
        with world.session() as s:
            return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.ip == "203.0.113.15"))

    before = anonymous_rows()
    c = client(world, "203.0.113.15")
    for i in range(60):
        c.get("/api/patients", headers={"Authorization": f"Bearer forged-{i}"})
        c.get(f"/p/guessed-token-{i}")
    written = anonymous_rows() - before
    assert 1 <= written <= 30  # the first ones are on record; 120 requests did not add 120 rows


def test_invalid_bearer_tokens_are_audited(world) -> None:
    from sqlalchemy import select

    from hipext.store.models import AuditEvent

    client(world, "203.0.113.16").get("/api/patients", headers={"Authorization": "Bearer not-a-token"})
    with world.session() as s:
        row = s.scalar(select(AuditEvent).where(AuditEvent.ip == "203.0.113.16"))
    assert row is not None and row.action == "auth.token_invalid" and row.outcome == "denied"
