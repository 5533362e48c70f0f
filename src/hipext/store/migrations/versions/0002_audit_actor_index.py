"""Index the audit log by actor and time: login throttling counts recent failures from the log itself, so it
holds across worker processes and restarts.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_actor_at", "audit_events", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_actor_at", table_name="audit_events")
