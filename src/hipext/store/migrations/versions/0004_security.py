"""Security: the audit log becomes a per-clinic hash chain (existing rows are chained in place), throttles for logins
and patient links, second factors (TOTP, recovery codes), one-time password resets; on PostgreSQL the roles
`hipext_app` (INSERT and SELECT only on the audit log) and `hipext_auditor` (read the audit log).

Revision ID: 0004
Revises: 0003
"""

import os
from typing import Any

import sqlalchemy as sa
from alembic import op

from hipext.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("HIPEXT_DB_APP_ROLE", "hipext_app")
AUDITOR_ROLE = os.environ.get("HIPEXT_DB_AUDITOR_ROLE", "hipext_auditor")
SQLITE_GUARDS = [
    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
    for verb in ("UPDATE", "DELETE")
]


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table(
        "audit_heads",
        sa.Column("chain", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    new_columns: list[sa.Column[Any]] = [
        sa.Column("chain", sa.Integer, nullable=True),
        sa.Column("seq", sa.Integer, nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), server_default=sa.func.now(), nullable=True),
    ]
    if dialect == "sqlite":
        # SQLite cannot add a column with a non-constant default: the table is rebuilt (its triggers go with it and
        # are recreated below, after the existing rows are chained).
        with op.batch_alter_table("audit_events", recreate="always") as batch:
            for col in new_columns:
                batch.add_column(col)
    else:
        for col in new_columns:
            op.add_column("audit_events", col)
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    _chain_existing_rows(bind)
    with op.batch_alter_table("audit_events") as batch:
        for name in ("chain", "seq", "hash", "key_id"):
            batch.alter_column(name, nullable=False)
        batch.create_unique_constraint("uq_audit_chain_seq", ["chain", "seq"])
    if dialect == "sqlite":
        for stmt in SQLITE_GUARDS:
            op.execute(stmt)
    else:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")

    op.create_table(
        "throttles",
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("failures", sa.Float, nullable=False),
        _ts("blocked_until", nullable=True),
        _ts("updated_at"),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(_ts("password_changed_at", nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(_ts("totp_enabled_at", nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("stage", sa.String(10), nullable=False, server_default="full"))
        batch.add_column(sa.Column("totp_failures", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        _ts("created_at"),
        _ts("used_at", nullable=True),
    )
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
    )
    if dialect == "postgresql":
        _roles(bind)


def _chain_existing_rows(bind: sa.engine.Connection) -> None:
    """Link the rows written before chaining existed, oldest first, so they are protected from now on."""
    from hipext.store import audit_chain  # noqa: PLC0415 - the same code the app appends with

    events = sa.table(
        "audit_events",
        *(sa.column(c) for c in ("id", "chain", "seq", "hash", "key_id", "recorded_at")),
        *(sa.column(c) for c in audit_chain.CHAINED_FIELDS if c != "at"),
        sa.column("at", UTCDateTime()),
    )
    key = audit_chain.current_key(bind.engine.url.render_as_string(hide_password=False))
    heads: dict[int, tuple[int, str]] = {}
    for r in bind.execute(sa.select(events).order_by(events.c.id)).all():
        chain = r.clinic_id or 0
        seq, prev = heads.get(chain, (0, audit_chain.GENESIS))
        digest = audit_chain.link_hash(key, prev, chain, seq + 1, r._mapping)
        bind.execute(
            events.update()
            .where(events.c.id == r.id)
            .values(chain=chain, seq=seq + 1, hash=digest, key_id=audit_chain.key_id(key), recorded_at=r.at)
        )
        heads[chain] = (seq + 1, digest)
    for chain, (seq, digest) in heads.items():
        bind.execute(
            sa.text("INSERT INTO audit_heads (chain, seq, hash) VALUES (:c, :s, :h)"),
            {"c": chain, "s": seq, "h": digest},
        )


def _roles(bind: sa.engine.Connection) -> None:
    """The app's role can read and write the clinic tables but only INSERT and SELECT the audit log, and owns
    nothing (so it cannot disable a trigger). Roles are cluster-wide: created once, granted per schema."""
    for role in (APP_ROLE, AUDITOR_ROLE):
        op.execute(
            f"""DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE "{role}" NOLOGIN;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$"""
        )
    schema = bind.execute(sa.text("select current_schema()")).scalar()
    app, auditor, sch = f'"{APP_ROLE}"', f'"{AUDITOR_ROLE}"', f'"{schema}"'
    for stmt in (
        f"GRANT USAGE ON SCHEMA {sch} TO {app}, {auditor}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {sch} TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {sch} TO {app}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {app}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {app}",
        f"GRANT SELECT ON audit_events, audit_heads, clinics, users TO {auditor}",
        # Tables later migrations create are the app's to use too; the audit log stays as granted above.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {sch} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {sch} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in ("password_resets", "recovery_codes", "throttles"):
        op.drop_table(name)
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("totp_failures")
        batch.drop_column("stage")
    with op.batch_alter_table("users") as batch:
        for name in ("totp_last_step", "totp_enabled_at", "totp_secret", "password_changed_at"):
            batch.drop_column(name)
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    with op.batch_alter_table("audit_events", recreate="always" if dialect == "sqlite" else "auto") as batch:
        batch.drop_constraint("uq_audit_chain_seq", type_="unique")
        for name in ("recorded_at", "key_id", "hash", "seq", "chain"):
            batch.drop_column(name)
    if dialect == "sqlite":
        for stmt in SQLITE_GUARDS:
            op.execute(stmt)
    else:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    op.drop_table("audit_heads")
