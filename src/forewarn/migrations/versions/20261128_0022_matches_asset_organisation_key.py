"""matching: one foreign key from a match to its asset and organisation, no redundant index, ids by
the database

- ``ch_assets`` gets a unique constraint on (id, organisation_id) for rows that name both;
- ``ch_matches``: the two foreign keys (asset, organisation) become one on (asset_id,
  organisation_id) → ``ch_assets`` (a match belongs to its asset's organisation; deleting an
  organisation still removes its matches, through its assets): one check per inserted match;
- ``ix_ch_matches_asset_id`` is dropped: ``uq_ch_matches_identity`` leads with ``asset_id`` and
  serves every lookup by asset (and the cascade from ``ch_assets``);
- ``ch_matches.id`` defaults to ``gen_random_uuid()`` (new matches are written by ``COPY``).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28 19:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint("uq_ch_assets_id_organisation", "ch_assets", ["id", "organisation_id"])
    op.drop_constraint("fk_ch_matches_asset_id_ch_assets", "ch_matches", type_="foreignkey")
    op.drop_constraint("fk_ch_matches_organisation_id_organisations", "ch_matches", type_="foreignkey")
    op.create_foreign_key(
        "fk_ch_matches_asset_ch_assets",
        "ch_matches",
        "ch_assets",
        ["asset_id", "organisation_id"],
        ["id", "organisation_id"],
        ondelete="CASCADE",
    )
    op.drop_index("ix_ch_matches_asset_id", table_name="ch_matches")
    op.alter_column("ch_matches", "id", server_default=sa.text("gen_random_uuid()"))


def downgrade() -> None:
    op.alter_column("ch_matches", "id", server_default=None)
    op.create_index("ix_ch_matches_asset_id", "ch_matches", ["asset_id"])
    op.drop_constraint("fk_ch_matches_asset_ch_assets", "ch_matches", type_="foreignkey")
    op.create_foreign_key(
        "fk_ch_matches_organisation_id_organisations",
        "ch_matches",
        "organisations",
        ["organisation_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_ch_matches_asset_id_ch_assets",
        "ch_matches",
        "ch_assets",
        ["asset_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint("uq_ch_assets_id_organisation", "ch_assets", type_="unique")
