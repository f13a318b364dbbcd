"""clearinghouse signed patch feed (TUF)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 15:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLE = "role IN ('root', 'targets', 'snapshot', 'timestamp')"


def upgrade() -> None:
    op.create_table(
        "ch_feed_keys",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("public", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("private_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_ROLE, name=op.f("ck_ch_feed_keys_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ch_feed_keys")),
        sa.UniqueConstraint("keyid", name="uq_ch_feed_keys_keyid"),
    )
    op.create_index(
        "ix_ch_feed_keys_active",
        "ch_feed_keys",
        ["role"],
        unique=False,
        postgresql_where="retired_at IS NULL",
    )
    op.create_table(
        "ch_feed_metadata",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_ROLE, name=op.f("ck_ch_feed_metadata_role_known")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_ch_feed_metadata_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ch_feed_metadata")),
        sa.UniqueConstraint("role", "version", name="uq_ch_feed_metadata_role"),
    )
    op.create_table(
        "ch_feed_targets",
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("advisory_id", sa.String(length=255), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha512", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("custom", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by_person_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('osv', 'csaf', 'manifest', 'patch')", name=op.f("ck_ch_feed_targets_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ch_feed_targets")),
        sa.UniqueConstraint("path", "sha256", name="uq_ch_feed_targets_path"),
    )
    op.create_index("ix_ch_feed_targets_advisory", "ch_feed_targets", ["advisory_id", "kind"], unique=False)
    op.create_index(
        "ix_ch_feed_targets_current", "ch_feed_targets", ["path"], unique=True, postgresql_where="current"
    )


def downgrade() -> None:
    op.drop_index("ix_ch_feed_targets_current", table_name="ch_feed_targets", postgresql_where="current")
    op.drop_index("ix_ch_feed_targets_advisory", table_name="ch_feed_targets")
    op.drop_table("ch_feed_targets")
    op.drop_table("ch_feed_metadata")
    op.drop_index("ix_ch_feed_keys_active", table_name="ch_feed_keys", postgresql_where="retired_at IS NULL")
    op.drop_table("ch_feed_keys")
