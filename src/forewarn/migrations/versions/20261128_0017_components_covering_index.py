"""components: covering index for matching (index-only lookups of a package's versions and components)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As ``inventory.models.compact()`` writes it, frozen here: a migration never imports the models.
_COMPACT = (
    "(octet_length(base_ecosystem) + octet_length(package) + octet_length(ecosystem)"
    " + octet_length(version) + coalesce(octet_length(source_package), 0)"
    " + coalesce(octet_length(source_version), 0) + coalesce(octet_length(name), 0)"
    " + coalesce(octet_length(purl), 0)) <= 2000"
)


def upgrade() -> None:
    # On a large existing table, build these by hand with CREATE INDEX CONCURRENTLY first (the same
    # names): this migration then finds them and does nothing.
    op.create_index(
        "ix_ch_components_covering",
        "ch_components",
        ["base_ecosystem", "package", "version"],
        unique=False,
        postgresql_include=[
            "ecosystem",
            "source_package",
            "source_version",
            "asset_id",
            "organisation_id",
            "name",
            "purl",
        ],
        postgresql_where=sa.text(_COMPACT),
        if_not_exists=True,
    )
    op.create_index(
        "ix_ch_components_long",
        "ch_components",
        ["base_ecosystem", "package", "version"],
        unique=False,
        postgresql_where=sa.text(f"NOT {_COMPACT}"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_ch_components_long", table_name="ch_components")
    op.drop_index("ix_ch_components_covering", table_name="ch_components")
