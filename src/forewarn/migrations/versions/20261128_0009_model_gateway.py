"""model gateway: upstreams, scoped keys, usage records

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 15:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_upstreams",
        sa.Column("window_id", sa.Uuid(), nullable=False),
        sa.Column("lab_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("model_label", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=False),
        sa.Column("upstream_model", sa.String(length=200), nullable=False),
        sa.Column("credential_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lab_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_gateway_upstreams_lab_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_upstreams")),
        sa.UniqueConstraint("window_id", name=op.f("uq_gateway_upstreams_window_id")),
    )
    op.create_index(
        op.f("ix_gateway_upstreams_lab_organisation_id"),
        "gateway_upstreams",
        ["lab_organisation_id"],
        unique=False,
    )
    op.create_table(
        "gateway_keys",
        sa.Column("window_id", sa.Uuid(), nullable=False),
        sa.Column("holder_person_id", sa.Uuid(), nullable=False),
        sa.Column("holder_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("token_budget", sa.BigInteger(), nullable=False),
        sa.Column("tokens_used", sa.BigInteger(), nullable=False),
        sa.Column("tokens_reserved", sa.BigInteger(), nullable=False),
        sa.Column("rate_tat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.Uuid(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("rate_limit_per_minute > 0", name=op.f("ck_gateway_keys_rate_limit_positive")),
        sa.CheckConstraint("token_budget >= 0", name=op.f("ck_gateway_keys_budget_not_negative")),
        sa.CheckConstraint("tokens_reserved >= 0", name=op.f("ck_gateway_keys_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["holder_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_gateway_keys_holder_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["holder_person_id"],
            ["people.id"],
            name=op.f("fk_gateway_keys_holder_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["people.id"], name=op.f("fk_gateway_keys_issued_by_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["gateway_upstreams.window_id"],
            name=op.f("fk_gateway_keys_window_id_gateway_upstreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_gateway_keys_key_hash")),
    )
    op.create_index(
        op.f("ix_gateway_keys_holder_organisation_id"),
        "gateway_keys",
        ["holder_organisation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_gateway_keys_holder_person_id"), "gateway_keys", ["holder_person_id"], unique=False
    )
    op.create_index(op.f("ix_gateway_keys_window_id"), "gateway_keys", ["window_id"], unique=False)
    op.create_table(
        "gateway_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Uuid(), nullable=False),
        sa.Column("window_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("tokens_estimated", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("request_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("response_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["gateway_keys.id"],
            name=op.f("fk_gateway_calls_key_id_gateway_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_calls")),
    )
    op.create_index(op.f("ix_gateway_calls_key_id"), "gateway_calls", ["key_id"], unique=False)
    op.create_index(
        "ix_gateway_calls_window_org", "gateway_calls", ["window_id", "organisation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_calls_window_org", table_name="gateway_calls")
    op.drop_index(op.f("ix_gateway_calls_key_id"), table_name="gateway_calls")
    op.drop_table("gateway_calls")
    op.drop_index(op.f("ix_gateway_keys_window_id"), table_name="gateway_keys")
    op.drop_index(op.f("ix_gateway_keys_holder_person_id"), table_name="gateway_keys")
    op.drop_index(op.f("ix_gateway_keys_holder_organisation_id"), table_name="gateway_keys")
    op.drop_table("gateway_keys")
    op.drop_index(op.f("ix_gateway_upstreams_lab_organisation_id"), table_name="gateway_upstreams")
    op.drop_table("gateway_upstreams")
