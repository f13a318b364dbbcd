"""Public shapes of trusted-partner governance: registry, requests, panels, rounds, ballots, statistics."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forewarn.earlyaccess.partners.rules import Constituency, Outcome, Vote

__all__ = ["Constituency", "Outcome", "Vote"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PartnerStatus(StrEnum):
    APPLIED = "applied"
    VETTED = "vetted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class PartnerCategory(StrEnum):
    SECURITY_FIRM = "security_firm"
    RESEARCH_INSTITUTE = "research_institute"
    UNIVERSITY = "university"
    NONPROFIT = "nonprofit"
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"
    OTHER = "other"


class RelationshipKind(StrEnum):
    INVESTOR = "investor"
    CUSTOMER = "customer"
    COMPETITOR = "competitor"
    CONTRACTOR = "contractor"


class Control(StrEnum):
    """Security posture a partner attests to (each with a statement the vetting agency checks)."""

    SOC2_TYPE2 = "soc2_type2"
    ISO_27001 = "iso_27001"
    NIST_800_171 = "nist_800_171"
    ACCESS_CONTROL = "access_control"
    DATA_HANDLING = "data_handling"
    INCIDENT_RESPONSE = "incident_response"
    STAFF_SCREENING = "staff_screening"


class ChecklistItem(StrEnum):
    """The vetting checklist an agency completes; every item must pass for ``vetted``."""

    IDENTITY_VERIFIED = "identity_verified"
    OWNERSHIP_REVIEWED = "ownership_reviewed"
    ATTESTATIONS_REVIEWED = "attestations_reviewed"
    STAFF_SCREENED = "staff_screened"
    RELATIONSHIPS_REVIEWED = "relationships_reviewed"
    SANCTIONS_CHECKED = "sanctions_checked"


class Attestation(Strict):
    control: Control
    statement: str = Field(min_length=5, max_length=2000)


class Relationship(Strict):
    lab_organisation_id: uuid.UUID
    kind: RelationshipKind
    note: str = Field(default="", max_length=500)


class ApplicationIn(Strict):
    category: PartnerCategory
    capabilities: str = Field(min_length=10, max_length=5000)
    attestations: list[Attestation] = Field(min_length=1, max_length=len(Control))
    #: Emails of the partner's people to be given access (each must belong to the partner organisation).
    staff_emails: list[str] = Field(min_length=1, max_length=50)
    relationships: list[Relationship] = Field(default_factory=list, max_length=50)

    @field_validator("staff_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a person is listed twice")
        return cleaned

    @field_validator("attestations")
    @classmethod
    def _controls(cls, value: list[Attestation]) -> list[Attestation]:
        if len({a.control for a in value}) != len(value):
            raise ValueError("a control is attested twice")
        return value


class StaffOut(BaseModel):
    person_id: uuid.UUID
    name: str
    email: str


class RelationshipOut(BaseModel):
    lab_organisation_id: uuid.UUID
    lab_name: str
    kind: RelationshipKind
    note: str


class ApplicationOut(BaseModel):
    category: PartnerCategory
    capabilities: str
    attestations: list[Attestation]
    staff: list[StaffOut]
    relationships: list[RelationshipOut]


class VettingIn(Strict):
    checklist: dict[ChecklistItem, bool]
    reason: str = Field(min_length=10, max_length=2000)

    @field_validator("checklist")
    @classmethod
    def _complete(cls, value: dict[ChecklistItem, bool]) -> dict[ChecklistItem, bool]:
        missing = [i.value for i in ChecklistItem if i not in value]
        if missing:
            raise ValueError("every checklist item needs an answer; missing: " + ", ".join(missing))
        return value


class StatusIn(Strict):
    status: PartnerStatus
    reason: str = Field(min_length=10, max_length=2000)


class PartnerOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    category: PartnerCategory
    status: PartnerStatus
    status_reason: str
    version: int
    application: ApplicationOut
    checklist: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class PartnerVersionOut(BaseModel):
    version: int
    event: str
    status: PartnerStatus
    reason: str
    category: PartnerCategory
    application: dict[str, Any]
    checklist: dict[str, Any] | None
    actor_organisation_id: uuid.UUID | None
    created_at: datetime


class CompetitorIn(Strict):
    organisation_id: uuid.UUID


class CompetitorOut(BaseModel):
    lab_organisation_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    created_at: datetime


class PanelKind(StrEnum):
    STANDING = "standing"
    APPEAL = "appeal"


class PanelIn(Strict):
    name: str = Field(min_length=3, max_length=200)
    kind: PanelKind


class PanelMemberIn(Strict):
    email: str = Field(min_length=3, max_length=254)


class PanelMemberOut(BaseModel):
    person_id: uuid.UUID
    name: str
    organisation_id: uuid.UUID
    organisation_name: str
    constituency: Constituency
    active: bool


class PanelOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: PanelKind
    active: bool
    members: list[PanelMemberOut]


class RequestIn(Strict):
    window_id: uuid.UUID
    workstream: str = Field(min_length=3, max_length=300)
    workstream_id: uuid.UUID | None = None
    justification: str = Field(min_length=10, max_length=5000)
    #: Default: every staff member of the application.
    staff_emails: list[str] | None = Field(default=None, max_length=50)
    #: An agency requesting on a partner's behalf names the partner organisation.
    partner_organisation_id: uuid.UUID | None = None


class ConflictIn(Strict):
    reason: str = Field(min_length=10, max_length=2000)


class BallotIn(Strict):
    vote: Vote
    rationale: str = Field(default="", max_length=5000)


class AppealIn(Strict):
    grounds: str = Field(min_length=20, max_length=5000)


class PanelAssignIn(Strict):
    panel_id: uuid.UUID


class RedactionIn(Strict):
    reason: str = Field(min_length=10, max_length=2000)


class ConflictOut(BaseModel):
    source: str
    reason: str
    at: datetime


class BallotOut(BaseModel):
    id: uuid.UUID
    vote: Vote
    #: None once redacted (``redaction_reason`` says why) or when the caller may not read it.
    rationale: str | None
    rationale_commitment: str
    cast_at: datetime
    redacted_at: datetime | None
    redaction_reason: str | None


class SeatOut(BaseModel):
    person_id: uuid.UUID
    name: str
    organisation_id: uuid.UUID
    organisation_name: str
    constituency: Constituency
    recused: bool
    conflicts: list[ConflictOut]
    voted: bool
    #: Shown once the round is decided (before that, only whether the member voted).
    ballot: BallotOut | None


class RoundOut(BaseModel):
    id: uuid.UUID
    number: int
    panel_id: uuid.UUID | None
    panel_name: str | None
    rules_version: int
    rules_digest: str
    opened_at: datetime | None
    deadline_at: datetime | None
    decided_at: datetime | None
    outcome: Outcome | None
    tally: dict[str, Any] | None
    appeal_until: datetime | None
    appellant: str | None
    grounds: str | None
    seats: list[SeatOut]


class RequestOut(BaseModel):
    id: uuid.UUID
    partner_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    window_id: uuid.UUID
    lab_organisation_id: uuid.UUID
    lab_name: str
    workstream: str
    workstream_id: uuid.UUID | None
    justification: str
    staff: list[StaffOut]
    state: str
    granted_ref: str | None
    created_at: datetime
    rounds: list[RoundOut]
    #: Who may appeal now (``partner`` or ``lab``), if anyone.
    appealable_by: str | None


class QueueItem(BaseModel):
    round_id: uuid.UUID
    request_id: uuid.UUID
    number: int
    partner_name: str
    lab_name: str
    workstream: str
    deadline_at: datetime | None
    recused: bool
    voted: bool


class AccessOut(BaseModel):
    """For a lab: who holds access to its windows, and the decision that gave it."""

    request_id: uuid.UUID
    window_id: uuid.UUID
    partner_name: str
    workstream: str
    state: str
    decision_ref: str | None
    decided_at: datetime | None
    staff: list[StaffOut]
    keys: list[dict[str, Any]]


class StatRow(BaseModel):
    group: str
    requests: int
    decided: int
    approved: int
    denied: int
    lapsed: int
    approval_rate: float | None
    median_days_to_decision: float | None


class AppealStats(BaseModel):
    filed: int
    by_partner: int
    by_lab: int
    overturned: int
    upheld: int
    lapsed: int
    pending: int


class StatisticsOut(BaseModel):
    by_category: list[StatRow]
    by_lab: list[StatRow]
    appeals: AppealStats
    rules_version: int


class Mismatch(BaseModel):
    round_id: uuid.UUID
    problem: str


class CheckOut(BaseModel):
    rounds_checked: int
    ballots_checked: int
    #: Ballots and decisions compared with their published (checkpointed) transparency-log entries.
    log_entries_compared: int
    mismatches: list[Mismatch]
    ok: bool


class RulesOut(BaseModel):
    version: int
    digest: str
    current: bool
    document: dict[str, Any]
