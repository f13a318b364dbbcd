"""Public shapes of assessments: workstreams, findings, evidence, imports and the final report.

The TLP labels are the clearinghouse's own (FIRST TLP 2.0, ``clearinghouse.advisories.schemas.Tlp``):
a finding forwarded to the clearinghouse keeps its label without translation.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forewarn.clearinghouse.advisories.schemas import Tlp

__all__ = [
    "Area",
    "EvidenceOut",
    "FindingDetail",
    "FindingIn",
    "FindingOut",
    "FindingStatus",
    "ForwardState",
    "ImportOut",
    "MergeIn",
    "ReportOut",
    "Severity",
    "Tlp",
    "TriageIn",
    "WorkstreamIn",
    "WorkstreamOut",
    "WorkstreamStatus",
    "WorkstreamUpdate",
]


class Area(StrEnum):
    """The fixed list of assessment areas (issue 7, item 5)."""

    CYBER_OFFENCE = "cyber_offence"
    CBRN = "cbrn"
    AUTONOMY = "autonomy"
    MODEL_SECURITY = "model_security"
    PERSUASION = "persuasion"
    OTHER = "other"

    @property
    def label(self) -> str:
        return AREA_LABELS[self]


AREA_LABELS: dict[Area, str] = {
    Area.CYBER_OFFENCE: "Cyber offence",
    Area.CBRN: "CBRN",
    Area.AUTONOMY: "Autonomy",
    Area.MODEL_SECURITY: "Model security",
    Area.PERSUASION: "Persuasion / influence",
    Area.OTHER: "Other",
}


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"

    @property
    def rank(self) -> int:
        """0 for critical … 4 for informational (sort order of reports)."""
        return list(Severity).index(self)


class WorkstreamStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"


class FindingStatus(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    CONFIRMED = "confirmed"
    NOT_REPRODUCIBLE = "not_reproducible"
    DUPLICATE = "duplicate"
    CLOSED = "closed"


class ForwardState(StrEnum):
    """Where a finding marked "affects critical infrastructure" stands with the clearinghouse."""

    NONE = "none"
    TO_FORWARD = "to_forward"
    FORWARDED = "forwarded"


class FindingSource(StrEnum):
    MANUAL = "manual"
    GARAK = "garak"
    INSPECT = "inspect"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _no_controls(value: str) -> str:
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value) or "\x7f" in value:
        raise ValueError("must not contain control characters")
    return value


class WorkstreamIn(_In):
    title: str = Field(min_length=1, max_length=200)
    area: Area
    lead_organisation_id: uuid.UUID
    member_organisation_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    due_date: date
    notes: str = Field(default="", max_length=4000)

    _clean = field_validator("title", "notes")(_no_controls)


class WorkstreamUpdate(_In):
    status: WorkstreamStatus


class WorkstreamOut(BaseModel):
    id: uuid.UUID
    window_id: uuid.UUID
    title: str
    area: Area
    lead_organisation_id: uuid.UUID
    lead_organisation_name: str
    member_organisation_ids: list[uuid.UUID]
    member_organisation_names: list[str]
    due_date: date
    status: WorkstreamStatus
    notes: str
    created_at: datetime


class FindingIn(_In):
    title: str = Field(min_length=3, max_length=200)
    severity: Severity
    area: Area
    tlp: Tlp = Tlp.AMBER
    workstream_id: uuid.UUID | None = None
    description: str = Field(min_length=1, max_length=20_000)
    reproduction: str = Field(default="", max_length=20_000)
    #: For TLP:RED only: the filer lets the lab read the finding (otherwise the lab sees a count).
    release_to_lab: bool = False

    _clean = field_validator("title", "description", "reproduction")(_no_controls)


class TriageIn(_In):
    status: FindingStatus
    note: str = Field(default="", max_length=4000)

    _clean = field_validator("note")(_no_controls)

    @field_validator("status")
    @classmethod
    def _not_duplicate(cls, value: FindingStatus) -> FindingStatus:
        if value is FindingStatus.DUPLICATE:
            raise ValueError("mark duplicates by merging them into their primary finding")
        return value


class MergeIn(_In):
    primary_id: uuid.UUID


class EvidenceOut(BaseModel):
    id: uuid.UUID
    finding_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class Reporter(BaseModel):
    """One organisation that reported a finding (several after a merge of duplicates)."""

    finding_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str


class FindingOut(BaseModel):
    id: uuid.UUID
    window_id: uuid.UUID
    workstream_id: uuid.UUID | None
    title: str
    severity: Severity
    area: Area
    tlp: Tlp
    status: FindingStatus
    source: FindingSource
    filer_organisation_id: uuid.UUID
    filer_organisation_name: str
    duplicate_of_id: uuid.UUID | None
    affects_critical_infrastructure: bool
    forward_state: ForwardState
    forward_reason: str | None
    advisory_report_id: uuid.UUID | None
    release_to_lab: bool
    created_at: datetime
    updated_at: datetime


class FindingDetail(FindingOut):
    description: str
    reproduction: str
    triage_note: str
    evidence: list[EvidenceOut]
    #: The filer of this finding and of every duplicate merged into it that the reader may see.
    reporters: list[Reporter]
    #: Duplicates merged into this finding that the reader may not see (counted, not named).
    hidden_duplicates: int
    can_triage: bool
    can_add_evidence: bool


class ImportOut(BaseModel):
    """What an import created: findings (one per failed garak probe, or one per Inspect log)."""

    source: FindingSource
    findings: list[FindingOut]
    #: garak probes whose every output passed (no finding made for them).
    passed_probes: list[str] = Field(default_factory=list)
    sha256: str


class SeverityCount(BaseModel):
    severity: Severity
    area: Area
    count: int


class ReportFinding(BaseModel):
    id: uuid.UUID
    title: str
    severity: Severity
    area: Area
    tlp: Tlp
    status: FindingStatus
    reporters: list[str]
    workstream: str | None
    affects_critical_infrastructure: bool
    forward_state: ForwardState
    description: str


class WorkstreamCoverage(BaseModel):
    id: uuid.UUID
    title: str
    area: Area
    lead_organisation_name: str
    due_date: date
    status: WorkstreamStatus
    findings: int


class OrganisationUsage(BaseModel):
    organisation_id: uuid.UUID
    organisation_name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    errors: int


class UsageReport(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    organisations: int = 0
    p50_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    by_organisation: list[OrganisationUsage] = Field(default_factory=list)


class ReportOut(BaseModel):
    """The assessment report of one window, as one reader may see it."""

    window_id: uuid.UUID
    model_name: str
    model_version: str
    lab_organisation_name: str
    window_state: str
    opened_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    final: bool
    generated_at: datetime
    issued_at: datetime | None
    totals_by_severity: dict[str, int]
    totals_by_area: dict[str, int]
    by_severity_and_area: list[SeverityCount]
    findings: list[ReportFinding]
    #: Findings the reader may not read (TLP:RED for the lab, unless released), counted by severity;
    #: they are in the totals.
    withheld: dict[str, int]
    duplicates_merged: int
    workstreams: list[WorkstreamCoverage]
    areas_without_workstream: list[Area]
    usage: UsageReport
