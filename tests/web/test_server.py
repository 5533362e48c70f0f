"""`python -m hipext.web`: migrates, seeds the demo clinic once, prints the URL and the demo login, serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hipext.store import make_engine, repo, session_factory
from hipext.web.demo import DEMO_CLINIC, DEMO_USERS

SRC = Path(__file__).resolve().parents[2] / "src"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_once(db_url: str) -> list[str]:
    port = _port()
    env = dict(os.environ, PYTHONPATH=str(SRC), HIPEXT_DATABASE_URL=db_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hipext.web", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, lines
                time.sleep(0.1)
        assert r.status_code == 200 and "Sign in" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    return lines


def test_module_entry_point_serves_and_seeds_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    for _ in range(2):  # the second start finds the demo clinic already there
        lines = _run_once(url)
        assert lines[0].startswith("hipext clinic app on http://127.0.0.1:")
        user, password, _role, _name = DEMO_USERS[0]
        assert f"{user} / {password}" in lines[1]
    engine = make_engine(url)
    with session_factory(engine)() as s:
        clinic = repo.get_or_create_clinic(s, DEMO_CLINIC)
        patients = repo.list_patients(s, clinic.id)
        assert sorted(p.external_id for p in patients) == ["DEMO-001", "DEMO-002", "DEMO-003"]
        assert any(p.visits for p in patients)
    engine.dispose()
