"""Questionnaires the patient completes through their link (LEFS, HOOS, iHOT-12, VISA-H, PSFS), kept until the
clinician's next visit takes them in.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from hipext.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.Integer, sa.ForeignKey("clinics.id"), nullable=False, index=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True),
        sa.Column("link_id", sa.Integer, sa.ForeignKey("patient_links.id"), nullable=True),
        sa.Column("test", sa.String(60), nullable=False),
        sa.Column("measurement_json", sa.JSON, nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("questionnaire_responses")
