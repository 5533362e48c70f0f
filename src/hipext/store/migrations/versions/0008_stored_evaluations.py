"""Stored evaluations: each patient's evaluation kept with the record, keyed by the data/engine version and by a
hash of the record it was computed from (issue 12).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from hipext.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_evaluations",
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), primary_key=True, autoincrement=False),
        sa.Column("clinic_id", sa.Integer, sa.ForeignKey("clinics.id"), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_stored_evaluations_clinic_id", "stored_evaluations", ["clinic_id"])


def downgrade() -> None:
    op.drop_index("ix_stored_evaluations_clinic_id", table_name="stored_evaluations")
    op.drop_table("stored_evaluations")
