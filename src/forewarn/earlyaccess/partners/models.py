"""Partner governance tables (private to ``partners``).

Cross-domain references (organisations, people) are foreign keys by table name; review windows are
referenced by id only (read through ``review.service``). ``partners_versions`` is append-only: every
application, amendment, vetting and status change adds a row with the whole record as it then stood.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class Partner(IdMixin, CreatedMixin, Base):
    """The current state of an organisation's trusted-partner record (mirrors its latest version)."""

    __tablename__ = "partners_partners"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), unique=True
    )
    category: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    #: capabilities, attestations, staff, relationships (see ``schemas.ApplicationIn``).
    application: Mapped[dict[str, Any]] = mapped_column(JSONB)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class PartnerVersion(IdMixin, CreatedMixin, Base):
    __tablename__ = "partners_versions"
    __table_args__ = (UniqueConstraint("partner_id", "version", name="partners_version_once"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_partners.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    #: applied | amended | vetted | vetting_failed | status_changed
    event: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40))
    application: Mapped[dict[str, Any]] = mapped_column(JSONB)
    checklist: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    actor_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    actor_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )


class LabCompetitor(IdMixin, CreatedMixin, Base):
    """A lab's declaration that an organisation competes with it (its members recuse on its windows)."""

    __tablename__ = "partners_lab_competitors"
    __table_args__ = (
        UniqueConstraint(
            "lab_organisation_id", "competitor_organisation_id", name="partners_competitor_once"
        ),
    )

    lab_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    competitor_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    declared_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )


class Panel(IdMixin, CreatedMixin, Base):
    __tablename__ = "partners_panels"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: standing (first decisions) | appeal (second decisions)
    kind: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)


class PanelMember(IdMixin, CreatedMixin, Base):
    __tablename__ = "partners_panel_members"
    __table_args__ = (UniqueConstraint("panel_id", "person_id", name="partners_member_once"),)

    panel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_panels.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    constituency: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)


class AccessRequest(IdMixin, CreatedMixin, Base):
    __tablename__ = "partners_requests"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_partners.id", ondelete="RESTRICT"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    #: A review window (``review_windows.id``), read through review's service.
    window_id: Mapped[uuid.UUID] = mapped_column(index=True)
    lab_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    workstream: Mapped[str] = mapped_column(String(300))
    workstream_id: Mapped[uuid.UUID | None]
    justification: Mapped[str] = mapped_column(Text)
    staff_person_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid()))
    requested_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    requested_by_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    #: pending | approved | denied | lapsed (the latest round's outcome; ``final`` once no appeal lies)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    #: Set when access was granted through review (the decision reference passed there).
    granted_ref: Mapped[str | None] = mapped_column(String(100))


class Round(IdMixin, CreatedMixin, Base):
    """One panel's decision on a request: round 1 by the standing panel, round 2 on appeal."""

    __tablename__ = "partners_rounds"
    __table_args__ = (UniqueConstraint("request_id", "number", name="partners_round_once"),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_requests.id", ondelete="RESTRICT"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    panel_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners_panels.id", ondelete="RESTRICT"))
    rules_version: Mapped[int] = mapped_column(Integer)
    rules_digest: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    appeal_until: Mapped[datetime | None]
    #: Round 2 only: who appealed (partner | lab), their organisation and grounds.
    appellant: Mapped[str | None] = mapped_column(String(16))
    appellant_organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    grounds: Mapped[str | None] = mapped_column(Text)


class Seat(IdMixin, CreatedMixin, Base):
    """A panel member's seat in one round, fixed when the round opens, with conflicts and recusal."""

    __tablename__ = "partners_seats"
    __table_args__ = (UniqueConstraint("round_id", "person_id", name="partners_seat_once"),)

    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_rounds.id", ondelete="RESTRICT"), index=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    constituency: Mapped[str] = mapped_column(String(16))
    #: [{"source": "lab" | "competitor" | "requester" | "declared", "reason": str, "at": iso}]
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    recused: Mapped[bool] = mapped_column(default=False)


class Ballot(IdMixin, CreatedMixin, Base):
    """A cast ballot: never changed, except a recorded, reasoned redaction of its rationale text."""

    __tablename__ = "partners_ballots"

    seat_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_seats.id", ondelete="RESTRICT"), unique=True
    )
    round_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners_rounds.id", ondelete="RESTRICT"), index=True
    )
    vote: Mapped[str] = mapped_column(String(10))
    rationale: Mapped[str | None] = mapped_column(Text)
    #: Salted SHA-256 commitment to the rationale as cast (in the transparency log); the salt stays here.
    rationale_commitment: Mapped[str] = mapped_column(String(80))
    rationale_salt: Mapped[bytes] = mapped_column(LargeBinary)
    redacted_at: Mapped[datetime | None]
    redaction_reason: Mapped[str | None] = mapped_column(Text)
    redacted_by_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
