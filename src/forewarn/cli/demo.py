"""The demo world of ``forewarn serve --demo``: five agencies, two labs, two partners, three operators.

All names are fictional except the agencies'. Seeding is idempotent: a second run adds nothing. The
demo password is random per data dir, printed once and kept in ``<data_dir>/demo-credentials.txt``
(mode 0600) so a newcomer can find it again.
"""

from __future__ import annotations

import os
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service
from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Role
from forewarn.core.errors import NotFound
from forewarn.core.jobs import Runtime

ORGS: list[tuple[str, OrgKind, str | None, str | None]] = [
    ("National Security Agency", OrgKind.AGENCY, "NSA", None),
    ("Cybersecurity and Infrastructure Security Agency", OrgKind.AGENCY, "CISA", None),
    ("National Institute of Standards and Technology", OrgKind.AGENCY, "NIST", None),
    ("Office of the National Cyber Director", OrgKind.AGENCY, "ONCD", None),
    ("Department of the Treasury", OrgKind.AGENCY, "TREASURY", None),
    ("Northwind AI", OrgKind.LAB, None, None),
    ("Lumen Systems", OrgKind.LAB, None, None),
    ("Sentinel Assurance", OrgKind.PARTNER, None, None),
    ("Redline Security Research", OrgKind.PARTNER, None, None),
    ("Harlan County Community Hospital", OrgKind.OPERATOR, None, "healthcare/rural-hospital"),
    ("First Prairie Community Bank", OrgKind.OPERATOR, None, "finance/community-bank"),
    ("Millbrook Water District", OrgKind.OPERATOR, None, "water/community-water-system"),
]

PEOPLE: list[tuple[str, str, str, list[Role]]] = [
    ("custodian@nsa.demo", "Dana Whitfield", "NSA", [Role.BENCHMARK_CUSTODIAN, Role.ADMIN]),
    ("coordinator@nsa.demo", "Marcus Reyes", "NSA", [Role.ASSESSMENT_COORDINATOR, Role.REVIEWER]),
    ("custodian@cisa.demo", "Priya Natarajan", "CISA", [Role.BENCHMARK_CUSTODIAN, Role.PANEL_MEMBER]),
    ("custodian@nist.demo", "Tomas Lindqvist", "NIST", [Role.BENCHMARK_CUSTODIAN, Role.REVIEWER]),
    ("custodian@oncd.demo", "Avery Brooks", "ONCD", [Role.BENCHMARK_CUSTODIAN, Role.PANEL_MEMBER]),
    ("analyst@treasury.demo", "Helen Okafor", "TREASURY", [Role.CLEARINGHOUSE_ANALYST, Role.GRANTS_OFFICER]),
    ("safety@northwind.demo", "Jordan Ellis", "Northwind AI", [Role.SAFETY_LEAD, Role.ADMIN]),
    ("safety@lumen.demo", "Sam Okonkwo", "Lumen Systems", [Role.SAFETY_LEAD, Role.PANEL_MEMBER]),
    ("redteam@sentinel.demo", "Riley Chen", "Sentinel Assurance", [Role.REVIEWER, Role.ADMIN]),
    ("lead@redline.demo", "Morgan Diaz", "Redline Security Research", [Role.REVIEWER, Role.PANEL_MEMBER]),
    (
        "it@harlan-hospital.demo",
        "Casey Morgan",
        "Harlan County Community Hospital",
        [Role.OPERATOR_CONTACT, Role.ADMIN],
    ),
    ("security@firstprairie.demo", "Lee Anderson", "First Prairie Community Bank", [Role.OPERATOR_CONTACT]),
    ("ops@millbrook-water.demo", "Pat Kowalski", "Millbrook Water District", [Role.OPERATOR_CONTACT]),
]


def _demo_password(runtime: Runtime) -> tuple[str, bool]:
    path = runtime.settings.data_dir / "demo-credentials.txt"
    if path.exists():
        return path.read_text().strip().rsplit(" ", 1)[-1], False
    password = "demo-" + secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"password of every demo account: {password}\n")
    return password, True


async def seed(session: AsyncSession, runtime: Runtime) -> list[str]:
    """Create the demo world where missing; return lines to print."""
    ids = {}
    for name, kind, code, sector in ORGS:
        try:
            org = await service.find_organisation(session, name_or_code=code or name)
        except NotFound:
            org = await service.create_organisation(
                session, data=OrganisationIn(name=name, kind=kind, code=code, sector=sector), actor=None
            )
        ids[code or name] = org.id
    password, new = _demo_password(runtime)
    for email, person_name, org_ref, roles in PEOPLE:
        try:
            await service.find_person(session, email=email)
            continue
        except NotFound:
            pass
        await service.create_person(
            session,
            data=PersonIn(
                email=email, name=person_name, password=password, organisation_id=ids[org_ref], roles=roles
            ),
            actor=None,
        )
    lines = ["Demo world ready: sign in as any of"]
    lines += [
        f"  {email:32} {org_ref:34} {', '.join(r.value for r in roles)}"
        for email, _, org_ref, roles in PEOPLE
    ]
    where = runtime.settings.data_dir / "demo-credentials.txt"
    lines.append(f"  demo password: {password}" + ("" if new else f"  (also in {where})"))
    return lines
