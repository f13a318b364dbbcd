"""Who may do what in grants: pure functions, deny by default.

Invariants:

- only a grants officer of an agency runs calls, assigns reviewers, decides and pays; a call is
  run by its own agency's officers only (tenancy);
- only members of a grantee organisation apply, and an application is read by its organisation,
  by the calling agency's officers and by its assigned reviewers, nobody else;
- a reviewer who declared a conflict, or has not declared, cannot score;
- an applicant sees scores and comments only once the decision is made.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.policy import has_role
from forewarn.accounts.schemas import OrgKind, Principal, Role


def is_grants_officer(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and principal.organisation_id is not None
        and has_role(principal, Role.GRANTS_OFFICER)
    )


def can_run_call(principal: Principal | None, agency_organisation_id: uuid.UUID) -> bool:
    return (
        is_grants_officer(principal)
        and principal is not None
        and (principal.organisation_id == agency_organisation_id)
    )


def is_applicant(principal: Principal | None) -> bool:
    """A member of a grantee organisation (any role there)."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.GRANTEE
        and principal.organisation_id is not None
        and bool(principal.roles)
    )


def owns_application(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    return is_applicant(principal) and principal is not None and principal.organisation_id == organisation_id


def can_score(conflict: bool | None) -> bool:
    """Only an explicit 'no conflict' lets a reviewer score (undeclared fails closed)."""
    return conflict is False


def reviews_visible_to_applicant(state: str) -> bool:
    return state in ("awarded", "declined")


def grants_signed_in(principal: Principal | None) -> bool:
    """Reviewers are people assigned by an officer; the service checks the assignment."""
    return principal is not None and principal.organisation_id is not None
