"""ORM models of the review programme (private: other domains use ``service`` and ``schemas``).

Tables: the model registry (``review_models``), the versioned participation agreement and the labs'
signatures, review windows with their access grants and notices, and the per-model message channel
between a lab and the agencies (attachments sealed).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class RegisteredModel(IdMixin, CreatedMixin, Base):
    """A model a lab registered with the programme (one row per name and version)."""

    __tablename__ = "review_models"
    __table_args__ = (UniqueConstraint("organisation_id", "name", "version", name="org_name_version"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    registered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(100), index=True)
    modality: Mapped[str] = mapped_column(String(20))
    #: Information only: never a precondition of anything (DESIGN R1).
    planned_release: Mapped[date]
    #: ``enclave`` (weights delivered, government-run endpoint) or ``remote`` (the lab's endpoint).
    access_mode: Mapped[str] = mapped_column(String(10))
    endpoint_base_url: Mapped[str] = mapped_column(String(500))
    endpoint_model: Mapped[str] = mapped_column(String(200))
    #: The endpoint credential, sealed with the programme data key (AAD binds it to this row).
    credential_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Model card fields (free text written by the lab).
    card_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_intended_use: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_capabilities: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_limitations: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_training_data: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_evaluations: Mapped[str] = mapped_column(Text, default="", server_default="")
    card_url: Mapped[str | None] = mapped_column(String(500))
    #: The one bit of the latest determination (None: not determined) and which one said it.
    covered: Mapped[bool | None] = mapped_column(Boolean)
    determination_id: Mapped[uuid.UUID | None]
    #: When the lab said the model is public (closes its open windows; never asked for).
    released_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


class Agreement(IdMixin, CreatedMixin, Base):
    """One published version of the participation agreement (immutable once published)."""

    __tablename__ = "review_agreements"

    version: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(71))
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    published_at: Mapped[datetime]


class Participation(IdMixin, CreatedMixin, Base):
    """A lab's signature of one agreement version; ended by withdrawal or by signing a newer version."""

    __tablename__ = "review_participations"
    __table_args__ = (
        # At most one live participation per lab.
        Index(
            "uq_review_participations_live",
            "organisation_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('withdrawn', 'superseded')", name="end_reason_known"
        ),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_agreements.id", ondelete="RESTRICT"))
    agreement_version: Mapped[int]
    signed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(20))
    ended_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    withdraw_reason: Mapped[str | None] = mapped_column(String(1000))


class Window(IdMixin, CreatedMixin, Base):
    """A review window of one model: opened by the lab, open from the credential to ``closes_at``."""

    __tablename__ = "review_windows"
    __table_args__ = (
        # One window at a time per model.
        Index(
            "uq_review_windows_live_model",
            "model_id",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
        ),
        CheckConstraint(
            "close_reason IS NULL OR close_reason IN ('time', 'released', 'withdrawn', 'lab', 'programme')",
            name="close_reason_known",
        ),
    )

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_models.id", ondelete="CASCADE"), index=True
    )
    lab_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    opened_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    length_days: Mapped[int]
    opened_at: Mapped[datetime]
    access_starts_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(20))
    upstream_base_url: Mapped[str | None] = mapped_column(String(500))
    upstream_model: Mapped[str | None] = mapped_column(String(200))


class AccessGrant(IdMixin, CreatedMixin, Base):
    """An organisation's access to a window: an agency (by the coordinator) or a partner (by a panel)."""

    __tablename__ = "review_access_grants"
    __table_args__ = (
        Index(
            "uq_review_access_grants_live",
            "window_id",
            "organisation_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        CheckConstraint("kind IN ('agency', 'partner')", name="kind_known"),
    )

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_windows.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    #: Partner grants: the named staff who may hold keys (person ids as strings).
    staff_person_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    decision_ref: Mapped[str | None] = mapped_column(String(200))
    granted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class Notice(IdMixin, CreatedMixin, Base):
    """A notice about a window to one participating organisation; each kind once per organisation."""

    __tablename__ = "review_notices"
    __table_args__ = (
        UniqueConstraint("window_id", "organisation_id", "kind", name="window_org_kind"),
        CheckConstraint("kind IN ('opened', 'close_7d', 'close_1d', 'closed')", name="kind_known"),
        CheckConstraint(
            "email_status IN ('pending', 'sent', 'failed', 'not_configured', 'no_recipients')",
            name="email_status_known",
        ),
    )

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_windows.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    email_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    emailed_at: Mapped[datetime | None]
    email_error: Mapped[str | None] = mapped_column(String(300))


class Message(IdMixin, CreatedMixin, Base):
    """One message on a model's channel between its lab and the agencies (recorded, never edited)."""

    __tablename__ = "review_messages"
    __table_args__ = (CheckConstraint("side IN ('lab', 'agency')", name="side_known"),)

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_models.id", ondelete="CASCADE"), index=True
    )
    author_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    author_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    author_name: Mapped[str] = mapped_column(String(200))
    side: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)


class MessageAttachment(IdMixin, CreatedMixin, Base):
    """A file on a message, sealed with the data key (AAD: the attachment's id and its message's id)."""

    __tablename__ = "review_message_attachments"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    blob_sealed: Mapped[bytes] = mapped_column(LargeBinary)
