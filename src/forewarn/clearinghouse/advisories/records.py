"""Public shapes of the clearinghouse workflow: what goes in and out of the service, the API and pages.

(The advisory model itself is :mod:`.schemas`.) Text written by reporters and vendors is untrusted:
it is bounded here and escaped wherever it is shown.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from forewarn.clearinghouse.advisories.schemas import OSV_ECOSYSTEMS, AttackClass, Rating, Tlp


class SourceFormat(StrEnum):
    OSV = "osv"
    CSAF = "csaf"
    CVE5 = "cve5"
    SARIF = "sarif"
    GARAK = "garak"
    FORM = "form"
    FINDING = "finding"


#: Formats a document upload may declare (the rest are made by forewarn itself).
DOCUMENT_FORMATS = (
    SourceFormat.OSV,
    SourceFormat.CSAF,
    SourceFormat.CVE5,
    SourceFormat.SARIF,
    SourceFormat.GARAK,
)


class ReportState(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    VALIDATED = "validated"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


OPEN_REPORT_STATES = (ReportState.RECEIVED, ReportState.TRIAGE)


class CaseState(StrEnum):
    OPEN = "open"
    PUBLISHED = "published"
    MERGED = "merged"


class VendorStatusValue(StrEnum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNDER_INVESTIGATION = "under_investigation"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_Text = Annotated[str, StringConstraints(max_length=20_000)]


# --- intake --------------------------------------------------------------------------------------


class HowBad(StrEnum):
    """How bad it is, in the reporter's words (mapped to a qualitative rating)."""

    MINOR = "minor"
    SERIOUS = "serious"
    SEVERE = "severe"
    EXPLOITED = "exploited"

    @property
    def rating(self) -> Rating:
        return {
            HowBad.MINOR: Rating.LOW,
            HowBad.SERIOUS: Rating.MEDIUM,
            HowBad.SEVERE: Rating.HIGH,
            HowBad.EXPLOITED: Rating.CRITICAL,
        }[self]


class AffectedKind(StrEnum):
    PACKAGE = "package"
    MODEL = "model"
    PRODUCT = "product"


class ReportForm(Strict):
    """The plain-language report: for people who are not security specialists."""

    what_happened: str = Field(min_length=10, max_length=20_000)
    title: str | None = Field(default=None, max_length=200)
    affected_kind: AffectedKind = AffectedKind.PRODUCT
    product: str = Field(min_length=1, max_length=200, description="product, package or model name")
    vendor: str | None = Field(default=None, max_length=200)
    versions: str | None = Field(default=None, max_length=500, description="affected versions, free text")
    ecosystem: str | None = Field(default=None, max_length=50, description="for packages: PyPI, npm, ...")
    attack_class: AttackClass | None = None
    how_bad: HowBad = HowBad.SERIOUS
    who_knows: str | None = Field(default=None, max_length=5_000)
    tlp: Tlp = Tlp.AMBER

    @field_validator("ecosystem")
    @classmethod
    def _ecosystem(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.partition(":")[0] not in OSV_ECOSYSTEMS:
            raise ValueError("not an ecosystem forewarn knows (PyPI, npm, Maven, Go, crates.io, ...)")
        return value

    @field_validator("title", "vendor", "versions", "who_knows")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return value or None


class ReportOut(BaseModel):
    id: uuid.UUID
    state: ReportState
    title: str
    advisory_id: str
    tlp: Tlp
    source_format: SourceFormat
    source_name: str | None
    document_sha256: str
    reporter_organisation_id: uuid.UUID | None
    assignee_person_id: uuid.UUID | None
    case_id: uuid.UUID | None
    case_number: str | None = None
    created_at: datetime
    updated_at: datetime


class Suggestion(BaseModel):
    """A possible duplicate: why, and what of."""

    kind: str = Field(description="report, case or public")
    reason: str = Field(description="same alias, or same package with overlapping ranges")
    ref: str = Field(description="report id, case number or public advisory id")
    title: str | None = None
    case_id: uuid.UUID | None = None
    detail: str


class EventOut(BaseModel):
    at: datetime
    action: str
    actor_person_id: uuid.UUID | None
    actor_organisation_id: uuid.UUID | None
    detail: dict[str, Any]


class ReportDetail(ReportOut):
    advisory: dict[str, Any]
    form: dict[str, Any] | None
    reproduction: str | None
    decision_reason: str | None
    events: list[EventOut] = Field(default_factory=list)


class ValidationOut(BaseModel):
    """What ``validate`` found in a document, without storing anything."""

    source: str
    format: SourceFormat | None
    ok: bool
    advisories: list[str] = Field(default_factory=list)
    problems: list[dict[str, str]] = Field(default_factory=list)
    message: str | None = None


# --- triage --------------------------------------------------------------------------------------


class AssignIn(Strict):
    person_id: uuid.UUID | None = Field(default=None, description="the analyst; the caller when omitted")


class ReproductionIn(Strict):
    notes: str = Field(min_length=1, max_length=20_000)


class ValidateIn(Strict):
    case_id: uuid.UUID | None = Field(
        default=None, description="add to this open case; a new case if omitted"
    )
    tlp: Tlp | None = Field(default=None, description="the case's TLP (a new case: the report's by default)")
    embargo_until: datetime | None = None


class RejectIn(Strict):
    reason: str = Field(min_length=3, max_length=5_000)


class DuplicateIn(Strict):
    case_id: uuid.UUID
    ordinal: int | None = Field(default=None, ge=1, description="which vulnerability of the case (default 1)")


class MergeIn(Strict):
    into_case_id: uuid.UUID


# --- cases ---------------------------------------------------------------------------------------


class ScoreIn(Strict):
    vector: str = Field(min_length=8, max_length=512, description="a CVSS 3.1 or 4.0 vector")


class VendorIn(Strict):
    organisation_id: uuid.UUID


class VendorStatusIn(Strict):
    status: VendorStatusValue
    statement: str | None = Field(default=None, max_length=10_000)
    organisation_id: uuid.UUID | None = Field(
        default=None, description="analysts only: record a status on a vendor's behalf"
    )


class EmbargoIn(Strict):
    until: datetime
    reason: str | None = Field(default=None, max_length=2_000)

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-03-01T00:00:00Z)")
        return value


class TlpIn(Strict):
    tlp: Tlp


class ReviseIn(Strict):
    summary: str = Field(min_length=3, max_length=1_000, description="what changed, for the revision history")


class VendorStatusOut(BaseModel):
    organisation_id: uuid.UUID
    organisation_name: str
    status: VendorStatusValue
    statement: str | None
    updated_at: datetime


class VendorOut(BaseModel):
    organisation_id: uuid.UUID
    organisation_name: str
    added_at: datetime
    notified: bool


class VulnerabilityOut(BaseModel):
    ordinal: int
    advisory_id: str
    aliases: list[str]
    title: str | None
    base_score: float | None
    rating: str | None
    known_exploited: bool
    advisory: dict[str, Any]
    statuses: list[VendorStatusOut] = Field(default_factory=list)


class CaseOut(BaseModel):
    id: uuid.UUID
    number: str
    title: str
    tlp: Tlp
    state: CaseState
    analyst_person_id: uuid.UUID | None
    embargo_until: datetime | None
    published_at: datetime | None
    revision: int
    known_exploited: bool = False
    max_rating: str | None = None
    created_at: datetime
    updated_at: datetime


class CaseDetail(CaseOut):
    vulnerabilities: list[VulnerabilityOut]
    vendors: list[VendorOut]
    revision_history: list[dict[str, Any]]
    merged_into: str | None = None
    events: list[EventOut] = Field(default_factory=list)
    report_ids: list[uuid.UUID] = Field(default_factory=list)


class NoticeOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    case_number: str
    kind: str
    revision: int
    subject: str
    body: str
    created_at: datetime
    delivered_at: datetime | None


class PublicationOut(BaseModel):
    case_id: uuid.UUID
    number: str
    revision: int
    csaf_path: str
    csaf_sha256: str
    osv_ids: list[str]
    ledger_entry: int | None = None


class KevImportOut(BaseModel):
    catalog_version: str | None
    entries: int
    newly_exploited: list[str] = Field(description="case numbers newly flagged known exploited")


class PublicImportOut(BaseModel):
    received: int
    stored: int
    skipped_older: int


class PublicAdvisoryOut(BaseModel):
    id: str
    summary: str | None
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    source: str
    ecosystems: list[str]
    case_number: str | None = None


_PERSON = re.compile(r"^[0-9a-f-]{36}$")
