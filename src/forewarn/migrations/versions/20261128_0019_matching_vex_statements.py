"""matching: operators' VEX statements, stored to decide later matches too

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-28 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ch_vex_statements",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("asset_id", sa.Uuid(), nullable=True),
        sa.Column("imported_by", sa.Uuid(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("document_name", sa.String(length=255), nullable=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("vulnerability", sa.String(length=255), nullable=False),
        sa.Column("ids", postgresql.ARRAY(sa.String(length=255)), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("products", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("justification", sa.String(length=100), nullable=True),
        sa.Column("impact", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("stated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('not_affected', 'affected', 'fixed', 'under_investigation')",
            name=op.f("ck_ch_vex_statements_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["ch_assets.id"],
            name=op.f("fk_ch_vex_statements_asset_id_ch_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["imported_by"],
            ["people.id"],
            name=op.f("fk_ch_vex_statements_imported_by_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_ch_vex_statements_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ch_vex_statements")),
    )
    op.create_index(
        "ix_ch_vex_statements_ids", "ch_vex_statements", ["ids"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_ch_vex_statements_organisation_id"), "ch_vex_statements", ["organisation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ch_vex_statements_organisation_id"), table_name="ch_vex_statements")
    op.drop_index("ix_ch_vex_statements_ids", table_name="ch_vex_statements", postgresql_using="gin")
    op.drop_table("ch_vex_statements")
