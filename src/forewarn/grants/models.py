"""Grant tables (private to ``grants``): calls, applications, reviews, awards, milestones, tools.

Cross-domain references (organisations, people, API tokens) are foreign keys by table name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class Call(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_calls"

    agency_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    funding_pool: Mapped[int] = mapped_column(BigInteger)
    award_ceiling: Mapped[int] = mapped_column(BigInteger)
    eligibility: Mapped[str] = mapped_column(Text)
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None]


class Application(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_applications"

    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gr_calls.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    created_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    tool_name: Mapped[str] = mapped_column(String(200))
    detects: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    summary: Mapped[str] = mapped_column(Text)
    approach: Mapped[str] = mapped_column(Text)
    budget: Mapped[int] = mapped_column(BigInteger)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    team: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    submitted_at: Mapped[datetime | None]
    decision_rationale: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]


class Attachment(IdMixin, CreatedMixin, Base):
    """A file attached to an application, sealed at rest (AES-GCM under the programme's data key).

    The associated data binds the ciphertext to this row and its application, so a sealed blob copied
    to another row (or another application) does not open. ``sha256`` is of the plaintext.
    """

    __tablename__ = "gr_attachments"

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gr_applications.id", ondelete="CASCADE"), index=True
    )
    uploaded_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Assignment(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_assignments"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_person_id", name="gr_assignment_once"),)

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gr_applications.id", ondelete="CASCADE"), index=True
    )
    reviewer_person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    conflict: Mapped[bool | None] = mapped_column(Boolean)
    conflict_reason: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    comments: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    scored_at: Mapped[datetime | None]


class Award(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_awards"

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gr_applications.id", ondelete="CASCADE"), unique=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)


class Milestone(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_milestones"

    award_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gr_awards.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]
    amount: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    report: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None]
    officer_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]


class Disbursement(IdMixin, CreatedMixin, Base):
    __tablename__ = "gr_disbursements"

    award_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gr_awards.id", ondelete="CASCADE"), index=True)
    milestone_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gr_milestones.id", ondelete="CASCADE"), unique=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)


class Tool(IdMixin, CreatedMixin, Base):
    """A funded detection tool registered as a clearinghouse scanner."""

    __tablename__ = "gr_tools"

    award_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gr_awards.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_tokens.id", ondelete="SET NULL"))
