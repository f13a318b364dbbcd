"""Who may keep an inventory: pure functions, deny by default.

Invariants: only a contact of an operator organisation manages its subscriber profile, assets and
SBOMs, and only its own (tenancy: the organisation comes from the principal, never from the request);
an anonymous caller, a caller without an organisation or of another kind is denied.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role


def is_operator(principal: Principal | None) -> bool:
    """A contact acting for an operator organisation (hospital, bank, utility, AI firm)."""
    return (
        principal is not None
        and principal.organisation_id is not None
        and principal.org_kind == OrgKind.OPERATOR
        and Role.OPERATOR_CONTACT in principal.roles
    )


def can_manage_inventory(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    return is_operator(principal) and principal is not None and principal.organisation_id == organisation_id
