"""Who may do what in workforce: pure functions, deny by default.

Invariants: personal data in an application is read only by the applicant and by hiring officers
of the agency that made the posting; the public sees pathways, postings and aggregate counts only.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.policy import has_role
from forewarn.accounts.schemas import OrgKind, Principal, Role


def is_hiring_officer(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and principal.organisation_id is not None
        and has_role(principal, Role.HIRING_OFFICER)
    )


def runs_posting(principal: Principal | None, agency_organisation_id: uuid.UUID) -> bool:
    return (
        is_hiring_officer(principal)
        and principal is not None
        and (principal.organisation_id == agency_organisation_id)
    )


def can_apply(principal: Principal | None) -> bool:
    """Any signed-in person applies, always for themselves."""
    return principal is not None


def is_candidate(principal: Principal | None) -> bool:
    return principal is not None
