"""ORM models of assessments (private: other modules use ``service`` and ``schemas``).

Windows and organisations are referenced by table name only (``review_windows``, ``organisations``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ARRAY, Boolean, ForeignKey, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.clock import utcnow
from forewarn.core.db import Base, CreatedMixin, IdMixin


class Workstream(IdMixin, CreatedMixin, Base):
    """A planned line of work of a window: one area, a lead organisation, members, a due date."""

    __tablename__ = "assessment_workstreams"

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_windows.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    area: Mapped[str] = mapped_column(String(20))
    lead_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    member_organisation_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid()), default=list)
    due_date: Mapped[date]
    status: Mapped[str] = mapped_column(String(20), default="planned")
    notes: Mapped[str] = mapped_column(Text, default="")
    planned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Finding(IdMixin, CreatedMixin, Base):
    """A reviewer's finding about the window's model, under a TLP label."""

    __tablename__ = "assessment_findings"

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_windows.id", ondelete="CASCADE"), index=True
    )
    workstream_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assessment_workstreams.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(20))
    area: Mapped[str] = mapped_column(String(20))
    tlp: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    reproduction: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="new")
    triage_note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    #: sha256 of the imported file (garak report, Inspect log) this finding was made from.
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    filer_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    filer_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    release_to_lab: Mapped[bool] = mapped_column(Boolean, default=False)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("assessment_findings.id", ondelete="SET NULL"), index=True
    )
    affects_critical_infrastructure: Mapped[bool] = mapped_column(Boolean, default=False)
    forward_state: Mapped[str] = mapped_column(String(20), default="none")
    forward_reason: Mapped[str | None] = mapped_column(Text)
    #: The clearinghouse report this finding became (a cross-domain id, no foreign key).
    advisory_report_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evidence(IdMixin, CreatedMixin, Base):
    """An attachment of a finding, sealed with the data key (AAD binds it to this row and finding)."""

    __tablename__ = "assessment_evidence"

    finding_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assessment_findings.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class IssuedReport(IdMixin, CreatedMixin, Base):
    """A report issued for a window (the final one at close, or on the coordinator's demand)."""

    __tablename__ = "assessment_reports"

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_windows.id", ondelete="CASCADE"), index=True
    )
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    #: sha256 of the full (coordinator's) JSON report at issue time; the ledger carries it too.
    sha256: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
