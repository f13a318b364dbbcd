"""signed feed: index targets, pruning of superseded contents, offline root keys

- targets of kind ``index`` (the feed's own listing of its targets, ``index.json`` and
  ``index/<bin>.json``), built by the next ``feed:refresh``;
- ``ch_feed_targets.superseded_at``: when a content stopped being current (contents superseded
  before this migration count as superseded now, so they are pruned ``feed_keep_hours`` after it);
- ``ch_feed_keys.private_sealed`` may be NULL for a root key held offline (root only).

Revision ID: 0021
Revises: 0019
Create Date: 2026-11-28 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KIND = "kind IN ('osv', 'csaf', 'manifest', 'patch')"
_KIND = "kind IN ('osv', 'csaf', 'manifest', 'patch', 'index')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_ch_feed_targets_kind_known"), "ch_feed_targets", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_targets_kind_known"), "ch_feed_targets", _KIND)
    op.add_column("ch_feed_targets", sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE ch_feed_targets SET superseded_at = now() WHERE NOT current")
    op.alter_column("ch_feed_keys", "private_sealed", existing_type=sa.LargeBinary(), nullable=True)
    op.create_check_constraint(
        op.f("ck_ch_feed_keys_only_root_offline"),
        "ch_feed_keys",
        "private_sealed IS NOT NULL OR role = 'root'",
    )


def downgrade() -> None:
    # Offline root keys cannot be kept without their private half: move the root back online
    # (``forewarn feed rotate-key root`` after importing a root that lists an online key) first.
    op.drop_constraint(op.f("ck_ch_feed_keys_only_root_offline"), "ch_feed_keys", type_="check")
    op.execute("DELETE FROM ch_feed_keys WHERE private_sealed IS NULL")
    op.alter_column("ch_feed_keys", "private_sealed", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_column("ch_feed_targets", "superseded_at")
    op.execute("DELETE FROM ch_feed_targets WHERE kind = 'index'")
    op.drop_constraint(op.f("ck_ch_feed_targets_kind_known"), "ch_feed_targets", type_="check")
    op.create_check_constraint(op.f("ck_ch_feed_targets_kind_known"), "ch_feed_targets", _OLD_KIND)
