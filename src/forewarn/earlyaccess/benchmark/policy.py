"""Who may do what with the sealed benchmark: pure rules of a principal, deny by default.

Packs, policies, consultations and run details are for **benchmark custodians** (that role in an
agency) only. NSA custodians propose and activate threshold policies; ONCD and CISA custodians
consult on them. A lab's safety lead requests determinations for the lab's models; a lab sees its own
determinations, one bit each.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role

#: The agency that sets the threshold, and those it consults (the executive order's wording).
THRESHOLD_OWNER = "NSA"
CONSULTED = ("ONCD", "CISA")


def is_custodian(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and Role.BENCHMARK_CUSTODIAN in principal.roles
    )


def can_manage_packs(principal: Principal | None) -> bool:
    return is_custodian(principal)


def can_propose_policy(principal: Principal | None) -> bool:
    return is_custodian(principal) and principal is not None and principal.org_code == THRESHOLD_OWNER


def can_consult(principal: Principal | None) -> bool:
    return is_custodian(principal) and principal is not None and principal.org_code in CONSULTED


def can_request_determination(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


def can_list_determinations(principal: Principal | None) -> bool:
    """Custodians see every run; a lab's people see their lab's."""
    if principal is None:
        return False
    return is_custodian(principal) or (
        principal.org_kind == OrgKind.LAB and principal.organisation_id is not None
    )


def can_view_determination(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    if principal is None:
        return False
    return is_custodian(principal) or (
        principal.org_kind == OrgKind.LAB and principal.organisation_id == organisation_id
    )
