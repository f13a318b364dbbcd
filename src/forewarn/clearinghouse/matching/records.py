"""Public shapes of stored matches: what operators see and set, and the clearinghouse's exposure."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

__all__ = [
    "Exposure",
    "ExposureHistory",
    "ExposureRow",
    "Justification",
    "MatchOut",
    "MatchStatus",
    "RemediationRow",
    "ScanOut",
    "StatusIn",
    "VexFormat",
    "VexImportOut",
    "VexStatementOut",
]


class MatchStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"
    RISK_ACCEPTED = "risk_accepted"


#: Statuses under which the operator still has something to do.
OPEN_STATUSES = frozenset({MatchStatus.OPEN, MatchStatus.ACKNOWLEDGED, MatchStatus.IN_PROGRESS})


class Justification(StrEnum):
    """VEX justifications for ``not_affected`` (OpenVEX 0.2 §Status Justifications, the same five
    as CISA's "Minimum Requirements for VEX" and CSAF §3.2.3.5 flags)."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = "vulnerable_code_cannot_be_controlled_by_adversary"
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: MatchStatus
    justification: Justification | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _justified(self) -> Self:
        if self.status is MatchStatus.NOT_AFFECTED and self.justification is None:
            raise ValueError("justification: say why the asset is not affected (a VEX justification)")
        if self.status is not MatchStatus.NOT_AFFECTED and self.justification is not None:
            raise ValueError("justification: only a not_affected status carries a justification")
        return self


class MatchOut(BaseModel):
    id: uuid.UUID
    asset_id: uuid.UUID
    asset_name: str
    advisory_id: str
    summary: str | None
    ecosystem: str
    package: str
    component: str
    version: str
    purl: str | None
    via: str
    fixed: list[str]
    severity_score: float | None
    severity_rating: str | None
    known_exploited: bool
    status: MatchStatus
    justification: Justification | None
    note: str | None
    alerted_at: datetime
    status_changed_at: datetime
    #: Plain language: "You run X 1.2 on asset Y. Update to 1.4."
    what_to_do: str


class ExposureRow(BaseModel):
    """One advisory's reach: operators affected per sector, and matches per status."""

    advisory_id: str
    summary: str | None
    severity_rating: str | None
    known_exploited: bool
    operators_by_sector: dict[str, int]
    by_status: dict[str, int]
    open_operators: int


class Exposure(BaseModel):
    advisories: list[ExposureRow]
    totals_by_status: dict[str, int]


class VexFormat(StrEnum):
    CYCLONEDX = "cyclonedx"
    OPENVEX = "openvex"


class VexSkipped(BaseModel):
    match_id: uuid.UUID
    advisory_id: str
    reason: str


class VexImportOut(BaseModel):
    """What importing a VEX document did to the caller's matches."""

    statements: int
    #: Matches whose status the document changed.
    applied: int
    #: Matches a statement applies to that already had that status.
    unchanged: int
    skipped: list[VexSkipped]
    #: Statements stored to decide the organisation's later matches too (as listed by
    #: ``GET /api/v1/operator/vex/statements``).
    stored: int = 0


class VexStatementOut(BaseModel):
    """One VEX statement an operator imported and forewarn keeps applying to its new matches."""

    id: uuid.UUID
    vulnerability: str
    ids: list[str]
    status: str
    justification: str | None
    impact: str | None
    action: str | None
    products: list[str]
    #: The one asset the statement speaks for (its products are that asset's components), if any.
    asset_id: uuid.UUID | None
    asset_name: str | None
    stated_at: datetime | None
    document_sha256: str
    document_name: str | None
    imported_at: datetime


class ScanPackage(BaseModel):
    ecosystem: str | None
    name: str | None
    version: str | None
    purl: str | None


class ScanResult(BaseModel):
    package: ScanPackage
    advisories: list[str]
    #: The nearest fixed version of each advisory, when one is known (for the table).
    fixed: list[str] = []


class ScanUnscannable(BaseModel):
    package: ScanPackage
    location: str
    reason: str


class ScanSuppressed(BaseModel):
    package: ScanPackage
    advisory: str
    status: str
    reason: str


class ScanOut(BaseModel):
    """A stateless scan: the ``forewarn scan --json`` document (``results``, ``unscannable``) and what
    the table shows besides (counts, VEX-suppressed matches). Nothing is stored."""

    results: list[ScanResult]
    unscannable: list[ScanUnscannable]
    format: str
    spec_version: str | None
    components: int
    advisories: int
    suppressed: list[ScanSuppressed]


class ExposureHistory(BaseModel):
    """Open matches per day (daily snapshots, and today counted now), by sector and for the
    advisories with the most open matches today."""

    days: list[date]
    by_sector: dict[str, list[int]]
    by_advisory: dict[str, list[int]]


class RemediationRow(BaseModel):
    """Time from a match first seen to fixed, per sector (``sector`` "all" for every sector)."""

    sector: str
    fixed: int
    median_hours: float | None
    p90_hours: float | None
