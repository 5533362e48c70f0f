"""The audit log cannot be rewritten unnoticed: SQLite with its triggers dropped, PostgreSQL through the app's role.

Attacks as the issue reported them: drop the trigger, edit, recreate it in one transaction (SQLite); `ALTER TABLE
audit_events DISABLE TRIGGER` and UPDATE as the app's database account (PostgreSQL); backdated rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from hipext.store import __main__ as store_main
from hipext.store import audit_chain, make_engine, migrate, repo, session_factory

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("HIPEXT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def verify_cli(url: str, schema: str | None = None, *, subprocess_: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m hipext.store verify-audit`, in this process (fast) or as a user runs it."""
    args = ["verify-audit", "--database-url", url] + (["--schema", schema] if schema else [])
    if subprocess_:
        return subprocess.run(
            [sys.executable, "-m", "hipext.store", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        store_main.main(args)
    return subprocess.CompletedProcess(args, exit_.value.code, out.getvalue(), "")


def write_events(engine, n: int = 6, clinic_id: int | None = 1) -> None:
    with session_factory(engine)() as s:
        for i in range(n):
            repo.audit(s, action="patient.view", actor=f"user:u{i}", clinic_id=clinic_id, patient_id=i, detail=f"e{i}")
        s.commit()


@pytest.fixture()
def sqlite_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    yield url, engine
    engine.dispose()


def test_intact_log_verifies(sqlite_db) -> None:
    url, engine = sqlite_db
    write_events(engine)
    write_events(engine, 2, clinic_id=None)
    r = verify_cli(url, subprocess_=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "audit log intact: 2 chains, 8 rows" in r.stdout


def test_sqlite_edit_with_triggers_dropped_is_found(sqlite_db) -> None:
    url, engine = sqlite_db
    write_events(engine)
    with engine.begin() as conn:  # drop the guard, edit, put the guard back: one transaction
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET detail = 'nothing to see' WHERE seq = 3 AND chain = 1"))
        conn.execute(
            text(
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
            )
        )
    r = verify_cli(url, subprocess_=True)
    assert r.returncode == 1
    assert "link 3" in r.stdout and "does not match its hash" in r.stdout


def test_sqlite_rechained_forgery_without_the_key_is_found(sqlite_db) -> None:
    """An attacker who recomputes the chain with plain SHA-256 (they do not have the key) is still caught."""
    url, engine = sqlite_db
    write_events(engine, 3)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        rows = (
            conn.execute(
                text(
                    "SELECT id, seq, at, clinic_id, user_id, actor, action, patient_id, detail, ip, outcome "
                    "FROM audit_events WHERE chain = 1 ORDER BY seq"
                )
            )
            .mappings()
            .all()
        )
        prev = audit_chain.GENESIS
        for r in rows:
            row = dict(r, detail="rewritten", at=dt.datetime.fromisoformat(r["at"]))
            h = audit_chain.link_hash(None, prev, 1, r["seq"], row)
            conn.execute(
                text("UPDATE audit_events SET detail='rewritten', hash=:h WHERE id=:i"), {"h": h, "i": r["id"]}
            )
            prev = h
    r = verify_cli(url)
    assert r.returncode == 1 and "link 1" in r.stdout


def test_sqlite_deleted_rows_are_found(sqlite_db) -> None:
    url, engine = sqlite_db
    write_events(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(text("DELETE FROM audit_events WHERE chain = 1 AND seq = 2"))
    r = verify_cli(url)
    assert r.returncode == 1 and "link 2 is missing" in r.stdout
    with engine.begin() as conn:  # deleting the newest rows instead
        conn.execute(text("DELETE FROM audit_events WHERE chain = 1 AND seq >= 2"))
    r = verify_cli(url)
    assert r.returncode == 1 and "the last rows were deleted" in r.stdout


def test_sqlite_files_are_private(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'private.sqlite3'}"
        engine = make_engine(url)
        migrate(engine)
        write_events(engine, 1)
        files = [p for p in tmp_path.iterdir() if p.name.startswith("private.sqlite3")]
        assert {p.name for p in files} >= {"private.sqlite3", "private.sqlite3-wal", "private.sqlite3.audit-key"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        engine.dispose()
        (tmp_path / "private.sqlite3").chmod(0o644)  # an existing world-readable file is tightened on open
        make_engine(url).dispose()
        assert stat.S_IMODE((tmp_path / "private.sqlite3").stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_writers_never_fork_a_chain(kind: str, tmp_path, request) -> None:
    if kind == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'c.sqlite3'}", None
    else:
        url, schema = PG_URL, request.getfixturevalue("pg_schema_fresh")
    engine = make_engine(url, schema=schema)
    migrate(engine)
    clinic = 900 + uuid.uuid4().int % 1000

    def burst() -> None:
        for _ in range(15):
            with session_factory(engine)() as s:
                repo.audit(s, action="patient.view", actor="user:x", clinic_id=clinic)
                s.commit()

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reports = {r.chain: r for r in audit_chain.verify(engine)}
    assert reports[clinic].rows == 60 and reports[clinic].broken is None
    engine.dispose()


# --- PostgreSQL: the app's role ------------------------------------------------------------------------------------


@pytest.fixture()
def pg_app_role(pg_schema_fresh):
    """A migrated schema (as the owner) and an engine connected as the app's role, hipext_app."""
    schema = pg_schema_fresh
    owner = make_engine(PG_URL, schema=schema)
    migrate(owner)
    write_events(owner, 4)
    with create_engine(PG_URL).begin() as conn:
        conn.execute(text("ALTER ROLE hipext_app LOGIN"))  # trust auth here; a password in production (README)
    app_url = PG_URL.replace("postgres@", "hipext_app@")
    app = make_engine(app_url, schema=schema)
    yield owner, app, app_url, schema
    app.dispose()
    owner.dispose()


@pytest.fixture()
def pg_schema_fresh():
    schema = f"hipext_roles_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.parametrize(
    "attack",
    [
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "UPDATE audit_events SET detail = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "DROP TABLE audit_events",
        "CREATE TABLE audit_events_copy AS SELECT * FROM audit_events",
    ],
)
def test_postgres_app_role_cannot_rewrite_the_log(pg_app_role, attack: str) -> None:
    _owner, app, _url, _schema = pg_app_role
    with app.connect() as conn:
        with pytest.raises(DBAPIError, match="permission denied|must be owner|append-only"):
            conn.execute(text(attack))


def test_postgres_app_role_runs_the_app_and_backdated_rows_show(pg_app_role) -> None:
    owner, app, app_url, schema = pg_app_role
    import warnings

    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

    from hipext.web import create_app

    web = create_app(app_url, schema=schema)  # start-up (migrations at head) works as the app's role
    with web.state.sessionmaker() as s:
        clinic = repo.get_or_create_clinic(s, "Role clinic")
        repo.create_user(s, clinic, f"role-{uuid.uuid4().hex[:6]}", "correct-horse-battery", role="clinician")
        s.commit()
    assert TestClient(web).get("/login").status_code == 200
    web.state.engine.dispose()
    write_events(app, 3)  # the app's role appends through the normal path
    with app.begin() as conn:  # and reads
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE chain = 1")).scalar() == 7
    with session_factory(app)() as s:  # a compromised app backdating through the chain itself
        repo.audit(
            s,
            action="patient.view",
            actor="user:ghost",
            clinic_id=1,
            now=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
        )
        s.commit()
    with app.begin() as conn:  # a row written behind the chain's back
        conn.execute(
            text(
                "INSERT INTO audit_events (at, clinic_id, actor, action, outcome, chain, seq, hash, key_id) "
                "VALUES (now() - interval '1 year', 1, 'user:ghost', 'patient.view', 'ok', 1, 99, 'x', 'none')"
            )
        )
    r = verify_cli(PG_URL, schema)
    assert r.returncode == 1
    assert "link 9 is missing" in r.stdout  # the forged link 99 after link 8
    assert "1 rows dated more than 5 minutes before the database recorded them" in r.stdout
