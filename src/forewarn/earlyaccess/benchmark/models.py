"""ORM models of the sealed benchmark (private to this package).

Sealed columns (``*_sealed``) hold ``DataKey.seal`` output whose associated data names the table, the
column and the row id, so a sealed value cannot be moved to another row or column.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class BenchmarkPack(IdMixin, CreatedMixin, Base):
    """A sealed pack as imported: its public header and the sealed file itself."""

    __tablename__ = "benchmark_packs"

    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    classification: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(16))
    pack_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The sealed pack file (header + AES-GCM ciphertext), exactly as built.
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    #: The number of items, sealed (the header hides it).
    item_count_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="active")
    imported_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    retired_at: Mapped[datetime | None]


class ThresholdPolicy(IdMixin, CreatedMixin, Base):
    """A threshold policy: the statistics are sealed; the per-family limit is public."""

    __tablename__ = "benchmark_policies"

    pack_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benchmark_packs.id"), index=True)
    #: proposed → active → superseded; or withdrawn.
    status: Mapped[str] = mapped_column(String(12), default="proposed", index=True)
    #: p0, delta, alpha, beta, max_calls, the design's boundaries and the commitment salt.
    spec_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: ``sha256:`` HMAC commitment to the policy (salted), also in the ledger.
    commitment: Mapped[str] = mapped_column(String(71))
    family_limit: Mapped[int] = mapped_column(Integer)
    period_days: Mapped[int] = mapped_column(Integer)
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    activated_at: Mapped[datetime | None]


class PolicyConsultation(IdMixin, CreatedMixin, Base):
    """An agency's consultation on a policy (ONCD and CISA)."""

    __tablename__ = "benchmark_consultations"
    __table_args__ = (UniqueConstraint("policy_id", "agency", name="policy_agency"),)

    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benchmark_policies.id", ondelete="CASCADE"))
    agency: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    concur: Mapped[bool]
    #: The comment may discuss the threshold: sealed.
    comment_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Determination(IdMixin, CreatedMixin, Base):
    """A lab's request for a covered-model determination, and its outcome (one public bit)."""

    __tablename__ = "benchmark_determinations"

    #: Cross-domain by table name: the review registry's model.
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_models.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    family: Mapped[str] = mapped_column(String(100), index=True)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    policy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("benchmark_policies.id"))
    pack_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("benchmark_packs.id"))
    mode: Mapped[str] = mapped_column(String(10))
    #: requested → running → completed; or failed; or refused (the per-family limit).
    status: Mapped[str] = mapped_column(String(10), index=True)
    #: covered / not_covered once completed: the one bit the lab learns.
    verdict: Mapped[str | None] = mapped_column(String(12))
    #: The draw seed and, once done, the sealed result (calls, calls to the verdict).
    state_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: How many times a worker started this run (restarts and resumes are recorded here).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Public, non-sealed notes on the run's life (resumed, failed), for custodians.
    notes: Mapped[str] = mapped_column(Text, default="")
    completed_at: Mapped[datetime | None]
    #: The DSSE envelope (JSON) and its SHA-256.
    attestation: Mapped[str | None] = mapped_column(Text)
    attestation_hash: Mapped[str | None] = mapped_column(String(71))
