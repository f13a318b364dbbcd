"""ORM models of the signed patch feed (private: other domains use ``service``).

Invariants:

- one row per version of each role's metadata (``uq (role, version)``), never updated: clients
  walking a root rotation fetch each ``N.root.json`` in turn, so every root version is kept for
  ever; consistent snapshots serve ``N.snapshot.json``, ``N.targets.json`` and ``N.bin-x.json`` by
  version (TUF specification §5.3.4, §5.5), and versions no client can still need (older than what
  was current ``feed_keep_hours`` ago) are pruned (``service.prune``);
- a target is stored once per content (``uq (path, sha256)``) and served as ``<sha256>.<name>``;
  ``current`` marks the content listed by the newest targets metadata; ``superseded_at`` says when a
  content stopped being current, and it stays downloadable for ``feed_keep_hours`` after that, for
  clients still holding an older snapshot;
- role keys are Ed25519; the private half of an online key is stored only sealed with the
  programme's data key, the associated data naming the table, the role and the key id (a sealed key
  cannot be moved to another role); a retired key is never used to sign again; a root key may be
  **offline** (``private_sealed`` NULL: only its public half is here, and root metadata it must
  sign is signed elsewhere and imported, ``service.import_root``); no other role's key can be;
- ``path_hash`` is SHA-256(path), the key hashed-bin delegations sort targets by (TUF §4.5);
- only TLP:CLEAR material (published advisories, their manifests and the patch files uploaded for
  them) ever becomes a target, plus the feed's own index (``kind`` 'index', ``advisory_id`` empty):
  ``index.json`` and one ``index/<bin>.json`` per bin, listing the other targets.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin

#: Keys: the four top-level roles and the one key all hashed bins share.
KEY_ROLE_CHECK = "role IN ('root', 'targets', 'snapshot', 'timestamp', 'bins')"
#: Metadata: the four top-level roles and the bins (``bin-`` and the bin's first hash prefix).
ROLE_CHECK = "role IN ('root', 'targets', 'snapshot', 'timestamp') OR role ~ '^bin-[0-9a-f]{1,4}$'"


class FeedKey(IdMixin, CreatedMixin, Base):
    """One Ed25519 key of one top-level role, or of the hashed bins."""

    __tablename__ = "ch_feed_keys"
    __table_args__ = (
        UniqueConstraint("keyid", name="uq_ch_feed_keys_keyid"),
        CheckConstraint(KEY_ROLE_CHECK, name="role_known"),
        CheckConstraint("private_sealed IS NOT NULL OR role = 'root'", name="only_root_offline"),
        Index("ix_ch_feed_keys_active", "role", postgresql_where="retired_at IS NULL"),
    )

    role: Mapped[str] = mapped_column(String(16))
    keyid: Mapped[str] = mapped_column(String(64))
    #: The public key as TUF metadata lists it (``keytype``, ``scheme``, ``keyval``).
    public: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: NULL: an offline root key (its private half never reaches the server).
    private_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    retired_at: Mapped[datetime | None]


class FeedMetadata(IdMixin, CreatedMixin, Base):
    """One signed version of one role's metadata, byte for byte as served."""

    __tablename__ = "ch_feed_metadata"
    __table_args__ = (
        UniqueConstraint("role", "version", name="uq_ch_feed_metadata_role"),
        CheckConstraint(ROLE_CHECK, name="role_known"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    role: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime]


class FeedTarget(IdMixin, CreatedMixin, Base):
    """One content of one target path (an advisory document, a patch manifest or a patch file)."""

    __tablename__ = "ch_feed_targets"
    __table_args__ = (
        UniqueConstraint("path", "sha256", name="uq_ch_feed_targets_path"),
        CheckConstraint("kind IN ('osv', 'csaf', 'manifest', 'patch', 'index')", name="kind_known"),
        Index("ix_ch_feed_targets_current", "path", unique=True, postgresql_where="current"),
        Index("ix_ch_feed_targets_advisory", "advisory_id", "kind"),
        Index("ix_ch_feed_targets_bin", "path_hash", postgresql_where="current"),
    )

    path: Mapped[str] = mapped_column(String(400))
    #: SHA-256 of ``path`` (hex, "C" collation so ranges follow hex order): a bin's current targets
    #: are one index range scan (``tuf_repo.Bins.hash_range``).
    path_hash: Mapped[str] = mapped_column(String(64, collation="C"))
    kind: Mapped[str] = mapped_column(String(10))
    advisory_id: Mapped[str] = mapped_column(String(255))
    length: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    sha512: Mapped[str] = mapped_column(String(128))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    #: The target's ``custom`` field in the targets metadata (kind, advisory, purl, version ...).
    custom: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    current: Mapped[bool] = mapped_column(default=True)
    #: When this content stopped being current (NULL while current); pruned ``feed_keep_hours`` later.
    superseded_at: Mapped[datetime | None]
    #: Who uploaded a patch file (organisation and person ids; no foreign key across domains).
    uploaded_by_organisation_id: Mapped[uuid.UUID | None]
    uploaded_by_person_id: Mapped[uuid.UUID | None]
