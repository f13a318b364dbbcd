"""The partner programme's part of ``forewarn serve --demo``.

Sentinel Assurance applied and was vetted by NSA's coordinator; a standing panel of two government
(CISA, ONCD) and two industry members (Lumen Systems, Redline Security Research) and an appeal panel
with none of them; Cobalt Ridge Security, a partner that has not applied yet, to try the whole path.
Idempotent: nothing is added once the standing panel exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Principal, Role
from forewarn.core.errors import NotFound
from forewarn.earlyaccess.partners import service
from forewarn.earlyaccess.partners.schemas import ApplicationIn, ChecklistItem, PanelIn, PanelKind, VettingIn

STANDING = "Standing panel"
APPEALS = "Appeal panel"
STANDING_MEMBERS = ["custodian@cisa.demo", "custodian@oncd.demo", "safety@lumen.demo", "lead@redline.demo"]
APPEAL_MEMBERS = ["panel@nist.demo", "panel@treasury.demo", "board@lumen.demo", "board@redline.demo"]
PEOPLE: list[tuple[str, str, str, list[Role]]] = [
    ("panel@nist.demo", "Ines Moreau", "NIST", [Role.PANEL_MEMBER]),
    ("panel@treasury.demo", "Grant Whitaker", "TREASURY", [Role.PANEL_MEMBER]),
    ("board@lumen.demo", "Alex Romero", "Lumen Systems", [Role.PANEL_MEMBER]),
    ("board@redline.demo", "Kim Sato", "Redline Security Research", [Role.PANEL_MEMBER]),
    ("admin@cobaltridge.demo", "Noor Haddad", "Cobalt Ridge Security", [Role.ADMIN]),
    ("redteam@cobaltridge.demo", "Eli Brandt", "Cobalt Ridge Security", [Role.REVIEWER]),
]


async def _principal(session: AsyncSession, email: str) -> Principal | None:
    try:
        person = await accounts.find_person(session, email=email)
    except NotFound:
        return None
    return await accounts.principal_for(
        session, person_id=person.id, organisation_id=person.memberships[0].organisation_id, via="demo"
    )


async def seed_demo(session: AsyncSession, runtime: Any, *, password: str) -> list[str]:
    """Seed the demo's partner programme once; return lines to print."""
    if await service.find_panel(session, name=STANDING) is not None:
        return []
    try:
        cobalt = await accounts.find_organisation(session, name_or_code="Cobalt Ridge Security")
    except NotFound:
        cobalt = await accounts.create_organisation(
            session, data=OrganisationIn(name="Cobalt Ridge Security", kind=OrgKind.PARTNER), actor=None
        )
    for email, name, org_ref, roles in PEOPLE:
        try:
            await accounts.find_person(session, email=email)
            continue
        except NotFound:
            pass
        org = (
            cobalt
            if org_ref == cobalt.name
            else await accounts.find_organisation(session, name_or_code=org_ref)
        )
        await accounts.create_person(
            session,
            data=PersonIn(email=email, name=name, password=password, organisation_id=org.id, roles=roles),
            actor=None,
        )
    for panel_name, kind, members in (
        (STANDING, PanelKind.STANDING, STANDING_MEMBERS),
        (APPEALS, PanelKind.APPEAL, APPEAL_MEMBERS),
    ):
        panel = await service.create_panel(session, data=PanelIn(name=panel_name, kind=kind), actor=None)
        for email in members:
            await service.add_member(session, panel_id=panel.id, email=email, actor=None)
    sentinel_admin = await _principal(session, "redteam@sentinel.demo")
    coordinator = await _principal(session, "coordinator@nsa.demo")
    if (
        sentinel_admin is not None
        and coordinator is not None
        and sentinel_admin.organisation_id is not None
        and await service.partner_of(session, organisation_id=sentinel_admin.organisation_id) is None
    ):
        partner = await service.apply(
            session,
            data=ApplicationIn.model_validate(
                {
                    "category": "security_firm",
                    "capabilities": "Red-teaming of frontier models for cyber-offence uplift, jailbreaks"
                    " and agentic misuse; ten years of penetration testing for federal agencies.",
                    "attestations": [
                        {
                            "control": "soc2_type2",
                            "statement": "SOC 2 Type II report, period ending 2026-06.",
                        },
                        {
                            "control": "access_control",
                            "statement": "Hardware keys and per-project enclaves.",
                        },
                        {
                            "control": "staff_screening",
                            "statement": "Every red-teamer holds a clearance.",
                        },
                    ],
                    "staff_emails": ["redteam@sentinel.demo"],
                    "relationships": [],
                }
            ),
            actor=sentinel_admin,
        )
        await service.vet(
            session,
            partner_id=partner.id,
            data=VettingIn(
                checklist=dict.fromkeys(ChecklistItem, True),
                reason="Demo vetting: identity, ownership, attestations, staff and sanctions checked.",
            ),
            actor=coordinator,
        )
    return [
        "Trusted partners: Sentinel Assurance is vetted; the standing panel is custodian@cisa.demo,"
        " custodian@oncd.demo (government), safety@lumen.demo, lead@redline.demo (industry);",
        "  the appeal panel is panel@nist.demo, panel@treasury.demo, board@lumen.demo, board@redline.demo;"
        " admin@cobaltridge.demo can apply at /partners.",
    ]
