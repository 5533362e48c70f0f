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
import pytest

from hipext.store import make_engine, repo, session_factory
from hipext.web.demo import DEMO_CLINIC, DEMO_USERS

SRC = Path(__file__).resolve().parents[2] / "src"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_once(cwd: Path, *args: str) -> list[str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if k != "HIPEXT_DATABASE_URL"}
    env["PYTHONPATH"] = str(SRC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hipext.web", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        assert r.status_code == 200 and "Sign in" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    return [ln.strip() for ln in proc.stdout.read().splitlines()] + ["", ""]


def test_module_entry_point_serves_and_seeds_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'hipext.sqlite3'}"  # the embedded default, in the directory it runs in
    for _ in range(2):  # the second start finds the demo clinic already there
        lines = _run_once(tmp_path)
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


def _demo_users(url: str, schema: str | None = None) -> list[str]:
    engine = make_engine(url, schema=schema)
    with session_factory(engine)() as s:
        found = [u for u, *_ in DEMO_USERS if repo.user_by_username(s, u) is not None]
    engine.dispose()
    return found


def test_no_demo_accounts_in_a_configured_database(tmp_path, pg_schema) -> None:
    """The published demo logins (an administrator among them) never land in a real database by default."""
    from .conftest import PG_URL

    lines = _run_once(tmp_path, "--database-url", PG_URL, "--schema", pg_schema)
    assert "demo" not in " ".join(lines) and _demo_users(PG_URL, pg_schema) == []


@pytest.mark.parametrize(
    ("argv", "env_url", "seeded"),
    [
        ([], None, True),  # `make run`: the embedded SQLite default
        (["--no-demo"], None, False),
        (["--database-url", "sqlite:///clinic.sqlite3"], None, False),  # any database someone configured
        ([], "postgresql://clinic@db/hipext", False),
        (["--database-url", "postgresql://clinic@db/hipext", "--demo"], None, True),  # asked for explicitly
    ],
)
def test_demo_policy(monkeypatch, argv: list[str], env_url: str | None, seeded: bool) -> None:
    import argparse

    from hipext.web.__main__ import wants_demo

    monkeypatch.delenv("HIPEXT_DATABASE_URL", raising=False)
    if env_url:
        monkeypatch.setenv("HIPEXT_DATABASE_URL", env_url)
    ns = argparse.Namespace(demo="--demo" in argv, no_demo="--no-demo" in argv,
                            database_url=argv[argv.index("--database-url") + 1] if "--database-url" in argv else None)
    assert wants_demo(ns) is seeded
