"""Who may do what in partner governance: pure rules of a principal, deny by default.

Invariants:

- a partner organisation's admin applies, amends, requests access and appeals for it; an agency's
  assessment coordinator vets partners, changes their status and may request on a partner's behalf;
- only people holding the ``panel_member`` role sit on panels, and only in the seat they were given
  (the service checks the seat, its conflicts and recusal); a panel member reads only the requests
  they hold a seat on (the service checks it), so an industry member learns nothing of other labs'
  windows;
- a lab's safety lead declares the lab's competitors, appeals decisions about its windows and sees
  who holds access to its models;
- panels are formed, and rationales redacted, by platform administrators only;
- rules, statistics and the consistency check are public.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role


def is_partner_admin(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.PARTNER
        and principal.organisation_id is not None
        and Role.ADMIN in principal.roles
    )


def is_vetter(principal: Principal | None) -> bool:
    return principal is not None and (principal.is_platform_admin or is_coordinator(principal))


def is_panel_member(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.organisation_id is not None
        and principal.org_kind in (OrgKind.AGENCY, OrgKind.LAB, OrgKind.PARTNER)
        and Role.PANEL_MEMBER in principal.roles
    )


def is_lab_lead(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


def can_manage_panels(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin


def can_redact(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin


def is_coordinator(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and principal.organisation_id is not None
        and Role.ASSESSMENT_COORDINATOR in principal.roles
    )


def can_request(principal: Principal | None) -> bool:
    """A partner's admin for itself, or an agency coordinator on a partner's behalf."""
    return is_partner_admin(principal) or is_coordinator(principal)


def can_appeal(principal: Principal | None) -> bool:
    return is_partner_admin(principal) or is_lab_lead(principal)


def sees_all(principal: Principal | None) -> bool:
    """The programme's side: vetters, panel members and platform administrators read every record."""
    return is_vetter(principal) or is_panel_member(principal)


def partners_signed_in(principal: Principal | None) -> bool:
    """Reading records: the service narrows it to the caller's own partner, lab, seat or programme role."""
    return principal is not None and (principal.organisation_id is not None or principal.is_platform_admin)


def can_read_partner(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    return sees_all(principal) or (principal is not None and principal.organisation_id == organisation_id)


def can_read_request(principal: Principal | None, *, partner_org: uuid.UUID, lab_org: uuid.UUID) -> bool:
    if principal is None:
        return False
    return sees_all(principal) or principal.organisation_id in (partner_org, lab_org)


def can_read_rationales(principal: Principal | None, *, partner_org: uuid.UUID, lab_org: uuid.UUID) -> bool:
    """Ballot rationales of a decided round: the parties and the programme (not other partners)."""
    return can_read_request(principal, partner_org=partner_org, lab_org=lab_org)
