"""Public shapes of the sealed benchmark: what the service, API, pages and CLI exchange.

Nothing here carries item text, answers, the threshold numbers, a score or a call count: the output
models have no field for them. ``PolicyIn`` carries the threshold *into* the service, which seals it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from forewarn.earlyaccess.review.schemas import AccessMode, api_credential, endpoint_model, endpoint_url


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


class GraderIn(BaseModel):
    """The model that grades ``model_graded`` items: custodian-set, e.g. an enclave endpoint.

    An OpenAI-compatible API (``base_url`` ending in ``/v1``) and a model name; the credential is
    sealed with the policy. The grader alone ever receives rubric text.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(min_length=1, max_length=500)
    model: str = Field(min_length=1, max_length=200)
    credential: SecretStr | None = Field(default=None, description="API key of the grader (sealed)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return endpoint_url(value)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        return endpoint_model(value)

    @field_validator("credential")
    @classmethod
    def _credential(cls, value: SecretStr | None) -> SecretStr | None:
        return api_credential(value)

    def __repr__(self) -> str:
        return "GraderIn(<sealed>)"

    def __str__(self) -> str:
        return repr(self)


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
    grader: GraderIn | None = Field(
        default=None, description="the grader model; required when the pack has model-graded items"
    )

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
