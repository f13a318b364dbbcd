"""clearinghouse exposure snapshots

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 15:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ch_exposure_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("advisory_id", sa.String(length=255), nullable=False),
        sa.Column("sector", sa.String(length=40), nullable=False),
        sa.Column("open_matches", sa.Integer(), nullable=False),
        sa.Column("open_operators", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "advisory_id", "sector", name=op.f("pk_ch_exposure_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("ch_exposure_snapshots")
