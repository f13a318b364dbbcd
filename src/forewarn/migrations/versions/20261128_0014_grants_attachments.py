"""grants: application attachments, sealed at rest; workforce: résumés sealed at rest

Résumés were stored in plain in ``wf_applications.resume``; the column is replaced by
``resume_sealed``. A migration has no data key, so résumés stored before it cannot be sealed here:
they are dropped (with their name and type) rather than kept in plain. Candidates upload again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 15:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gr_attachments",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("uploaded_by_person_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["gr_applications.id"],
            name=op.f("fk_gr_attachments_application_id_gr_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_person_id"],
            ["people.id"],
            name=op.f("fk_gr_attachments_uploaded_by_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gr_attachments")),
    )
    op.create_index(
        op.f("ix_gr_attachments_application_id"), "gr_attachments", ["application_id"], unique=False
    )
    op.add_column("wf_applications", sa.Column("resume_sealed", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE wf_applications SET resume_type = NULL, resume_name = NULL WHERE resume IS NOT NULL")
    op.drop_column("wf_applications", "resume")


def downgrade() -> None:
    # Sealed résumés cannot be opened without the key: they go, as the plain ones went on upgrade.
    op.add_column("wf_applications", sa.Column("resume", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE wf_applications SET resume_type = NULL, resume_name = NULL WHERE resume_sealed IS NOT NULL"
    )
    op.drop_column("wf_applications", "resume_sealed")
    op.drop_index(op.f("ix_gr_attachments_application_id"), table_name="gr_attachments")
    op.drop_table("gr_attachments")
