"""A partner-governance world for tests: a lab with an open window, a partner with staff, agencies,
panel members of both constituencies on a standing and an appeal panel.

Everything is created in the test's session (rolled back at its end). Windows come from the review
service's public functions only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import new_person

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, Principal, Role
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.partners import service
from forewarn.earlyaccess.partners.schemas import (
    ApplicationIn,
    BallotIn,
    ChecklistItem,
    PanelIn,
    PanelKind,
    RequestIn,
    RequestOut,
    VettingIn,
    Vote,
)
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import AgreementIn, CredentialIn, ModelIn, WindowOut


async def org(session: AsyncSession, kind: OrgKind, name: str | None = None) -> uuid.UUID:
    code = f"A{uuid.uuid4().hex[:8].upper()}" if kind == OrgKind.AGENCY else None
    created = await accounts.create_organisation(
        session,
        data=OrganisationIn(name=name or f"{kind.value} {uuid.uuid4().hex[:8]}", kind=kind, code=code),
        actor=None,
    )
    return created.id


async def person(
    session: AsyncSession, organisation_id: uuid.UUID, roles: list[Role], *, admin: bool = False
) -> Principal:
    return await new_person(
        session, organisation_id, roles, admin=admin, name=f"Person {uuid.uuid4().hex[:4]}"
    )


@dataclass
class World:
    lab: uuid.UUID
    lab_lead: Principal
    rival_lab: uuid.UUID
    rival_lead: Principal
    agency: uuid.UUID
    coordinator: Principal
    admin: Principal
    partner: uuid.UUID
    partner_admin: Principal
    staff: list[Principal]
    #: Standing panel: two government, two industry members.
    gov: list[Principal]
    ind: list[Principal]
    #: Appeal panel: disjoint from the standing one.
    appeal_gov: list[Principal]
    appeal_ind: list[Principal]
    standing_id: uuid.UUID
    appeal_id: uuid.UUID
    window: WindowOut


async def open_window(
    session: AsyncSession, key: DataKey, lab_lead: Principal, coordinator: Principal
) -> WindowOut:
    """A model of the lab with an open window (agreement signed, credential handed over)."""
    agreements = await review.list_agreements(session)
    if not agreements:
        agreement = await review.publish_agreement(
            session,
            data=AgreementIn(
                title="Participation agreement",
                body="The lab gives the programme early access to its covered model for the window's"
                " length and may withdraw at any time; nothing here permits or blocks a release.",
            ),
            actor=coordinator,
        )
    else:
        agreement = agreements[0]
    current = await review.current_agreement(session)
    version = current.version if current else agreement.version
    if not await review.is_participating(session, organisation_id=lab_lead.organisation_id):  # type: ignore[arg-type]
        await review.sign(session, agreement_version=version, actor=lab_lead)
    model = await review.register_model(
        session,
        data=ModelIn.model_validate(
            {
                "name": f"kestrel-{uuid.uuid4().hex[:6]}",
                "version": "1.0",
                "family": "kestrel",
                "planned_release": date(2027, 5, 1),
                "access_mode": "remote",
                "endpoint_base_url": "http://127.0.0.1:9/v1",
                "endpoint_model": "kestrel",
            }
        ),
        actor=lab_lead,
        key=key,
    )
    await review.record_determination(session, model_id=model.id, determination_id=uuid.uuid4(), covered=True)
    window = await review.open_window(session, model_id=model.id, actor=lab_lead, length_days=30)
    return await review.register_credential(
        session,
        window_id=window.id,
        data=CredentialIn.model_validate({"credential": "sk-upstream-test"}),
        actor=lab_lead,
        key=key,
    )


async def build(session: AsyncSession, key: DataKey) -> World:
    lab = await org(session, OrgKind.LAB)
    rival = await org(session, OrgKind.LAB)
    agency = await org(session, OrgKind.AGENCY)
    agency2 = await org(session, OrgKind.AGENCY)
    partner = await org(session, OrgKind.PARTNER)
    other_partner = await org(session, OrgKind.PARTNER)
    third_lab = await org(session, OrgKind.LAB)
    coordinator = await person(session, agency, [Role.ASSESSMENT_COORDINATOR])
    lab_lead = await person(session, lab, [Role.SAFETY_LEAD])
    admin = await person(session, agency, [Role.ADMIN], admin=True)
    gov = [
        await person(session, agency, [Role.PANEL_MEMBER]),
        await person(session, agency2, [Role.PANEL_MEMBER]),
    ]
    ind = [
        await person(session, third_lab, [Role.PANEL_MEMBER]),
        await person(session, other_partner, [Role.PANEL_MEMBER]),
    ]
    appeal_gov = [
        await person(session, agency, [Role.PANEL_MEMBER]),
        await person(session, agency2, [Role.PANEL_MEMBER]),
    ]
    appeal_ind = [
        await person(session, third_lab, [Role.PANEL_MEMBER]),
        await person(session, other_partner, [Role.PANEL_MEMBER]),
    ]
    standing = await service.create_panel(
        session, data=PanelIn(name=f"Standing {uuid.uuid4().hex[:6]}", kind=PanelKind.STANDING), actor=admin
    )
    for p in gov + ind:
        await service.add_member(session, panel_id=standing.id, email=p.email, actor=admin)
    appeal = await service.create_panel(
        session, data=PanelIn(name=f"Appeals {uuid.uuid4().hex[:6]}", kind=PanelKind.APPEAL), actor=admin
    )
    for p in appeal_gov + appeal_ind:
        await service.add_member(session, panel_id=appeal.id, email=p.email, actor=admin)
    window = await open_window(session, key, lab_lead, coordinator)
    return World(
        lab=lab,
        lab_lead=lab_lead,
        rival_lab=rival,
        rival_lead=await person(session, rival, [Role.SAFETY_LEAD]),
        agency=agency,
        coordinator=coordinator,
        admin=admin,
        partner=partner,
        partner_admin=await person(session, partner, [Role.ADMIN]),
        staff=[
            await person(session, partner, [Role.REVIEWER]),
            await person(session, partner, [Role.REVIEWER]),
        ],
        gov=gov,
        ind=ind,
        appeal_gov=appeal_gov,
        appeal_ind=appeal_ind,
        standing_id=standing.id,
        appeal_id=appeal.id,
        window=window,
    )


def application_in(w: World, **over: Any) -> ApplicationIn:
    data: dict[str, Any] = {
        "category": "security_firm",
        "capabilities": "Red-teaming of language models for cyber-offence uplift and jailbreaks.",
        "attestations": [
            {"control": "soc2_type2", "statement": "SOC 2 Type II report dated 2026-09-30."},
            {"control": "access_control", "statement": "Hardware keys for every staff account."},
        ],
        "staff_emails": [s.email for s in w.staff],
        "relationships": [],
    }
    data.update(over)
    return ApplicationIn.model_validate(data)


ALL_PASS = VettingIn(checklist=dict.fromkeys(ChecklistItem, True), reason="Every item checked by CISA.")


async def vetted_partner(session: AsyncSession, w: World, **over: Any) -> uuid.UUID:
    partner = await service.apply(session, data=application_in(w, **over), actor=w.partner_admin)
    await service.vet(session, partner_id=partner.id, data=ALL_PASS, actor=w.coordinator)
    return partner.id


async def request(session: AsyncSession, w: World) -> RequestOut:
    return await service.request_access(
        session,
        data=RequestIn(
            window_id=w.window.id,
            workstream="Cyber-offence uplift evaluation",
            justification="We run the programme's cyber-uplift tests for this model family.",
        ),
        actor=w.partner_admin,
    )


DENY_WHY = "The staff list has not been screened for the risk level of this model."


async def vote_all(
    session: AsyncSession, round_id: uuid.UUID, voters: list[Principal], votes: list[Vote]
) -> RequestOut:
    out: RequestOut | None = None
    for voter, vote in zip(voters, votes, strict=True):
        out = await service.cast_ballot(
            session,
            round_id=round_id,
            data=BallotIn(vote=vote, rationale=DENY_WHY if vote is Vote.DENY else "Meets the bar."),
            actor=voter,
        )
    assert out is not None
    return out
