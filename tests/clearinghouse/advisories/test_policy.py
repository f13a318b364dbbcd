"""TLP 2.0 access rules of clearinghouse cases and reports, as pure functions: every label and party."""

from __future__ import annotations

import uuid

import pytest

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.clearinghouse.advisories import policy
from forewarn.clearinghouse.advisories.schemas import Tlp

REPORTER, VENDOR, OTHER_VENDOR, OPERATOR, AGENCY = (uuid.uuid4() for _ in range(5))


def person(org: uuid.UUID | None, kind: OrgKind | None, *roles: Role) -> Principal:
    return Principal(
        person_id=uuid.uuid4(),
        email="p@example.org",
        name="P",
        organisation_id=org,
        organisation_name="O",
        org_kind=kind,
        org_code="TREASURY" if kind is OrgKind.AGENCY else None,
        roles=frozenset(roles),
    )


PEOPLE = {
    "analyst": person(AGENCY, OrgKind.AGENCY, Role.CLEARINGHOUSE_ANALYST),
    "reporter": person(REPORTER, OrgKind.LAB, Role.SAFETY_LEAD),
    "vendor": person(VENDOR, OrgKind.VENDOR, Role.MEMBER),
    "other_vendor": person(OTHER_VENDOR, OrgKind.VENDOR, Role.MEMBER),
    "operator": person(OPERATOR, OrgKind.OPERATOR, Role.OPERATOR_CONTACT),
    "agency_member": person(uuid.uuid4(), OrgKind.AGENCY, Role.MEMBER),
    "analyst_role_outside_an_agency": person(uuid.uuid4(), OrgKind.VENDOR, Role.CLEARINGHOUSE_ANALYST),
    "no_organisation": person(None, None),
    "anonymous": None,
}

#: (TLP, state) → who may read a case whose reporter is REPORTER and whose vendor is VENDOR.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("RED", "open"): {"analyst", "reporter"},
    ("AMBER+STRICT", "open"): {"analyst", "reporter", "vendor"},
    ("AMBER", "open"): {"analyst", "reporter", "vendor"},
    ("GREEN", "open"): {
        "analyst",
        "reporter",
        "vendor",
        "other_vendor",
        "operator",
        "agency_member",
        "analyst_role_outside_an_agency",
    },
    ("CLEAR", "published"): set(PEOPLE),
    ("AMBER", "merged"): {"analyst"},
    ("NOT-A-LABEL", "open"): set(),
    ("AMBER", "deleted"): set(),
}


@pytest.mark.parametrize(("tlp", "state"), sorted(EXPECTED))
def test_who_reads_a_case(tlp: str, state: str) -> None:
    case = policy.CaseAccess(
        tlp=tlp, state=state, reporter_organisation_id=REPORTER, vendor_organisation_ids=frozenset({VENDOR})
    )
    allowed = {name for name, p in PEOPLE.items() if policy.can_read_case(p, case)}
    assert allowed == EXPECTED[(tlp, state)]


def test_reports_are_for_analysts_and_the_reporter() -> None:
    for label in Tlp:
        report = policy.ReportAccess(tlp=label.value, reporter_organisation_id=REPORTER)
        assert {n for n, p in PEOPLE.items() if policy.can_read_report(p, report)} == {"analyst", "reporter"}
    assert not policy.can_read_report(PEOPLE["analyst"], policy.ReportAccess("PURPLE", REPORTER))


def test_actions() -> None:
    open_amber = policy.CaseAccess("AMBER", "open", REPORTER, frozenset({VENDOR}))
    open_red = policy.CaseAccess("RED", "open", REPORTER, frozenset())
    published = policy.CaseAccess("CLEAR", "published", REPORTER, frozenset({VENDOR}))
    who = {n for n, p in PEOPLE.items() if policy.can_add_vendor(p, open_amber)}
    assert who == {"analyst"}
    assert not policy.can_add_vendor(PEOPLE["analyst"], open_red)
    assert {n for n, p in PEOPLE.items() if policy.can_state_vendor_status(p, open_amber)} == {"vendor"}
    assert {n for n, p in PEOPLE.items() if policy.can_publish(p, open_amber)} == {"analyst"}
    assert not policy.can_publish(PEOPLE["analyst"], published)
    assert policy.can_revise(PEOPLE["analyst"], published) and not policy.can_revise(
        PEOPLE["vendor"], published
    )
    assert {n for n, p in PEOPLE.items() if policy.can_report(p)} == set(PEOPLE) - {
        "anonymous",
        "no_organisation",
    }
    assert {n for n, p in PEOPLE.items() if policy.can_see_vendor_cases(p)} == {
        "analyst",
        "vendor",
        "other_vendor",
        "reporter",
        "analyst_role_outside_an_agency",
    }


def test_vendors_see_only_their_own_statements_until_publication() -> None:
    both = [VENDOR, OTHER_VENDOR]
    open_case = policy.CaseAccess("AMBER", "open", REPORTER, frozenset(both))
    assert policy.vendor_statuses_visible(PEOPLE["vendor"], open_case, both) == {VENDOR}
    assert policy.vendor_statuses_visible(PEOPLE["analyst"], open_case, both) == set(both)
    assert policy.vendor_statuses_visible(PEOPLE["reporter"], open_case, both) == set()
    published = policy.CaseAccess("CLEAR", "published", REPORTER, frozenset(both))
    assert policy.vendor_statuses_visible(None, published, both) == set(both)
