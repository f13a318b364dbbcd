"""Public shapes of grants: what goes in and out of the service, the API, the pages and the CLI."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Detects(StrEnum):
    """What a funded tool finds: model vulnerabilities, or flaws in AI software and infrastructure."""

    PROMPT_INJECTION = "prompt_injection"
    DATA_EXTRACTION = "data_extraction"
    JAILBREAK = "jailbreak"
    MODEL_OTHER = "model_other"
    AI_SOFTWARE = "ai_software"
    AI_INFRASTRUCTURE = "ai_infrastructure"


class CallState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ApplicationState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"
    AWARDED = "awarded"
    DECLINED = "declined"


class MilestoneState(StrEnum):
    PENDING = "pending"
    REPORTED = "reported"
    ACCEPTED = "accepted"
    RETURNED = "returned"


class Criterion(Strict):
    key: str = Field(pattern=_KEY.pattern)
    name: str = Field(min_length=1, max_length=200)
    weight: float = Field(gt=0, le=1)


class CallIn(Strict):
    title: str = Field(min_length=3, max_length=200)
    purpose: str = Field(min_length=10, max_length=10_000)
    funding_pool: int = Field(gt=0, le=10**12, description="US dollars")
    award_ceiling: int = Field(gt=0, le=10**12, description="US dollars")
    eligibility: str = Field(min_length=3, max_length=5_000)
    criteria: list[Criterion] = Field(min_length=1, max_length=12)
    opens_at: AwareDatetime
    closes_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> CallIn:
        if not math.isclose(sum(c.weight for c in self.criteria), 1.0, abs_tol=1e-6):
            raise ValueError("criteria: the weights must sum to 1")
        if len({c.key for c in self.criteria}) != len(self.criteria):
            raise ValueError("criteria: each key must be unique")
        if self.award_ceiling > self.funding_pool:
            raise ValueError("award_ceiling: cannot exceed the funding pool")
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at: must be after opens_at")
        return self


class CallOut(BaseModel):
    id: uuid.UUID
    agency_organisation_id: uuid.UUID
    agency_name: str
    title: str
    purpose: str
    funding_pool: int
    award_ceiling: int
    eligibility: str
    criteria: list[Criterion]
    opens_at: datetime
    closes_at: datetime
    state: CallState
    published_at: datetime | None


class MilestonePlan(Strict):
    title: str = Field(min_length=1, max_length=200)
    due_at: AwareDatetime
    amount: int = Field(gt=0, le=10**12)


class ApplicationIn(Strict):
    tool_name: str = Field(min_length=2, max_length=200)
    detects: list[Detects] = Field(min_length=1, max_length=6)
    summary: str = Field(min_length=10, max_length=5_000)
    approach: str = Field(min_length=10, max_length=20_000)
    budget: int = Field(gt=0, le=10**12, description="US dollars")
    milestones: list[MilestonePlan] = Field(min_length=1, max_length=20)
    team: str = Field(min_length=2, max_length=5_000)

    @model_validator(mode="after")
    def _sums(self) -> ApplicationIn:
        if sum(m.amount for m in self.milestones) != self.budget:
            raise ValueError("milestones: the amounts must add up to the budget")
        return self


class ReviewOut(BaseModel):
    """A review as an applicant sees it after the decision: no reviewer identity."""

    scores: dict[str, int]
    comments: dict[str, str]


class AttachmentOut(BaseModel):
    """An attachment's description (never its content: that is a separate, checked download)."""

    id: uuid.UUID
    name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class ApplicationOut(BaseModel):
    id: uuid.UUID
    call_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    tool_name: str
    detects: list[Detects]
    summary: str
    approach: str
    budget: int
    milestones: list[MilestonePlan]
    team: str
    state: ApplicationState
    submitted_at: datetime | None
    decided_at: datetime | None
    decision_rationale: str | None
    reviews: list[ReviewOut] | None = None
    attachments: list[AttachmentOut] = Field(default_factory=list)


class AssignIn(Strict):
    reviewer_email: str = Field(min_length=3, max_length=254)


class AssignmentOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    reviewer_person_id: uuid.UUID
    conflict: bool | None
    scored: bool


class ConflictIn(Strict):
    conflict: bool
    reason: str = Field(default="", max_length=2_000)


class ScoreIn(Strict):
    scores: dict[str, int] = Field(min_length=1, max_length=12)
    comments: dict[str, str] = Field(default_factory=dict, max_length=12)

    @model_validator(mode="after")
    def _range(self) -> ScoreIn:
        for key, value in self.scores.items():
            if not 0 <= value <= 10:
                raise ValueError(f"scores.{key}: must be 0 to 10")
        for key, text in self.comments.items():
            if len(text) > 5_000:
                raise ValueError(f"comments.{key}: at most 5000 characters")
        return self


class RankRow(BaseModel):
    application_id: uuid.UUID
    organisation_name: str
    tool_name: str
    budget: int
    state: ApplicationState
    reviews: int
    mean_raw: float | None
    mean_z: float | None
    rank: int | None


class DecisionIn(Strict):
    award: bool
    rationale: str = Field(min_length=20, max_length=10_000)
    amount: int | None = Field(default=None, gt=0, le=10**12)


class MilestoneOut(BaseModel):
    id: uuid.UUID
    ordinal: int
    title: str
    due_at: datetime
    amount: int
    state: MilestoneState
    report: str | None
    officer_note: str | None
    disbursed: bool


class MilestoneReportIn(Strict):
    report: str = Field(min_length=10, max_length=20_000)


class MilestoneDecisionIn(Strict):
    accept: bool
    note: str = Field(default="", max_length=5_000)


class Performance(BaseModel):
    """A funded tool's record in the clearinghouse, from the clearinghouse's own data."""

    submitted: int
    validated: int
    duplicates: int
    rejected: int
    open: int
    median_hours_to_validation: float | None
    #: Advisories the clearinghouse published from the tool's validated reports.
    advisories_published: int = 0
    #: Organisations (operators) with a match to one of those advisories: a count, never who.
    operators_matched: int = 0


class ToolOut(BaseModel):
    id: uuid.UUID
    name: str
    registered_at: datetime
    token_id: uuid.UUID | None


class ToolRegistered(ToolOut):
    #: The scanner's API token: shown once, never stored.
    token: str


class ToolIn(Strict):
    name: str = Field(min_length=2, max_length=200)
    days: int = Field(default=366, ge=1, le=366)


class AwardOut(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    call_id: uuid.UUID
    call_title: str
    organisation_id: uuid.UUID
    organisation_name: str
    tool_name: str
    detects: list[Detects]
    summary: str
    amount: int
    disbursed: int
    awarded_at: datetime
    milestones: list[MilestoneOut]
    tool: ToolOut | None
    performance: Performance | None
