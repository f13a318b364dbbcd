"""Workforce tables (private): postings and applications. Pathways are published constants.

Applications hold personal data: they are read only by the applicant and by the posting agency's
hiring officers, and are deleted outright (not marked) when the applicant asks. A résumé is sealed
at rest (AES-GCM under the programme's data key, associated data naming the application and the
person), so a copy of the table does not give it away.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.clock import utcnow
from forewarn.core.db import Base, CreatedMixin, IdMixin


class Posting(IdMixin, CreatedMixin, Base):
    __tablename__ = "wf_postings"

    agency_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    pathway: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200))
    clearance: Mapped[str] = mapped_column(String(20))
    grade_low: Mapped[int] = mapped_column(Integer)
    grade_high: Mapped[int] = mapped_column(Integer)
    closes_at: Mapped[datetime]


class Assessment(IdMixin, CreatedMixin, Base):
    """A candidate's auto-scored skills assessment; shared with an agency only by their choice."""

    __tablename__ = "wf_assessments"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    pathway: Mapped[str] = mapped_column(String(40))
    correct: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool]


class JobApplication(IdMixin, CreatedMixin, Base):
    __tablename__ = "wf_applications"
    __table_args__ = (UniqueConstraint("posting_id", "person_id", name="wf_apply_once"),)

    posting_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("wf_postings.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    route: Mapped[str] = mapped_column(String(20))
    statement: Mapped[str] = mapped_column(Text)
    experience: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="applied")
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    hired_at: Mapped[datetime | None]
    resume_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    resume_type: Mapped[str | None] = mapped_column(String(40))
    resume_name: Mapped[str | None] = mapped_column(String(200))
    assessment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("wf_assessments.id", ondelete="SET NULL")
    )
