"""Who may register and read models: pure rules, deny by default."""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role


def can_register_models(principal: Principal | None) -> bool:
    """A lab's safety lead registers the lab's models."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


def can_list_models(principal: Principal | None) -> bool:
    """Labs see their own; benchmark custodians and platform administrators see all."""
    if principal is None:
        return False
    if principal.is_platform_admin:
        return True
    if principal.org_kind == OrgKind.AGENCY and Role.BENCHMARK_CUSTODIAN in principal.roles:
        return True
    return principal.org_kind == OrgKind.LAB and principal.organisation_id is not None


def sees_all_models(principal: Principal) -> bool:
    return principal.is_platform_admin or (
        principal.org_kind == OrgKind.AGENCY and Role.BENCHMARK_CUSTODIAN in principal.roles
    )


def can_view_model(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    if principal is None:
        return False
    return sees_all_models(principal) or principal.organisation_id == organisation_id
