from __future__ import annotations

import uuid

from forewarn.accounts import policy
from forewarn.accounts.schemas import OrgKind, Principal, Role


def principal(
    roles: set[Role],
    *,
    kind: OrgKind = OrgKind.LAB,
    admin: bool = False,
    via: str = "session",
    org: uuid.UUID | None = None,
    code: str | None = None,
) -> Principal:
    return Principal(
        person_id=uuid.uuid4(),
        email="p@example.org",
        name="P",
        organisation_id=org or uuid.uuid4(),
        organisation_name="O",
        org_kind=kind,
        org_code=code,
        roles=frozenset(roles),
        is_platform_admin=admin,
        via=via,
    )


def test_anonymous_is_denied_everything_but_public() -> None:
    assert policy.anyone(None)
    for rule in (
        policy.signed_in,
        policy.platform_admin,
        policy.can_manage_organisations,
        policy.can_use_tokens,
        policy.can_manage_people_somewhere,
    ):
        assert not rule(None)
    assert not policy.can_manage_people(None, uuid.uuid4())
    assert not policy.can_view_organisation(None, uuid.uuid4())


def test_org_admin_scope() -> None:
    org = uuid.uuid4()
    admin = principal({Role.ADMIN}, org=org)
    assert policy.can_manage_people(admin, org)
    assert not policy.can_manage_people(admin, uuid.uuid4())
    assert not policy.can_manage_organisations(admin)
    member = principal({Role.MEMBER}, org=org)
    assert not policy.can_manage_people(member, org)
    assert policy.can_view_organisation(member, org)


def test_tokens_cannot_mint_tokens() -> None:
    assert policy.can_use_tokens(principal({Role.MEMBER}))
    assert not policy.can_use_tokens(principal({Role.MEMBER}, via="token"))


def test_in_agency() -> None:
    nsa = principal({Role.BENCHMARK_CUSTODIAN}, kind=OrgKind.AGENCY, code="NSA")
    assert policy.in_agency(nsa, "NSA")
    assert not policy.in_agency(nsa, "CISA")
    assert not policy.in_agency(principal({Role.ADMIN}), "NSA")
