"""Public shapes of the model gateway: what its service returns to other domains and to its routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, SecretStr

#: Every key's secret starts with this (so a leaked one is recognisable by scanners).
KEY_PREFIX = "fwk_"


class UpstreamOut(BaseModel):
    """A window's upstream, without its credential (only whether one is set)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    window_id: uuid.UUID
    lab_organisation_id: uuid.UUID
    model_label: str
    base_url: str
    upstream_model: str
    has_credential: bool
    opens_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    close_reason: str | None


class KeyOut(BaseModel):
    """A key as its holder, the coordinator and the lab may see it: never the secret."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    window_id: uuid.UUID
    model_label: str
    holder_person_id: uuid.UUID
    holder_organisation_id: uuid.UUID
    prefix: str
    rate_limit_per_minute: int
    token_budget: int
    tokens_used: int
    tokens_remaining: int
    issued_by: uuid.UUID | None
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None
    #: ``active``, ``expired`` or ``revoked`` at the time of reading.
    state: str


class IssuedKey(BaseModel):
    """A newly issued key: the only time its secret is shown."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    window_id: uuid.UUID
    prefix: str
    expires_at: datetime
    secret: SecretStr


class OrgUsage(BaseModel):
    organisation_id: uuid.UUID
    calls: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    first_call_at: datetime | None
    last_call_at: datetime | None


class UsageSummary(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    errors: int
    organisations: int
    p50_latency_ms: float | None
    p99_latency_ms: float | None


class WindowUsage(BaseModel):
    """A window's usage as its lab sees it (the API and page of the lab's safety lead)."""

    window_id: uuid.UUID
    model_label: str
    opens_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    summary: UsageSummary
    organisations: list[OrgUsage]
