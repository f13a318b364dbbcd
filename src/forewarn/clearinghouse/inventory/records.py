"""Public shapes of stored inventories: subscriber profiles, assets and upload results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "SECTORS",
    "AssetOut",
    "ComponentOut",
    "Contact",
    "Digest",
    "OrgSize",
    "PackageIdentity",
    "Sector",
    "SubscriberIn",
    "SubscriberOut",
    "UnscannableOut",
    "UploadOut",
]


class Sector(StrEnum):
    HEALTHCARE = "healthcare"
    FINANCE = "finance"
    ENERGY = "energy"
    WATER = "water"
    AI_FIRM = "ai_firm"
    OTHER = "other"


#: Subsectors each sector allows (the small organisations the programme is for, DESIGN §1 R7).
SECTORS: dict[Sector, tuple[str, ...]] = {
    Sector.HEALTHCARE: ("rural_hospital", "critical_access_hospital", "other"),
    Sector.FINANCE: ("community_bank", "credit_union", "other"),
    Sector.ENERGY: ("electric_utility", "other"),
    Sector.WATER: ("community_water_system", "other"),
    Sector.AI_FIRM: ("ai_firm",),
    Sector.OTHER: ("other",),
}


class OrgSize(StrEnum):
    SMALL = "small"  # fewer than 50 people
    MEDIUM = "medium"  # 50 to 499
    LARGE = "large"  # 500 or more


class Digest(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")]


class Contact(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: Email
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class SubscriberIn(_Strict):
    """An operator's profile. Notices go immediately for critical or known-exploited advisories (as
    chosen) and in a digest otherwise, by email and/or webhook."""

    sector: Sector
    subsector: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    size: OrgSize
    contacts: Annotated[list[Contact], Field(max_length=20)] = []
    immediate_critical: bool = True
    immediate_known_exploited: bool = True
    digest: Digest = Digest.DAILY
    email: Email | None = None
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.subsector not in SECTORS[self.sector]:
            allowed = ", ".join(SECTORS[self.sector])
            raise ValueError(f"subsector: for {self.sector.value} choose one of {allowed}")
        if self.email is None and self.webhook_url is None:
            raise ValueError("email: give an email address or a webhook URL (or both) for notices")
        return self


class SubscriberOut(SubscriberIn):
    model_config = ConfigDict(extra="ignore")

    organisation_id: uuid.UUID
    updated_at: datetime


class UnscannableOut(BaseModel):
    component: str
    location: str
    reason: str


class AssetOut(BaseModel):
    id: uuid.UUID
    name: str
    format: str
    spec_version: str | None
    component_count: int
    unscannable: list[UnscannableOut]
    uploaded_at: datetime


class ComponentOut(BaseModel):
    """A stored component, as matching reads it (it satisfies ``matching.engine.Subject``)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    asset_id: uuid.UUID
    organisation_id: uuid.UUID
    ecosystem: str
    package: str
    version: str
    name: str | None
    purl: str | None
    ref: str | None
    source_package: str | None
    source_version: str | None


@dataclass(frozen=True, slots=True)
class PackageIdentity:
    """What matching evaluates: one distinct (ecosystem, package, version, source) among components
    (it satisfies ``matching.engine.Subject``)."""

    ecosystem: str
    package: str
    version: str
    source_package: str | None
    source_version: str | None
    purl: str | None = None
    ref: str | None = None


class UploadOut(BaseModel):
    asset: AssetOut
    replaced: bool
    components: int
    unscannable: list[UnscannableOut]
    matches: int = 0
