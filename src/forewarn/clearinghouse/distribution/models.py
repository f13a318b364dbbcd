"""ORM models of distribution (private: other domains use ``service``).

Invariants:

- one notice per (subscriber organisation, advisory, what the organisation is told): ``key`` is a
  digest of that content and unique, so a fan-out run twice creates nothing twice, while a revision
  that changes the remediation (a re-alert, CSAF 2.0 §9.1.17) yields a new key and a new notice;
- a notice is ``immediate`` or waits for a digest; a digest is itself a notice (``kind = 'digest'``)
  and the notices it carries point at it through ``digest_id``;
- one delivery per (notice, channel); ``webhook_id`` is stable across attempts so the receiver can
  de-duplicate (Standard Webhooks §webhook-id); ``last_error`` never holds secrets;
- a webhook secret is stored only sealed with the data key (AAD: table and organisation id).
"""

from __future__ import annotations

import uuid
from datetime import datetime

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
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class Notice(IdMixin, CreatedMixin, Base):
    """What one subscriber organisation is told about one advisory (or a digest of such notices)."""

    __tablename__ = "ch_dist_notices"
    __table_args__ = (
        UniqueConstraint("key", name="uq_ch_dist_notices_key"),
        CheckConstraint("kind IN ('notice', 'digest')", name="kind_known"),
        Index(
            "ix_ch_dist_notices_pending_digest",
            "organisation_id",
            postgresql_where="NOT immediate AND digest_id IS NULL AND kind = 'notice'",
        ),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10), default="notice")
    advisory_id: Mapped[str | None] = mapped_column(String(255), index=True)
    key: Mapped[str] = mapped_column(String(64))
    #: Lower is more urgent: known exploited first, then severity.
    priority: Mapped[int] = mapped_column(Integer)
    known_exploited: Mapped[bool] = mapped_column(default=False)
    severity_rating: Mapped[str | None] = mapped_column(String(10))
    immediate: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    digest_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ch_dist_notices.id", ondelete="SET NULL"))


class Delivery(IdMixin, CreatedMixin, Base):
    """One notice sent on one channel: its attempts, last error and when it was delivered."""

    __tablename__ = "ch_dist_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel", name="uq_ch_dist_deliveries_channel"),
        CheckConstraint("channel IN ('email', 'webhook')", name="channel_known"),
    )

    notice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ch_dist_notices.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(10))
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


class WebhookSecret(CreatedMixin, Base):
    """A subscriber's Standard Webhooks signing secret, sealed (shown once, when it is set)."""

    __tablename__ = "ch_dist_webhook_secrets"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
