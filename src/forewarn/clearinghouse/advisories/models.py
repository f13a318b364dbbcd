"""ORM models of the clearinghouse's advisory side (private: other domains use ``service`` and ``records``).

Cross-domain references (organisations, people) are foreign keys by table name, never relationships.
Advisory content is stored as the normalised internal model (``Advisory.model_dump(mode="json")``);
what a page or an export needs is rebuilt from it through the codecs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.clock import utcnow
from forewarn.core.db import Base, CreatedMixin, IdMixin

_TLPS = "'CLEAR', 'GREEN', 'AMBER', 'AMBER+STRICT', 'RED'"


class Report(IdMixin, CreatedMixin, Base):
    """One vulnerability as a reporter sent it, and where triage took it."""

    __tablename__ = "ch_reports"
    __table_args__ = (
        UniqueConstraint("document_sha256", "document_index", name="uq_ch_reports_document_item"),
        CheckConstraint(f"tlp IN ({_TLPS})", name="tlp_label"),
        CheckConstraint(
            "state IN ('received', 'triage', 'validated', 'rejected', 'duplicate')", name="state_known"
        ),
        Index("ix_ch_reports_ids", "ids", postgresql_using="gin"),
        Index("ix_ch_reports_packages", "packages", postgresql_using="gin"),
    )

    reporter_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    reporter_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    tlp: Mapped[str] = mapped_column(String(12))
    source_format: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str | None] = mapped_column(String(255))
    #: SHA-256 of the document exactly as received (hex), and which of its vulnerabilities this is.
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_index: Mapped[int] = mapped_column(Integer, default=0)
    advisory_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(300))
    #: The normalised internal advisory (``schemas.Advisory``) as JSON.
    advisory: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: The advisory's id and aliases, and its ``ecosystem/name`` packages, for de-duplication.
    ids: Mapped[list[str]] = mapped_column(ARRAY(String(255)))
    packages: Mapped[list[str]] = mapped_column(ARRAY(String(400)))
    #: What a plain-language form adds (how bad, exploited, who else may know).
    form: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    assignee_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    reproduction: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ch_cases.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Case(IdMixin, CreatedMixin, Base):
    """A coordination case: validated vulnerabilities, vendors, an embargo, then a publication."""

    __tablename__ = "ch_cases"
    __table_args__ = (
        CheckConstraint(f"tlp IN ({_TLPS})", name="tlp_label"),
        CheckConstraint("state IN ('open', 'published', 'merged')", name="state_known"),
    )

    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    tlp: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    analyst_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    reporter_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    embargo_until: Mapped[datetime | None] = mapped_column(index=True)
    published_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=0)
    #: CSAF ``document/tracking/revision_history`` so far: [{"date", "number", "summary"}].
    revision_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ch_cases.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Vulnerability(IdMixin, CreatedMixin, Base):
    """One vulnerability of a case: the advisory the clearinghouse will publish for it."""

    __tablename__ = "ch_vulnerabilities"
    __table_args__ = (
        UniqueConstraint("case_id", "ordinal", name="uq_ch_vulnerabilities_case_ordinal"),
        Index("ix_ch_vulnerabilities_ids", "ids", postgresql_using="gin"),
        Index("ix_ch_vulnerabilities_packages", "packages", postgresql_using="gin"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ch_cases.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    advisory_id: Mapped[str] = mapped_column(String(255), unique=True)
    advisory: Mapped[dict[str, Any]] = mapped_column(JSONB)
    ids: Mapped[list[str]] = mapped_column(ARRAY(String(255)))
    packages: Mapped[list[str]] = mapped_column(ARRAY(String(400)))
    base_score: Mapped[float | None]
    rating: Mapped[str | None] = mapped_column(String(10))
    known_exploited: Mapped[bool] = mapped_column(default=False)
    #: The advisory as last published (to say what a revision changed).
    published_advisory: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseVendor(CreatedMixin, Base):
    """An organisation asked to coordinate on a case."""

    __tablename__ = "ch_case_vendors"

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ch_cases.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class VendorStatus(Base):
    """A vendor's statement about one vulnerability of a case (VINCE: affected / not affected / unknown)."""

    __tablename__ = "ch_vendor_statuses"
    __table_args__ = (
        CheckConstraint("status IN ('affected', 'not_affected', 'under_investigation')", name="status_known"),
    )

    vulnerability_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ch_vulnerabilities.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(24))
    statement: Mapped[str | None] = mapped_column(Text)
    updated_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notice(IdMixin, CreatedMixin, Base):
    """A message to an organisation about a case (delivery by email and webhooks comes later)."""

    __tablename__ = "ch_notices"
    __table_args__ = (
        UniqueConstraint("case_id", "organisation_id", "kind", "revision", name="uq_ch_notices_once"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ch_cases.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class Event(IdMixin, Base):
    """The audit trail: every state change of a report or a case, who made it and when."""

    __tablename__ = "ch_events"

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ch_reports.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ch_cases.id", ondelete="CASCADE"), index=True
    )
    actor_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    actor_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class CsafDocument(IdMixin, CreatedMixin, Base):
    """One published revision of a case's CSAF document, byte for byte as served."""

    __tablename__ = "ch_csaf_documents"
    __table_args__ = (UniqueConstraint("case_id", "revision", name="uq_ch_csaf_documents_case_revision"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ch_cases.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    #: Relative to the distribution directory: ``2026/fw-2026-0001.json`` (CSAF §7.1.11, §7.1.7).
    path: Mapped[str] = mapped_column(String(300), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    sha512: Mapped[str] = mapped_column(String(128))
    current_release_date: Mapped[datetime]
    current: Mapped[bool] = mapped_column(default=True, index=True)


class PublicAdvisory(Base):
    """A public OSV record: one the clearinghouse published, or one imported from a public database.

    Keyed by OSV id; an import replaces a record only with a newer ``modified`` (OSV §modified).
    """

    __tablename__ = "ch_public_advisories"
    __table_args__ = (
        CheckConstraint("source IN ('forewarn', 'import')", name="source_known"),
        Index("ix_ch_public_advisories_ids", "ids", postgresql_using="gin"),
        Index("ix_ch_public_advisories_packages", "packages", postgresql_using="gin"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    modified: Mapped[datetime] = mapped_column(index=True)
    published: Mapped[datetime | None]
    withdrawn: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(12), index=True)
    ids: Mapped[list[str]] = mapped_column(ARRAY(String(255)))
    packages: Mapped[list[str]] = mapped_column(ARRAY(String(400)))
    ecosystems: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    summary: Mapped[str | None] = mapped_column(Text)
    #: The OSV record (for imports: as given, after validation; for ours: as exported).
    osv: Mapped[dict[str, Any]] = mapped_column(JSONB)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ch_cases.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class KevEntry(Base):
    """One entry of the CISA Known Exploited Vulnerabilities catalogue last imported."""

    __tablename__ = "ch_kev_entries"

    cve_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_project: Mapped[str] = mapped_column(Text, default="")
    product: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str] = mapped_column(Text, default="")
    date_added: Mapped[datetime]
    due_date: Mapped[datetime | None]
    ransomware: Mapped[bool] = mapped_column(default=False)
    catalog_version: Mapped[str | None] = mapped_column(String(100))
