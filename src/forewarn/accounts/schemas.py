"""Public shapes of accounts: what goes in and out of the service, the API and other domains."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class OrgKind(StrEnum):
    AGENCY = "agency"
    LAB = "lab"
    PARTNER = "partner"
    OPERATOR = "operator"
    VENDOR = "vendor"
    GRANTEE = "grantee"


class Role(StrEnum):
    ADMIN = "admin"
    BENCHMARK_CUSTODIAN = "benchmark_custodian"
    ASSESSMENT_COORDINATOR = "assessment_coordinator"
    REVIEWER = "reviewer"
    PANEL_MEMBER = "panel_member"
    CLEARINGHOUSE_ANALYST = "clearinghouse_analyst"
    SAFETY_LEAD = "safety_lead"
    OPERATOR_CONTACT = "operator_contact"
    GRANTS_OFFICER = "grants_officer"
    HIRING_OFFICER = "hiring_officer"
    MEMBER = "member"


#: Roles that only make sense in some kinds of organisation (fail closed on anything else).
ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.AGENCY: frozenset(
        {
            Role.ADMIN,
            Role.MEMBER,
            Role.BENCHMARK_CUSTODIAN,
            Role.ASSESSMENT_COORDINATOR,
            Role.REVIEWER,
            Role.PANEL_MEMBER,
            Role.CLEARINGHOUSE_ANALYST,
            Role.GRANTS_OFFICER,
            Role.HIRING_OFFICER,
        }
    ),
    OrgKind.LAB: frozenset({Role.ADMIN, Role.MEMBER, Role.SAFETY_LEAD, Role.PANEL_MEMBER}),
    OrgKind.PARTNER: frozenset({Role.ADMIN, Role.MEMBER, Role.REVIEWER, Role.PANEL_MEMBER}),
    OrgKind.OPERATOR: frozenset({Role.ADMIN, Role.MEMBER, Role.OPERATOR_CONTACT}),
    OrgKind.VENDOR: frozenset({Role.ADMIN, Role.MEMBER, Role.OPERATOR_CONTACT}),
    OrgKind.GRANTEE: frozenset({Role.ADMIN, Role.MEMBER}),
}

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,19}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganisationIn(Strict):
    name: str = Field(min_length=2, max_length=200)
    kind: OrgKind
    code: str | None = Field(default=None, description="Agency code, e.g. NSA, CISA, NIST, ONCD, TREASURY")
    sector: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _code_for_agencies(self) -> OrganisationIn:
        if self.code is not None:
            self.code = self.code.upper()
            if not _CODE.match(self.code):
                raise ValueError("code must be 2-20 capital letters, digits or underscores")
        if self.kind == OrgKind.AGENCY and not self.code:
            raise ValueError("an agency needs a code (e.g. NSA, CISA, NIST, ONCD, TREASURY)")
        if self.kind != OrgKind.AGENCY and self.code:
            raise ValueError("only agencies have a code")
        return self


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrgKind
    code: str | None
    sector: str | None
    active: bool
    created_at: datetime


class PersonIn(Strict):
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, min_length=12, max_length=1024)
    organisation_id: uuid.UUID
    roles: list[Role] = Field(default_factory=lambda: [Role.MEMBER], min_length=1, max_length=10)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value


class MembershipOut(BaseModel):
    organisation_id: uuid.UUID
    organisation_name: str
    role: Role


class PersonOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    active: bool
    is_platform_admin: bool
    memberships: list[MembershipOut]


class RoleGrant(Strict):
    role: Role


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=90, ge=1, le=366)


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    organisation_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    #: The token itself: shown once, never stored.
    token: str


class Principal(BaseModel):
    """Who is acting, and for which organisation, with which roles there."""

    model_config = ConfigDict(frozen=True)

    person_id: uuid.UUID
    email: str
    name: str
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    org_kind: OrgKind | None
    org_code: str | None
    roles: frozenset[Role]
    is_platform_admin: bool = False
    via: str = "session"
