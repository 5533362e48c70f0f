"""The signed-in principal is looked up once per request, and never served from a cache across requests: a sign-out
or a deactivation through one worker process ends the session in every other worker at its very next request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from hipext.store import repo
from hipext.store.models import Clinic
from hipext.web import create_app
from hipext.web.config import Settings

from .conftest import add_patient, csrf_of, login


class Statements:
    """Counts the SQL statements an engine runs that mention a table."""

    def __init__(self, engine: Any, table: str) -> None:
        self.engine, self.table, self.count = engine, table, 0

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += f"FROM {self.table}" in statement

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def test_one_session_lookup_per_request(world) -> None:
    pid = add_patient(world, "A", visits=1)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.headers["X-CSRF-Token"] = csrf_of(c)
    # Each of these routes asks for the principal several times over (the route, the patient, the audit).
    for path in (f"/patients/{pid}/evaluation", f"/api/patients/{pid}/evaluation", f"/patients/{pid}/program"):
        with Statements(world.app.state.engine, "web_sessions") as seen:
            assert c.get(path).status_code == 200
        assert seen.count == 1, path


def test_signing_out_in_one_worker_ends_the_session_in_every_worker(world) -> None:
    pid = add_patient(world, "A", visits=1)
    other = create_app(world.backend.url, schema=world.backend.schema, settings=Settings(clock=world.clock),
                       run_migrations=False)  # a second worker process: same database, its own memory
    try:
        first = world.client()
        login(first, world.clinics["A"]["users"]["clinician"])
        second = TestClient(other, raise_server_exceptions=False, cookies=dict(first.cookies))
        for _ in range(3):  # signed in, and seen by the second worker several times
            assert second.get(f"/patients/{pid}/evaluation").status_code == 200
        assert first.post("/logout", data={"csrf_token": csrf_of(first)}, follow_redirects=False).status_code == 303
        r = second.get(f"/patients/{pid}/evaluation", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert second.get(f"/api/patients/{pid}/evaluation").status_code == 401
    finally:
        other.state.engine.dispose()


def test_deactivation_in_one_worker_is_seen_by_every_worker_at_once(world) -> None:
    pid = add_patient(world, "A", visits=1)
    with world.session() as s:
        clinic = s.get(Clinic, world.clinics["A"]["id"])
        user = repo.create_user(s, clinic, f"temp-{pid}-{world.backend.name}", "correct-horse-battery")
        s.commit()
        name, uid = user.username, user.id
    other = create_app(world.backend.url, schema=world.backend.schema, settings=Settings(clock=world.clock),
                       run_migrations=False)
    try:
        c = TestClient(other, raise_server_exceptions=False)
        login(c, name)
        assert c.get(f"/patients/{pid}/evaluation").status_code == 200
        admin = world.login(world.clinics["A"]["users"]["admin"])
        r = admin.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": csrf_of(admin)}, follow_redirects=False)
        assert r.status_code in (200, 303)
        r = c.get(f"/patients/{pid}/evaluation", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    finally:
        other.state.engine.dispose()
