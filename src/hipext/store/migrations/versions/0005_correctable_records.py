"""Correctable records: every version of a visit and of the patient block is kept with the reason for the change;
an entered-in-error visit is voided (kept, excluded from evaluation). Existing rows become version one.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from hipext.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("visits", sa.Column("voided_at", UTCDateTime(), nullable=True))
    op.add_column("visits", sa.Column("void_reason", sa.Text, nullable=True))
    op.add_column("visits", sa.Column("voided_by", sa.Integer, nullable=True))
    op.create_table(
        "visit_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.Integer, sa.ForeignKey("clinics.id"), nullable=False, index=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visits.id"), nullable=False, index=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("data_json", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO visit_versions (clinic_id, patient_id, visit_id, date, data_json, reason, created_by, created_at) "
        "SELECT clinic_id, patient_id, id, date, data_json, NULL, created_by, created_at FROM visits"
    )
    op.create_table(
        "patient_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinic_id", sa.Integer, sa.ForeignKey("clinics.id"), nullable=False, index=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True),
        sa.Column("patient_json", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO patient_versions (clinic_id, patient_id, patient_json, reason, created_by, created_at) "
        "SELECT clinic_id, id, patient_json, NULL, NULL, created_at FROM patients"
    )


def downgrade() -> None:
    op.drop_table("patient_versions")
    op.drop_table("visit_versions")
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("voided_by")
        batch.drop_column("void_reason")
        batch.drop_column("voided_at")
