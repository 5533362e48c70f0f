"""Per-exercise entries in a home session (done, pain during, pain next morning: each exercise's own, never a
whole-session rating copied into it) and the questionnaires a patient link offers (those the clinician assigned).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("session_logs") as batch:
        batch.add_column(sa.Column("exercises_json", sa.JSON, nullable=True))
    with op.batch_alter_table("patient_links") as batch:
        batch.add_column(sa.Column("questionnaires_json", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient_links") as batch:
        batch.drop_column("questionnaires_json")
    with op.batch_alter_table("session_logs") as batch:
        batch.drop_column("exercises_json")
