"""Audit events of reads are written in batches (group commit, issue 12) without losing any: a response is only
sent once its event is committed, the chain stays valid under concurrent load, a server stopped or killed in the
middle of a load has an event for every request it answered, and an event that cannot be written withholds the
patient data."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hipext.store import audit_chain, make_engine
from hipext.store.models import AuditEvent

from .conftest import add_patient, csrf_of, own_database

SRC = Path(__file__).resolve().parents[2] / "src"


def views(engine: Any, action: str, since_id: int = 0, patient_id: int | None = None) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action,
                                                                   AuditEvent.id > since_id)
        if patient_id is not None:
            stmt = stmt.where(AuditEvent.patient_id == patient_id)
        return conn.execute(stmt).scalar_one()


def unbroken(engine: Any) -> None:
    reports = audit_chain.verify(engine)
    assert reports and all(r.broken is None for r in reports), [r.broken for r in reports if r.broken]


def test_concurrent_reads_are_each_audited_in_a_valid_chain(world) -> None:
    pid = add_patient(world, "A", visits=2)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    cookies = dict(c.cookies)
    engine = world.app.state.engine
    before = views(engine, "evaluation.view", patient_id=pid)
    batches = world.app.state.audit_writer.batches

    async def load() -> list[int]:
        transport = httpx.ASGITransport(app=world.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", cookies=cookies) as client:
            paths = [f"/patients/{pid}/evaluation", f"/api/patients/{pid}/evaluation"] * 40
            answers = await asyncio.gather(*(client.get(p) for p in paths))
        return [a.status_code for a in answers]

    codes = asyncio.run(load())
    assert codes == [200] * 80
    assert views(engine, "evaluation.view", patient_id=pid) - before == 80  # one event per answer, none lost
    assert world.app.state.audit_writer.batches > batches
    unbroken(engine)


def test_an_event_that_cannot_be_written_withholds_the_data(world, monkeypatch) -> None:
    pid = add_patient(world, "A", visits=1)
    c = world.login(world.clinics["A"]["users"]["clinician"])
    c.headers["X-CSRF-Token"] = csrf_of(c)

    def disk_full(conn: Any, rows: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(audit_chain, "append_many", disk_full)
    api = c.get(f"/api/patients/{pid}/evaluation")
    assert api.status_code == 503 and "audit" in api.json()["detail"] and "results" not in api.text
    page = c.get(f"/patients/{pid}/evaluation")
    assert page.status_code == 503 and "Program" not in page.text
    monkeypatch.undo()
    assert c.get(f"/api/patients/{pid}/evaluation").status_code == 200  # the writer carries on afterwards


# --- a real server, stopped or killed in the middle of a load ------------------------------------------------------


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, schema: str | None) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = dict(os.environ, PYTHONPATH=str(SRC), HIPEXT_AUDIT_KEY="test-audit-key-batching")
    cmd = [sys.executable, "-m", "hipext.web", "--port", str(port), "--database-url", url, "--workers", "2", "--demo"]
    if schema:
        cmd += ["--schema", schema]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


async def _load_until_stopped(base: str, proc: subprocess.Popen, sig: int) -> int:
    """Clients read evaluations; after 2 s the server gets `sig`. Returns how many reads were answered 200."""
    async with httpx.AsyncClient(base_url=base, timeout=20) as c:
        page = await c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        await c.post("/login", data={"username": "demo", "password": "demo-clinician-2026", "csrf_token": token})
        pid = (await c.get("/api/patients", params={"q": "DEMO-001"})).json()[0]["id"]
        answered = 0
        stop = asyncio.Event()

        async def client(i: int) -> None:
            nonlocal answered
            path = f"/patients/{pid}/evaluation" if i % 2 else f"/api/patients/{pid}/evaluation"
            while not stop.is_set():
                try:
                    r = await c.get(path)
                except httpx.HTTPError:
                    return  # the server went away
                answered += r.status_code == 200

        async def stopper() -> None:
            await asyncio.sleep(2)
            os.killpg(proc.pid, sig)
            await asyncio.sleep(1)
            stop.set()

        await asyncio.gather(stopper(), *(client(i) for i in range(20)))
    return answered


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["stopped", "killed"])
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_server_stopped_or_killed_under_load_has_an_event_for_every_answer(db, sig, tmp_path, request) -> None:
    url, schema = own_database(db, tmp_path, request, "served")
    proc, base = _serve(url, schema)
    try:
        answered = asyncio.run(_load_until_stopped(base, proc, sig))
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    os.environ["HIPEXT_AUDIT_KEY"], old = "test-audit-key-batching", os.environ.get("HIPEXT_AUDIT_KEY")
    audit_chain.current_key.cache_clear()
    try:
        engine = make_engine(url, schema=schema)
        assert answered > 20
        assert views(engine, "evaluation.view") >= answered  # every answered read has its event
        unbroken(engine)
        engine.dispose()
    finally:
        if old is None:
            os.environ.pop("HIPEXT_AUDIT_KEY")
        else:
            os.environ["HIPEXT_AUDIT_KEY"] = old
        audit_chain.current_key.cache_clear()
