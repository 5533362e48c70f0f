"""Database round trips of the read requests that carry the p95 goal (issue 12), on PostgreSQL, where each one is a
network round trip to a server sharing the CPUs: counted at the wire (libpq's protocol trace of the connections a
request checks out: every query, BEGIN, COMMIT, ROLLBACK ends with the server's ReadyForQuery)."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any

import anyio.to_thread
import psycopg
import pytest
from sqlalchemy import create_engine, event, text
from starlette.testclient import TestClient

from hipext.store import repo
from hipext.web import create_app, services
from hipext.web.config import Settings

from .conftest import EXAMPLE_HISTORY, EXAMPLE_PATIENT, PASSWORD, PG_URL, Clock, csrf_of, example_visit, login

# A request's reads are single statements with no BEGIN/COMMIT around them: the session with its user, then the
# patient with their visits and whether they have program edits (none here: no query for them), and the stored
# evaluation when this worker's memory does not hold it. Before: 9, each step its own BEGIN ... COMMIT; then 3,
# the program edits always queried.
MAX_ROUND_TRIPS = 2
MAX_ROUND_TRIPS_FROM_STORE = 3


class WireTrace:
    """Traces the protocol of every connection the request threads check out (not the audit writer's or the
    evaluation keeper's threads: their batches are shared by many requests) and counts the round trips."""

    def __init__(self, engine: Any, path: Path) -> None:
        self.engine, self.path = engine, path
        self.file = path.open("w")

    def _checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if not threading.current_thread().name.startswith("hipext-"):
            dbapi_conn.pgconn.trace(self.file.fileno())
            dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def _checkin(self, dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn is not None:
            dbapi_conn.pgconn.untrace()  # after the pool's reset on return: a ROLLBACK it sends is counted

    def __enter__(self) -> WireTrace:
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)
        self.file.close()

    def commands(self) -> list[str]:
        """One entry per round trip: the statements sent before each ReadyForQuery."""
        trips, sent = [], []
        for line in self.path.read_text().splitlines():
            if re.search(r"^F\t\d+\t(Query|Parse)\t", line):
                sent.append(re.sub(r"\s+", " ", line.split("\t", 3)[-1])[:400])
            elif re.search(r"^B\t\d+\tReadyForQuery\t", line):
                trips.append(" ; ".join(sent))
                sent = []
        return trips


@pytest.fixture(scope="module")
def pg_app() -> Any:
    """An app on a PostgreSQL schema of its own, with a signed-in clinician and a patient with two visits."""
    schema = f"hipext_trips_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    app = create_app(PG_URL, schema=schema, settings=Settings(clock=Clock()))
    try:
        with app.state.sessionmaker() as s:
            clinic = repo.get_or_create_clinic(s, "Clinic trips")
            user = repo.create_user(s, clinic, "trips-clinician", PASSWORD, role="clinician")
            row = repo.create_patient(s, clinic.id, dict(EXAMPLE_PATIENT, id="P-trips"), dict(EXAMPLE_HISTORY))
            for d in ("2026-01-05", "2026-01-19"):
                repo.add_visit(s, row, example_visit(d), user_id=None)
            s.commit()
            yield app, user.username, row.id
    finally:
        app.state.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _trips(app: Any, c: Any, path: str, tmp_path: Path, *, memory: bool = True) -> list[str]:
    # The evaluation computed and stored, the pool warm, the statements prepared (psycopg prepares one at its fifth
    # run on a connection, in a round trip of its own; the pool hands its connections out in turn): what the
    # benchmark's clients see.
    for _ in range(25):
        c.get(path)
    app.state.evaluations.flush()
    if not memory:  # as another worker that has not served this patient yet: the stored evaluation is read
        app.state.cache, app.state.fragments = services.EvaluationCache(), services.EvaluationCache()
    with WireTrace(app.state.engine, tmp_path / "trace.txt") as trace:
        assert c.get(path).status_code == 200
    return trace.commands()


@pytest.mark.parametrize("memory", [True, False], ids=["in memory", "from the store"])
def test_evaluation_page_takes_few_database_round_trips(pg_app, tmp_path, memory) -> None:
    app, username, pid = pg_app
    c = TestClient(app, raise_server_exceptions=False)
    login(c, username)
    trips = _trips(app, c, f"/patients/{pid}/evaluation", tmp_path, memory=memory)
    assert 1 <= len(trips) <= (MAX_ROUND_TRIPS if memory else MAX_ROUND_TRIPS_FROM_STORE), "\n".join(trips)


@pytest.mark.parametrize("memory", [True, False], ids=["in memory", "from the store"])
def test_api_evaluation_takes_few_database_round_trips(pg_app, tmp_path, memory) -> None:
    app, username, pid = pg_app
    c = TestClient(app, raise_server_exceptions=False)
    login(c, username)
    c.headers["X-CSRF-Token"] = csrf_of(c)
    trips = _trips(app, c, f"/api/patients/{pid}/evaluation", tmp_path, memory=memory)
    assert 1 <= len(trips) <= (MAX_ROUND_TRIPS if memory else MAX_ROUND_TRIPS_FROM_STORE), "\n".join(trips)


# Each step on a worker thread is a wait in the thread pool's queue under load: the route reads the user, the
# patient and the evaluation on its own hop. Before: 4 for the API call (the evaluation a dependency of its own),
# then 3 (the session lookup, the patient and the route each a hop).
MAX_THREAD_HOPS = 1


@pytest.mark.parametrize("path", ["/patients/{pid}/evaluation", "/api/patients/{pid}/evaluation"])
def test_evaluation_reads_take_few_thread_hops(pg_app, monkeypatch, path) -> None:
    app, username, pid = pg_app
    c = TestClient(app, raise_server_exceptions=False)
    login(c, username)
    assert c.get(path.format(pid=pid)).status_code == 200
    hops = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    assert c.get(path.format(pid=pid)).status_code == 200
    assert len(hops) <= MAX_THREAD_HOPS, hops


@pytest.mark.parametrize("path", ["/patients/{pid}/evaluation", "/api/patients/{pid}/evaluation"])
def test_evaluation_reads_take_one_pooled_connection(pg_app, path) -> None:
    """The user and the patient are read on one connection; the route, whose evaluation is in memory, takes none
    (each checkout and return costs the worker CPU). Before: 3."""
    app, username, pid = pg_app
    c = TestClient(app, raise_server_exceptions=False)
    login(c, username)
    assert c.get(path.format(pid=pid)).status_code == 200
    checkouts = []

    def checkout(*_: object) -> None:
        if not threading.current_thread().name.startswith("hipext-"):  # not the audit writer's batches
            checkouts.append(1)

    event.listen(app.state.engine, "checkout", checkout)
    try:
        assert c.get(path.format(pid=pid)).status_code == 200
    finally:
        event.remove(app.state.engine, "checkout", checkout)
    assert len(checkouts) == 1
