"""ORM models of the transparency log (private to this domain: others use ``service``).

The tables are append-only: a trigger (migration 0002) refuses UPDATE and DELETE on entries,
nodes, checkpoints and cosignatures. Someone with the database's superuser rights can still
change them, which is what public verification exists to catch.

No foreign key leads to ``organisations``: an entry records an id as a historical fact, and
nothing done to accounts may change or remove it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class LedgerEntry(Base):
    """One leaf: the RFC 8785 canonical JSON of a governance event, at its tree index."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint('"index" >= 0', name="index_not_negative"),
        CheckConstraint("length(leaf_hash) = 32", name="leaf_hash_size"),
        Index("ix_ledger_entries_subject_ids", "subject_ids", postgresql_using="gin"),
    )

    #: The leaf's position in the tree: 0, 1, 2, ... without gaps (one sequencer).
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    timestamp: Mapped[datetime] = mapped_column(index=True)
    actor_organisation_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    #: The subjects' ids (a JSON array of strings), for search; the entry's data is the record.
    subject_ids: Mapped[list[str]] = mapped_column(JSONB)
    #: The exact bytes that were hashed: RFC 8785 canonical JSON.
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: RFC 9162 §2.1.1 leaf hash, SHA-256(0x00 || data): the level-0 node of the tree.
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNode(Base):
    """The hash of a complete aligned subtree ``(level, index)``, leaves (level 0) included.

    It covers leaves ``[index << level, (index + 1) << level)`` and never changes once
    written. Proofs and roots are read from here only, never from ``ledger_entries``: a
    changed or moved entry row then shows up as a mismatch that verification can locate.
    """

    __tablename__ = "ledger_nodes"
    __table_args__ = (
        CheckConstraint("level BETWEEN 0 AND 63", name="level_range"),
        CheckConstraint('"index" >= 0', name="index_not_negative"),
        CheckConstraint("length(hash) = 32", name="hash_size"),
    )

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpoint(Base):
    """A signed tree head (C2SP tlog-checkpoint), kept so any two can be proved consistent."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_not_negative"),
        CheckConstraint("length(root_hash) = 32", name="root_hash_size"),
    )

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    #: The signed note exactly as the log signed it (text, blank line, the log's signature).
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class LedgerWitness(IdMixin, CreatedMixin, Base):
    """A witness whose cosignatures the log accepts (registered by a platform operator)."""

    __tablename__ = "ledger_witnesses"
    __table_args__ = (UniqueConstraint("name", "key_id", name="uq_ledger_witnesses_name_key_id"),)

    name: Mapped[str] = mapped_column(String(200))
    #: signed-note key id, 8 hex digits.
    key_id: Mapped[str] = mapped_column(String(8))
    #: The witness's verifier key, ``name+id+base64(0x04 || key)``.
    vkey: Mapped[str] = mapped_column(String(400), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    removed_at: Mapped[datetime | None]


class LedgerCosignature(IdMixin, Base):
    """A witness's ``cosignature/v1`` of one checkpoint, served with it."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (
        UniqueConstraint("checkpoint_size", "witness_id", name="uq_ledger_cosignatures_checkpoint_witness"),
    )

    checkpoint_size: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_checkpoints.size"))
    witness_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_witnesses.id"))
    #: The signature line, ``"— <name> <base64(key id || timestamp || signature)>\\n"``.
    line: Mapped[str] = mapped_column(Text)
    #: The time the witness says it cosigned (the cosignature's own timestamp).
    signed_at: Mapped[datetime]
    received_at: Mapped[datetime]
