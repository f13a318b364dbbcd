"""Who may read and act on clearinghouse reports and cases: pure functions, deny by default.

TLP 2.0 (FIRST, "Traffic Light Protocol version 2.0") decides who may read a report or a case
before publication. forewarn maps each label to parties it knows:

=============  =========================================================================
label          may read (besides clearinghouse analysts, who handle every report)
=============  =========================================================================
RED            the reporting organisation only ("individual recipients only"); no vendor
AMBER+STRICT   the reporting organisation and the vendors on the case ("organisation only")
AMBER          the same parties (AMBER also lets them tell their clients, off the platform)
GREEN          every signed-in member of a programme organisation ("the community")
CLEAR          anyone
=============  =========================================================================

Invariants:

- an unknown label, an anonymous caller, a caller without an organisation: denied;
- a published case is TLP:CLEAR and readable by anyone; a merged case by analysts only;
- a vendor never sees another vendor's statements before publication (coordination is
  bilateral, as in CERT/CC's VINCE), and never a case marked RED;
- only analysts triage, score, add vendors, set embargoes and publish; only a vendor on the case
  states its own status.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from forewarn.accounts.policy import has_role
from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories.schemas import Tlp

#: Organisation kinds that can be a vendor on a case (makers of software, devices and AI models).
VENDOR_KINDS = frozenset({OrgKind.VENDOR, OrgKind.LAB})


def _tlp(label: str | Tlp | None) -> Tlp | None:
    if isinstance(label, Tlp):
        return label
    try:
        return Tlp(label) if label is not None else None
    except ValueError:
        return None


def is_analyst(principal: Principal | None) -> bool:
    """A clearinghouse analyst acting for a government agency."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and has_role(principal, Role.CLEARINGHOUSE_ANALYST)
    )


def can_report(principal: Principal | None) -> bool:
    """Anyone signed in for an organisation may file a report (VINCE lets every account report)."""
    return principal is not None and principal.organisation_id is not None


def can_see_vendor_cases(principal: Principal | None) -> bool:
    """The vendor view: members of organisations that can be vendors (and analysts)."""
    return is_analyst(principal) or (
        principal is not None and principal.organisation_id is not None and principal.org_kind in VENDOR_KINDS
    )


@dataclass(frozen=True)
class ReportAccess:
    """What access to one report depends on."""

    tlp: str
    reporter_organisation_id: uuid.UUID | None


def can_read_report(principal: Principal | None, report: ReportAccess) -> bool:
    if principal is None or _tlp(report.tlp) is None:
        return False
    if is_analyst(principal):
        return True
    return (
        principal.organisation_id is not None and principal.organisation_id == report.reporter_organisation_id
    )


@dataclass(frozen=True)
class CaseAccess:
    """What access to one case depends on."""

    tlp: str
    state: str
    reporter_organisation_id: uuid.UUID | None
    vendor_organisation_ids: frozenset[uuid.UUID]


def can_read_case(principal: Principal | None, case: CaseAccess) -> bool:
    label = _tlp(case.tlp)
    if label is None or case.state not in ("open", "published", "merged"):
        return False
    if case.state == "published" and label is Tlp.CLEAR:
        return True
    if principal is None:
        return False
    if is_analyst(principal):
        return True
    if case.state == "merged" or principal.organisation_id is None:
        return False
    org = principal.organisation_id
    if label is Tlp.CLEAR or label is Tlp.GREEN:
        return True
    if org == case.reporter_organisation_id:
        return True
    if label is Tlp.RED:
        return False
    return org in case.vendor_organisation_ids  # AMBER, AMBER+STRICT


def is_vendor_on(principal: Principal | None, case: CaseAccess) -> bool:
    return (
        principal is not None
        and principal.organisation_id is not None
        and principal.organisation_id in case.vendor_organisation_ids
    )


def can_state_vendor_status(principal: Principal | None, case: CaseAccess) -> bool:
    """A vendor on the case states its own status, while the case can be read and is not merged."""
    return case.state != "merged" and is_vendor_on(principal, case) and can_read_case(principal, case)


def vendor_statuses_visible(
    principal: Principal | None, case: CaseAccess, vendor_ids: Iterable[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Whose vendor statements the caller may see: all once published or for analysts; else its own."""
    ids = frozenset(vendor_ids)
    if case.state == "published" or is_analyst(principal):
        return ids
    if principal is None or principal.organisation_id is None:
        return frozenset()
    return ids & {principal.organisation_id}


def can_add_vendor(principal: Principal | None, case: CaseAccess) -> bool:
    """Analysts add vendors to open cases, never to a RED one (RED names no recipients beyond the
    reporter; lower the label first, with the reporter's consent)."""
    return is_analyst(principal) and case.state == "open" and _tlp(case.tlp) is not Tlp.RED


def can_publish(principal: Principal | None, case: CaseAccess) -> bool:
    return is_analyst(principal) and case.state == "open"


def can_revise(principal: Principal | None, case: CaseAccess) -> bool:
    return is_analyst(principal) and case.state == "published"
