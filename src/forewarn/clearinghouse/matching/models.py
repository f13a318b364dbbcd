"""ORM models of matching (private: other domains use ``service`` and ``schemas``).

Invariants:

- one match per (asset, advisory, ecosystem, package, version): components of an asset that share an
  identity share a match, and its status;
- a match's (asset, organisation) is one of ``ch_assets`` (a single foreign key on both): a match
  belongs to its asset's organisation and goes with the asset;
- ``status`` is one of :class:`~.schemas.MatchStatus`; ``not_affected`` carries a VEX justification;
- ``remediation`` is a digest of what the advisory tells the operator to do for this package (its
  fixed versions and remediations); a revision that leaves it unchanged does not reopen the match nor
  move ``alerted_at`` (CSAF 2.0 §9.1.17);
- advisories are referenced by OSV id (``ch_public_advisories.id``) without a foreign key: imported
  records may be replaced, and a match outlives the row that found it;
- an exposure snapshot holds, for one day, one advisory and one sector, the open matches and the
  operators with open matches as last counted that day (the periodic ``matching:snapshot_exposure``
  job rewrites the day's rows as a whole); past days are never rewritten;
- an operator's VEX statement is stored as its document said it (one row per statement, in document
  order, with the document's digest and when and by whom it was imported) and belongs to that
  organisation alone; ``asset_id`` is set when every product it names is one asset's
  (forewarn's ``urn:forewarn:asset:`` references), and then it speaks for that asset only.
  Deleting a statement stops it applying to later matches; statuses it set stay the operator's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.clock import utcnow
from forewarn.core.db import Base, CreatedMixin, IdMixin, new_id

_STATUSES = "'open', 'acknowledged', 'in_progress', 'fixed', 'not_affected', 'risk_accepted'"


class Match(IdMixin, CreatedMixin, Base):
    """A published advisory affects a component an operator runs on one of its assets."""

    __tablename__ = "ch_matches"
    __table_args__ = (
        UniqueConstraint(
            "asset_id", "advisory_id", "ecosystem", "package", "version", name="uq_ch_matches_identity"
        ),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint("status <> 'not_affected' OR justification IS NOT NULL", name="justified"),
        Index("ix_ch_matches_org_status", "organisation_id", "status"),
        # The asset and its organisation together: a match belongs to its asset's organisation, and
        # goes with the asset (and so with the organisation). One check per inserted match instead of
        # two; lookups by asset use the identity constraint's index (asset_id leads it).
        ForeignKeyConstraint(
            ["asset_id", "organisation_id"],
            ["ch_assets.id", "ch_assets.organisation_id"],
            name="fk_ch_matches_asset_ch_assets",
            ondelete="CASCADE",
        ),
    )

    #: Made by the database (new matches are written by ``COPY``, which names no id).
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=new_id, server_default=func.gen_random_uuid()
    )
    organisation_id: Mapped[uuid.UUID]
    asset_id: Mapped[uuid.UUID]
    advisory_id: Mapped[str] = mapped_column(String(255), index=True)
    ecosystem: Mapped[str] = mapped_column(String(200))
    package: Mapped[str] = mapped_column(String(1000))
    version: Mapped[str] = mapped_column(String(400))
    component_name: Mapped[str] = mapped_column(String(1000))
    purl: Mapped[str | None] = mapped_column(String(4096))
    via: Mapped[str] = mapped_column(String(10))
    fixed: Mapped[list[str]] = mapped_column(ARRAY(String(400)), default=list)
    remediation: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    severity_score: Mapped[float | None] = mapped_column(Float)
    severity_rating: Mapped[str | None] = mapped_column(String(10))
    known_exploited: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), default="open")
    justification: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExposureSnapshot(Base):
    """Open matches of one advisory in one sector, as counted on one day (for charts over time)."""

    __tablename__ = "ch_exposure_snapshots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    advisory_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sector: Mapped[str] = mapped_column(String(40), primary_key=True)
    open_matches: Mapped[int] = mapped_column(Integer)
    open_operators: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class VexStatementRow(IdMixin, CreatedMixin, Base):
    """One VEX statement an operator imported, kept to decide its later matches too."""

    __tablename__ = "ch_vex_statements"
    __table_args__ = (
        CheckConstraint(
            "status IN ('not_affected', 'affected', 'fixed', 'under_investigation')", name="status_known"
        ),
        Index("ix_ch_vex_statements_ids", "ids", postgresql_using="gin"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ch_assets.id", ondelete="CASCADE"))
    imported_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_name: Mapped[str | None] = mapped_column(String(255))
    ordinal: Mapped[int] = mapped_column(Integer)
    vulnerability: Mapped[str] = mapped_column(String(255))
    #: The vulnerability and its aliases (what an advisory's ids are compared with).
    ids: Mapped[list[str]] = mapped_column(ARRAY(String(255)))
    status: Mapped[str] = mapped_column(String(30))
    products: Mapped[list[str]] = mapped_column(ARRAY(Text))
    justification: Mapped[str | None] = mapped_column(String(100))
    impact: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    stated_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(Text, default="")
