"""Who may plan, file, read and triage assessments: pure rules, deny by default.

Invariants:

- A finding is read under its TLP 2.0 label (FIRST TLP 2.0, "Definitions and usage") within its
  window, and nowhere else:

  ============== ==============================================================================
  RED            the filer's organisation and the assessment coordinators; the lab only when the
                 filer released the finding to it (otherwise the lab's report counts it)
  AMBER+STRICT   the above, and the lab (its organisation only: no further sharing)
  AMBER          every organisation taking part in the window (the lab, the assessing agencies and
                 the partners granted access), and the coordinators
  GREEN, CLEAR   the window's participants, the coordinators, and the programme's agencies (its
                 community; nothing here is published)
  ============== ==============================================================================

- Assessment coordinators are agency people with ``assessment_coordinator``; they plan
  workstreams, triage, merge and forward, and read every finding.
- A reviewer files findings only in a window their organisation takes part in, and never the lab
  (it does not review its own model). Platform administrators get no special access to findings.
- The final report is read by the coordinators at any time and by the lab's safety leads once the
  window is closed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.earlyaccess.gateway import policy as gateway_policy


@dataclass(frozen=True)
class WindowFacts:
    """What the rules need to know about a window."""

    lab_organisation_id: uuid.UUID
    #: The lab and every organisation holding an active grant for the window.
    participants: frozenset[uuid.UUID]
    state: str


@dataclass(frozen=True)
class FindingFacts:
    tlp: Tlp
    filer_organisation_id: uuid.UUID
    release_to_lab: bool = False


#: The two assessing roles, stated once in the gateway's rules (its keys page needs them too, and the
#: gateway may not import the review programme).
is_coordinator = gateway_policy.is_assessment_coordinator
is_reviewer = gateway_policy.is_assessment_reviewer


def is_lab_lead(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


# --- route rules (who may call at all; the service checks the window and the finding) ----------------


def can_use_assessments(principal: Principal | None) -> bool:
    """Coordinators, reviewers and labs' safety leads reach the assessment routes."""
    return is_coordinator(principal) or is_reviewer(principal) or is_lab_lead(principal)


def can_plan_workstreams(principal: Principal | None) -> bool:
    return is_coordinator(principal)


def can_file_findings(principal: Principal | None) -> bool:
    return is_reviewer(principal) or is_coordinator(principal)


def can_triage(principal: Principal | None) -> bool:
    return is_coordinator(principal)


def can_read_reports(principal: Principal | None) -> bool:
    return is_coordinator(principal) or is_lab_lead(principal)


# --- rules on a window and a finding ------------------------------------------------------------------


def can_see_window(principal: Principal | None, window: WindowFacts) -> bool:
    if principal is None or principal.organisation_id is None:
        return False
    if is_coordinator(principal):
        return True
    if principal.organisation_id == window.lab_organisation_id:
        return is_lab_lead(principal)
    return is_reviewer(principal) and principal.organisation_id in window.participants


def can_file_in_window(principal: Principal | None, window: WindowFacts) -> bool:
    """Reviewers of a participating organisation (not the lab), and coordinators; while open."""
    if window.state != "open" or principal is None or principal.organisation_id is None:
        return False
    if is_coordinator(principal):
        return True
    return (
        is_reviewer(principal)
        and principal.organisation_id in window.participants
        and principal.organisation_id != window.lab_organisation_id
    )


def can_view_finding(principal: Principal | None, finding: FindingFacts, window: WindowFacts) -> bool:
    """The TLP rule of the module docstring."""
    if principal is None or principal.organisation_id is None:
        return False
    if is_coordinator(principal):
        return True
    if not can_use_assessments(principal):
        return False
    org = principal.organisation_id
    if org == finding.filer_organisation_id:
        return True
    is_lab = org == window.lab_organisation_id
    participant = org in window.participants
    community = participant or principal.org_kind == OrgKind.AGENCY
    readers: dict[str, bool] = {
        Tlp.RED.value: is_lab and finding.release_to_lab,
        Tlp.AMBER_STRICT.value: is_lab,
        Tlp.AMBER.value: participant,
        Tlp.GREEN.value: community,
        Tlp.CLEAR.value: community,
    }
    return readers.get(str(finding.tlp), False)  # an unknown label: fail closed


def can_add_evidence(principal: Principal | None, finding: FindingFacts, window: WindowFacts) -> bool:
    """The filer's organisation (its reviewers) and coordinators, while the window is open."""
    if window.state != "open" or principal is None:
        return False
    return is_coordinator(principal) or (
        is_reviewer(principal) and principal.organisation_id == finding.filer_organisation_id
    )


def can_release_to_lab(principal: Principal | None, finding: FindingFacts) -> bool:
    """Only the filer's organisation decides whether the lab reads its TLP:RED finding."""
    return (
        is_reviewer(principal)
        and principal is not None
        and (principal.organisation_id == finding.filer_organisation_id)
    )


def can_read_report(principal: Principal | None, window: WindowFacts) -> bool:
    if is_coordinator(principal):
        return True
    return (
        is_lab_lead(principal)
        and principal is not None
        and principal.organisation_id == window.lab_organisation_id
        and window.state == "closed"
    )
