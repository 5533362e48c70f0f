"""Keep every version of a patient's history (existing patients get their current history as version one).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from hipext.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.Integer, sa.ForeignKey("clinics.id"), nullable=False, index=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True),
        sa.Column("history_json", sa.JSON, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO history_versions (clinic_id, patient_id, history_json, created_by, created_at) "
        "SELECT clinic_id, id, history_json, NULL, created_at FROM patients"
    )


def downgrade() -> None:
    op.drop_table("history_versions")
