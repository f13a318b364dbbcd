"""What the API and pages show of notices: each with its delivery state per channel."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class DeliveryOut(BaseModel):
    channel: str
    attempts: int
    delivered_at: datetime | None
    last_attempt_at: datetime | None
    #: The sender's safe reason (never a secret, a signature or a resolved address).
    last_error: str | None


class NoticeOut(BaseModel):
    id: uuid.UUID
    kind: str
    advisory_id: str | None
    subject: str
    priority: int
    known_exploited: bool
    severity_rating: str | None
    immediate: bool
    created_at: datetime
    deliveries: list[DeliveryOut]


class WebhookSecretOut(BaseModel):
    #: Shown once: store it now, it cannot be read back (set a new one to rotate).
    secret: str


class Unacknowledged(BaseModel):
    """A critical (or known-exploited) notice an operator has not acknowledged: every match of the
    advisory in that organisation is still ``open``."""

    organisation_id: uuid.UUID
    organisation: str
    sector: str
    advisory_id: str
    subject: str
    known_exploited: bool
    severity_rating: str | None
    notified_at: datetime
    hours_waiting: float
    open_matches: int
    #: Whether a delivery of the notice reached the operator (email or webhook accepted it).
    delivered: bool
