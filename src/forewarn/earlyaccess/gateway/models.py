"""ORM models of the model gateway (private: other domains use ``service`` and ``schemas``).

A review window has at most one upstream (the lab's model endpoint and its one credential); keys are
scoped to a window; every call through the gateway is one ``gateway_calls`` row. The window itself
lives in the review domain: it is referred to by id only (no foreign key across the domain line).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from forewarn.core.db import Base, CreatedMixin, IdMixin


class Upstream(IdMixin, CreatedMixin, Base):
    """The lab's model endpoint for one review window, with its credential sealed at rest."""

    __tablename__ = "gateway_upstreams"

    window_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    lab_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    #: The name reviewers use (``model`` in their requests and in ``/v1/models``).
    model_label: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    upstream_model: Mapped[str] = mapped_column(String(200))
    #: AES-256-GCM with the programme data key; the associated data binds it to ``window_id``.
    credential_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(500))


class Key(IdMixin, Base):
    """A reviewer's scoped key: one window (so one model), a rate limit and a token budget."""

    __tablename__ = "gateway_keys"
    __table_args__ = (
        CheckConstraint("rate_limit_per_minute > 0", name="rate_limit_positive"),
        CheckConstraint("token_budget >= 0", name="budget_not_negative"),
        CheckConstraint("tokens_reserved >= 0", name="reserved_not_negative"),
    )

    window_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gateway_upstreams.window_id", ondelete="CASCADE"), index=True
    )
    holder_person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    holder_organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    #: The first characters of the secret, shown to its holder to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole secret; the secret itself is never stored.
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    token_budget: Mapped[int] = mapped_column(BigInteger)
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Tokens held by calls in flight (reserved before the upstream call, released when it settles).
    tokens_reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    #: GCRA rate limiter state: the theoretical arrival time of the next request.
    rate_tat: Mapped[datetime | None]
    issued_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class Call(Base):
    """One call through the gateway: who, when, what it cost, how it ended; hashes, never bodies."""

    __tablename__ = "gateway_calls"
    __table_args__ = (Index("ix_gateway_calls_window_org", "window_id", "organisation_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateway_keys.id", ondelete="CASCADE"), index=True)
    window_id: Mapped[uuid.UUID]
    organisation_id: Mapped[uuid.UUID]
    person_id: Mapped[uuid.UUID]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    #: ``chat.completions``, ``completions`` or ``models``.
    endpoint: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The HTTP status the caller got; NULL while the call is in flight.
    status: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(40))
    reserved_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    #: True when the upstream reported no usage and the gateway estimated the tokens.
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    request_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    response_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
