"""Public shapes of the sealed benchmark: what the service, API, pages and CLI exchange.

Nothing here carries item text, answers, the threshold numbers, a score or a call count: the output
models have no field for them. ``PolicyIn`` carries the threshold *into* the service, which seals it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from forewarn.earlyaccess.review.schemas import AccessMode


class PackStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class PolicyStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"


class DeterminationStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUSED = "refused"


class PublicVerdict(StrEnum):
    COVERED = "covered"
    NOT_COVERED = "not_covered"


class PackOut(BaseModel):
    """A pack's public header and status (custodians only)."""

    id: uuid.UUID
    name: str
    version: str
    classification: str
    key_id: str
    pack_hash: str
    status: PackStatus
    created_at: datetime
    retired_at: datetime | None


class PolicyIn(BaseModel):
    """A threshold policy as proposed. Sealed by the service; never echoed."""

    model_config = ConfigDict(extra="forbid")

    pack_id: uuid.UUID
    p0: float
    delta: float
    alpha: float
    beta: float
    max_calls: int
    family_limit: int = Field(ge=1, le=100, description="determinations per model family per period")
    period_days: int = Field(ge=1, le=3660)

    def __repr__(self) -> str:
        return f"PolicyIn(pack_id={self.pack_id}, <sealed>)"

    def __str__(self) -> str:
        return repr(self)


class ConsultationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    concur: bool
    comment: str = Field(min_length=1, max_length=8000)

    def __repr__(self) -> str:
        return f"ConsultationIn(concur={self.concur}, <sealed>)"


class ConsultationOut(BaseModel):
    agency: str
    organisation_id: uuid.UUID | None
    concur: bool
    created_at: datetime


class PolicyOut(BaseModel):
    """A policy as custodians see it in lists: status, commitment, consultations; never the numbers."""

    id: uuid.UUID
    pack_id: uuid.UUID
    pack_hash: str
    status: PolicyStatus
    commitment: str
    family_limit: int
    period_days: int
    consultations: list[ConsultationOut]
    created_at: datetime
    activated_at: datetime | None


class DeterminationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID


class DeterminationOut(BaseModel):
    """A determination: for the lab, one bit (``verdict``) and the attestation's hash.

    ``policy_id``, ``pack_id``, ``attempts`` and ``notes`` are filled for custodians only.
    """

    id: uuid.UUID
    model_id: uuid.UUID
    organisation_id: uuid.UUID
    family: str
    mode: AccessMode
    status: DeterminationStatus
    verdict: PublicVerdict | None
    created_at: datetime
    completed_at: datetime | None
    attestation_hash: str | None
    policy_id: uuid.UUID | None = None
    pack_id: uuid.UUID | None = None
    attempts: int | None = None
    notes: str | None = None
