from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from forewarn.accounts.schemas import OrgKind, Principal, Role
from tests.conftest import OrgFactory


@dataclass
class People:
    officer: Principal
    other_officer: Principal
    grantee: Principal
    rival: Principal
    reviewer: Principal
    reviewer2: Principal
    analyst: Principal


@pytest.fixture
async def people(make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]) -> People:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"TR{uuid.uuid4().hex[:6].upper()}")
    other = await make_org(kind=OrgKind.AGENCY, code=f"OT{uuid.uuid4().hex[:6].upper()}")
    partner = await make_org(kind=OrgKind.PARTNER)
    return People(
        officer=await make_person(agency, [Role.GRANTS_OFFICER]),
        other_officer=await make_person(other, [Role.GRANTS_OFFICER]),
        grantee=await make_person(await make_org(kind=OrgKind.GRANTEE), [Role.MEMBER]),
        rival=await make_person(await make_org(kind=OrgKind.GRANTEE), [Role.MEMBER]),
        reviewer=await make_person(partner, [Role.REVIEWER]),
        reviewer2=await make_person(agency, [Role.REVIEWER]),
        analyst=await make_person(agency, [Role.CLEARINGHOUSE_ANALYST]),
    )
