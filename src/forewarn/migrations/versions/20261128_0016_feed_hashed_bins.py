"""signed feed: hashed-bin delegations (bins key role, bin metadata roles, target path hashes)

Existing targets get their path hash here; the feed itself moves into bins the next time
``feed:refresh`` runs (or with ``forewarn feed use-bins N``): a new top-level targets version that
delegates to the bins, signed with the rest in one transaction.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-28 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_ROLE = "role IN ('root', 'targets', 'snapshot', 'timestamp')"
_KEY_ROLE = "role IN ('root', 'targets', 'snapshot', 'timestamp', 'bins')"
_METADATA_ROLE = "role IN ('root', 'targets', 'snapshot', 'timestamp') OR role ~ '^bin-[0-9a-f]{1,4}$'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_ch_feed_keys_role_known"), "ch_feed_keys", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_keys_role_known"), "ch_feed_keys", _KEY_ROLE)
    op.drop_constraint(op.f("ck_ch_feed_metadata_role_known"), "ch_feed_metadata", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_metadata_role_known"), "ch_feed_metadata", _METADATA_ROLE)
    op.add_column("ch_feed_targets", sa.Column("path_hash", sa.String(length=64, collation="C"), nullable=True))
    op.execute("UPDATE ch_feed_targets SET path_hash = encode(sha256(convert_to(path, 'UTF8')), 'hex')")
    op.alter_column("ch_feed_targets", "path_hash", nullable=False)
    op.create_index(
        "ix_ch_feed_targets_bin", "ch_feed_targets", ["path_hash"], unique=False, postgresql_where="current"
    )


def downgrade() -> None:
    # The bins' metadata and key cannot satisfy the old constraints and are removed: run
    # ``forewarn feed use-bins 0`` first, so that the feed's newest targets is flat again.
    op.drop_index("ix_ch_feed_targets_bin", table_name="ch_feed_targets", postgresql_where="current")
    op.drop_column("ch_feed_targets", "path_hash")
    op.execute("DELETE FROM ch_feed_metadata WHERE role LIKE 'bin-%'")
    op.execute("DELETE FROM ch_feed_keys WHERE role = 'bins'")
    op.drop_constraint(op.f("ck_ch_feed_metadata_role_known"), "ch_feed_metadata", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_metadata_role_known"), "ch_feed_metadata", _OLD_ROLE)
    op.drop_constraint(op.f("ck_ch_feed_keys_role_known"), "ch_feed_keys", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_keys_role_known"), "ch_feed_keys", _OLD_ROLE)
