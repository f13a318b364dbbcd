"""The TLP visibility matrix of findings, and the other assessment rules (pure: no database)."""

from __future__ import annotations

import uuid

import pytest

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.earlyaccess.gateway import policy as gateway_policy
from forewarn.earlyaccess.review.assessments import policy

LAB = uuid.uuid4()
FILER = uuid.uuid4()  # an assessing agency, taking part
OTHER_AGENCY = uuid.uuid4()  # another assessing agency, taking part
PARTNER = uuid.uuid4()  # a partner granted access
OUTSIDE_AGENCY = uuid.uuid4()  # an agency without a grant
OUTSIDE_PARTNER = uuid.uuid4()
COORD_AGENCY = uuid.uuid4()

WINDOW = policy.WindowFacts(
    lab_organisation_id=LAB, participants=frozenset({LAB, FILER, OTHER_AGENCY, PARTNER}), state="open"
)


def who(org: uuid.UUID | None, kind: OrgKind | None, *roles: Role, admin: bool = False) -> Principal:
    return Principal(
        person_id=uuid.uuid4(),
        email="x@example.org",
        name="X",
        organisation_id=org,
        organisation_name="Org",
        org_kind=kind,
        org_code="AG" if kind == OrgKind.AGENCY else None,
        roles=frozenset(roles),
        is_platform_admin=admin,
    )


PEOPLE = {
    "coordinator": who(COORD_AGENCY, OrgKind.AGENCY, Role.ASSESSMENT_COORDINATOR),
    "filer": who(FILER, OrgKind.AGENCY, Role.REVIEWER),
    "other_agency": who(OTHER_AGENCY, OrgKind.AGENCY, Role.REVIEWER),
    "partner": who(PARTNER, OrgKind.PARTNER, Role.REVIEWER),
    "lab": who(LAB, OrgKind.LAB, Role.SAFETY_LEAD),
    "lab_member": who(LAB, OrgKind.LAB, Role.MEMBER),
    "outside_agency": who(OUTSIDE_AGENCY, OrgKind.AGENCY, Role.REVIEWER),
    "outside_partner": who(OUTSIDE_PARTNER, OrgKind.PARTNER, Role.REVIEWER),
    "custodian": who(COORD_AGENCY, OrgKind.AGENCY, Role.BENCHMARK_CUSTODIAN),
    "platform_admin": who(COORD_AGENCY, OrgKind.AGENCY, Role.ADMIN, admin=True),
    "no_org": who(None, None, Role.REVIEWER),
}

#: TLP label → who reads a finding filed by FILER (release_to_lab False).
MATRIX: dict[Tlp, set[str]] = {
    Tlp.RED: {"coordinator", "filer"},
    Tlp.AMBER_STRICT: {"coordinator", "filer", "lab"},
    Tlp.AMBER: {"coordinator", "filer", "other_agency", "partner", "lab"},
    Tlp.GREEN: {"coordinator", "filer", "other_agency", "partner", "lab", "outside_agency"},
    Tlp.CLEAR: {"coordinator", "filer", "other_agency", "partner", "lab", "outside_agency"},
}


@pytest.mark.parametrize("tlp", list(Tlp))
def test_tlp_visibility_matrix(tlp: Tlp) -> None:
    finding = policy.FindingFacts(tlp=tlp, filer_organisation_id=FILER)
    readers = {name for name, p in PEOPLE.items() if policy.can_view_finding(p, finding, WINDOW)}
    assert readers == MATRIX[tlp]


def test_red_reaches_the_lab_only_when_the_filer_releases_it() -> None:
    held = policy.FindingFacts(tlp=Tlp.RED, filer_organisation_id=FILER)
    released = policy.FindingFacts(tlp=Tlp.RED, filer_organisation_id=FILER, release_to_lab=True)
    assert not policy.can_view_finding(PEOPLE["lab"], held, WINDOW)
    assert policy.can_view_finding(PEOPLE["lab"], released, WINDOW)
    # Releasing to the lab shares with the lab only, not with the other participants.
    assert not policy.can_view_finding(PEOPLE["other_agency"], released, WINDOW)
    assert not policy.can_view_finding(PEOPLE["partner"], released, WINDOW)
    # Only the filer's organisation may release it.
    assert policy.can_release_to_lab(PEOPLE["filer"], held)
    assert not policy.can_release_to_lab(PEOPLE["coordinator"], held)
    assert not policy.can_release_to_lab(PEOPLE["other_agency"], held)


def test_anonymous_and_unknown_labels_are_denied() -> None:
    finding = policy.FindingFacts(tlp=Tlp.CLEAR, filer_organisation_id=FILER)
    assert not policy.can_view_finding(None, finding, WINDOW)
    odd = policy.FindingFacts(tlp="PURPLE", filer_organisation_id=FILER)  # type: ignore[arg-type]
    assert not policy.can_view_finding(PEOPLE["other_agency"], odd, WINDOW)
    assert policy.can_view_finding(PEOPLE["coordinator"], odd, WINDOW)  # coordinators read every finding


def test_who_files_in_a_window() -> None:
    closed = policy.WindowFacts(lab_organisation_id=LAB, participants=WINDOW.participants, state="closed")
    filers = {name for name, p in PEOPLE.items() if policy.can_file_in_window(p, WINDOW)}
    assert filers == {"coordinator", "filer", "other_agency", "partner"}
    assert not any(policy.can_file_in_window(p, closed) for p in PEOPLE.values())
    # A lab never files on its own model, even holding a grant-like membership.
    assert not policy.can_file_in_window(PEOPLE["lab"], WINDOW)


def test_who_sees_the_window_and_its_report() -> None:
    seers = {name for name, p in PEOPLE.items() if policy.can_see_window(p, WINDOW)}
    assert seers == {"coordinator", "filer", "other_agency", "partner", "lab"}
    closed = policy.WindowFacts(lab_organisation_id=LAB, participants=WINDOW.participants, state="closed")
    assert {n for n, p in PEOPLE.items() if policy.can_read_report(p, WINDOW)} == {"coordinator"}
    assert {n for n, p in PEOPLE.items() if policy.can_read_report(p, closed)} == {"coordinator", "lab"}


def test_the_gateway_links_a_key_holder_to_the_assessment_page_on_the_same_rule() -> None:
    """The keys page's rule (gateway) agrees with the assessment page's (review) for every key holder:
    a key means the holder's organisation takes part in the window."""
    for name, person in PEOPLE.items():
        if person.org_kind == OrgKind.LAB:
            continue  # a lab never holds a key to its own model
        taking_part = policy.WindowFacts(
            lab_organisation_id=LAB,
            participants=WINDOW.participants
            | ({person.organisation_id} if person.organisation_id else set()),
            state="open",
        )
        expected = policy.can_see_window(person, taking_part)
        assert gateway_policy.may_assess_held_window(person) is expected, name
    assert not gateway_policy.may_assess_held_window(None)
    assert policy.is_coordinator is gateway_policy.is_assessment_coordinator


def test_route_rules() -> None:
    assert {n for n, p in PEOPLE.items() if policy.can_triage(p)} == {"coordinator"}
    assert {n for n, p in PEOPLE.items() if policy.can_plan_workstreams(p)} == {"coordinator"}
    assert {n for n, p in PEOPLE.items() if policy.can_file_findings(p)} == {
        "coordinator",
        "filer",
        "other_agency",
        "partner",
        "outside_agency",
        "outside_partner",
    }
    assert {n for n, p in PEOPLE.items() if policy.can_read_reports(p)} == {"coordinator", "lab"}
    assert not policy.can_use_assessments(None)


def test_evidence_is_added_by_the_filers_organisation_while_open() -> None:
    finding = policy.FindingFacts(tlp=Tlp.AMBER, filer_organisation_id=FILER)
    adders = {n for n, p in PEOPLE.items() if policy.can_add_evidence(p, finding, WINDOW)}
    assert adders == {"coordinator", "filer"}
    closed = policy.WindowFacts(lab_organisation_id=LAB, participants=WINDOW.participants, state="closed")
    assert not policy.can_add_evidence(PEOPLE["filer"], finding, closed)
