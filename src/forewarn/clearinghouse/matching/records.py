"""Public shapes of stored matches: what operators see and set, and the clearinghouse's exposure."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

__all__ = ["Exposure", "ExposureRow", "Justification", "MatchOut", "MatchStatus", "StatusIn"]


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
