"""Builders for gateway tests: a lab, a window with an upstream, reviewers holding keys; the access
matrix rows of the gateway's API routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Principal, Role
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.gateway import service as gateway

UPSTREAM_SECRET = "upstream-secret-CANARY-7f3a9c"
LABEL = "frontier-1"


@dataclass
class Window:
    window_id: uuid.UUID
    lab_id: uuid.UUID
    opens_at: datetime
    closes_at: datetime


@dataclass
class Holder:
    secret: str
    key_id: uuid.UUID
    person_id: uuid.UUID
    organisation_id: uuid.UUID


async def org(session: AsyncSession, kind: OrgKind, code: str | None = None) -> uuid.UUID:
    out = await accounts.create_organisation(
        session, data=OrganisationIn(name=f"Org {uuid.uuid4().hex[:8]}", kind=kind, code=code), actor=None
    )
    return out.id


async def person(session: AsyncSession, organisation_id: uuid.UUID, roles: list[Role]) -> Principal:
    created = await accounts.create_person(
        session,
        data=PersonIn(
            email=f"g{uuid.uuid4().hex[:10]}@example.org",
            name="Gateway Tester",
            password="correct horse battery staple",
            organisation_id=organisation_id,
            roles=roles,
        ),
        actor=None,
    )
    principal = await accounts.principal_for(
        session, person_id=created.id, organisation_id=organisation_id, via="session"
    )
    assert principal is not None
    return principal


async def window(
    session: AsyncSession,
    key: DataKey,
    base_url: str,
    *,
    upstream_model: str = "fake",
    lab_id: uuid.UUID | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    label: str = LABEL,
) -> Window:
    lab = lab_id or await org(session, OrgKind.LAB)
    opens = opens_at or datetime.now(UTC) - timedelta(days=1)
    closes = closes_at or opens + timedelta(days=30)
    window_id = uuid.uuid4()
    await gateway.open_upstream(
        session,
        window_id=window_id,
        lab_organisation_id=lab,
        model_label=label,
        base_url=base_url,
        upstream_model=upstream_model,
        credential=SecretStr(UPSTREAM_SECRET),
        opens_at=opens,
        closes_at=closes,
        key=key,
    )
    return Window(window_id, lab, opens, closes)


async def holder(
    session: AsyncSession,
    win: Window,
    *,
    rate_limit_per_minute: int = 10_000,
    token_budget: int = 10_000_000,
    organisation_id: uuid.UUID | None = None,
    kind: OrgKind = OrgKind.AGENCY,
) -> Holder:
    org_id = organisation_id or await org(
        session, kind, code=f"A{uuid.uuid4().hex[:6].upper()}" if kind == OrgKind.AGENCY else None
    )
    reviewer = await person(session, org_id, [Role.REVIEWER])
    issued = await gateway.issue_key(
        session,
        window_id=win.window_id,
        holder_person_id=reviewer.person_id,
        holder_organisation_id=org_id,
        issued_by_person_id=None,
        rate_limit_per_minute=rate_limit_per_minute,
        token_budget=token_budget,
    )
    return Holder(issued.secret.get_secret_value(), issued.id, reviewer.person_id, org_id)


# --- the access matrix (tests/web/test_access_matrix.py) -----------------------------------------

#: The gateway's API routes: a person reads their own keys; a lab's safety lead its windows' usage.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/gateway/keys/mine"): {
        "platform_admin",
        "lab_admin",
        "lab_safety",
        "nsa_custodian",
        "partner_reviewer",
        "operator_contact",
        "analyst",
        "vendor",
        "grants_officer",
        "grantee",
        "hiring_officer",
    },
    ("GET", "/api/v1/gateway/usage"): {"lab_safety"},
    ("GET", "/api/v1/gateway/windows/{window_id}/usage"): {"lab_safety"},
}


async def access_matrix_world(session: AsyncSession, key: DataKey, *, lab_id: uuid.UUID) -> dict[str, str]:
    """A window of the matrix's lab (so its safety lead may read the usage); its path parameter."""
    win = await window(session, key, "http://127.0.0.1:9/v1", lab_id=lab_id)
    return {"window_id": str(win.window_id)}
