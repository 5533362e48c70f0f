"""Schema by Alembic on both databases; the audit log is append-only at the database level; Argon2id hashes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from hipext.store import make_engine, migrate, repo, table_names
from hipext.store.passwords import hash_password, password_problem, verify_password

from .conftest import PG_URL

TABLES = {
    "clinics",
    "users",
    "web_sessions",
    "patients",
    "visits",
    "program_overrides",
    "patient_links",
    "session_logs",
    "audit_events",
    "visit_versions",
    "patient_versions",
    "alembic_version",
}


def _the_head() -> str:
    from alembic.script import ScriptDirectory

    from hipext.store.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations must form one chain; heads: {heads} (renumber yours after the current head)"
    return heads[0]


def test_migrations_form_one_chain() -> None:
    _the_head()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_alembic_upgrade_head_creates_the_tables(kind: str, tmp_path) -> None:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
        migrate(engine, "0001")  # an older install...
        assert "ix_audit_actor_at" not in {i["name"] for i in inspect(engine).get_indexes("audit_events")}
        with engine.begin() as conn:  # with a patient recorded before history versions existed
            conn.execute(text("INSERT INTO clinics (name, created_at) VALUES ('old', '2026-01-01 00:00:00')"))
            conn.execute(
                text(
                    "INSERT INTO patients (clinic_id, external_id, age, sex, body_mass_kg, patient_json, history_json,"
                    " created_at, updated_at) VALUES (1, 'OLD-1', 60, 'female', 70, '{}', '{\"involved_side\": "
                    "\"left\"}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        migrate(engine)  # ...is upgraded in place
        assert TABLES <= table_names(engine)
        assert "ix_audit_actor_at" in {i["name"] for i in inspect(engine).get_indexes("audit_events")}
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from history_versions")).scalar() == 1
            assert conn.execute(text("select count(*) from patient_versions")).scalar() == 1  # backfilled
        migrate(engine)  # idempotent: already at head
        engine.dispose()
        return
    schema = f"hipext_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = make_engine(PG_URL, schema=schema)
        migrate(engine)
        assert TABLES <= table_names(engine)
        with engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() == _the_head()
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_audit_log_rejects_update_and_delete(world) -> None:
    with world.session() as s:
        repo.audit(s, action="test.event", actor="test", clinic_id=world.clinics["A"]["id"])
        s.commit()
    for stmt in ("UPDATE audit_events SET action = 'tampered'", "DELETE FROM audit_events"):
        with world.session() as s:
            with pytest.raises(DBAPIError, match="append-only"):
                s.execute(text(stmt))
                s.flush()
            s.rollback()
    with world.session() as s:
        assert s.execute(text("select count(*) from audit_events where action = 'tampered'")).scalar() == 0
        assert s.execute(text("select count(*) from audit_events where action = 'test.event'")).scalar() >= 1


def test_passwords_are_argon2id_and_verified_exactly() -> None:
    h = hash_password("Correct Horse 1")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Correct Horse 1")
    assert not verify_password(h, "correct horse 1")
    assert not verify_password(h, "Correct Horse 1 ")
    assert not verify_password("not-a-hash", "x")


def test_password_policy() -> None:
    assert password_problem("1234567") is not None
    assert password_problem("12345678") is not None  # common
    assert password_problem("eight ch") is None
    assert password_problem("wobbly tuesday marmalade lighthouse " * 2) is None  # 72 characters
    assert password_problem("x" * 200) is not None


def test_stored_user_hash_is_argon2id(world) -> None:
    with world.session() as s:
        user = repo.user_by_username(s, world.clinics["A"]["users"]["clinician"])
        assert user.password_hash.startswith("$argon2id$")


def test_migrations_are_numbered_without_gaps_or_repeats() -> None:
    """Two engineers taking the same number must fail here even when their chain has one head."""
    from alembic.script import ScriptDirectory

    from hipext.store.db import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    revs = list(script.walk_revisions())
    assert [r.down_revision for r in revs][-1] is None and len(revs) == len({r.revision for r in revs})
    numbers = sorted(int(r.revision) for r in revs)
    assert numbers == list(range(1, len(numbers) + 1)), "migrations are numbered 0001, 0002, ... without gaps"
