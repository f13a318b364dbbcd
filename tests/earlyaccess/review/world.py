"""A small review-programme world for tests: a lab with its safety lead, agencies with a coordinator
and reviewers, a partner with staff, a published agreement and a registered model.

Everything is created in the test's session (rolled back at its end).
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
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import AgreementIn, CredentialIn, ModelIn, ModelOut, WindowOut

AGREEMENT_TEXT = (
    "The lab gives the programme early access to its covered model for the window's length. The lab"
    " may withdraw at any time. Nothing here licenses, pre-clears or permits a release."
)


async def org(
    session: AsyncSession, kind: OrgKind, *, code: str | None = None, name: str | None = None
) -> uuid.UUID:
    created = await accounts.create_organisation(
        session,
        data=OrganisationIn(
            name=name or f"{kind.value} {uuid.uuid4().hex[:8]}",
            kind=kind,
            code=code or (f"A{uuid.uuid4().hex[:8].upper()}" if kind == OrgKind.AGENCY else None),
        ),
        actor=None,
    )
    return created.id


async def person(
    session: AsyncSession, organisation_id: uuid.UUID, roles: list[Role], *, email: str | None = None
) -> Principal:
    return await new_person(
        session, organisation_id, roles, email=email, name=f"Person {uuid.uuid4().hex[:4]}"
    )


@dataclass
class World:
    lab: uuid.UUID
    lead: Principal
    lab_member: Principal
    other_lab: uuid.UUID
    other_lead: Principal
    agency: uuid.UUID
    coordinator: Principal
    agency_reviewer: Principal
    second_agency: uuid.UUID
    second_reviewer: Principal
    partner: uuid.UUID
    partner_staff: Principal
    partner_other: Principal
    model: ModelOut


async def build(session: AsyncSession, key: DataKey, *, sign: bool = True) -> World:
    lab = await org(session, OrgKind.LAB)
    other_lab = await org(session, OrgKind.LAB)
    agency = await org(session, OrgKind.AGENCY)
    second = await org(session, OrgKind.AGENCY)
    partner = await org(session, OrgKind.PARTNER)
    coordinator = await person(session, agency, [Role.ASSESSMENT_COORDINATOR])
    lead = await person(session, lab, [Role.SAFETY_LEAD])
    agreement = await review.publish_agreement(
        session, data=AgreementIn(title="Participation agreement", body=AGREEMENT_TEXT), actor=coordinator
    )
    if sign:
        await review.sign(session, agreement_version=agreement.version, actor=lead)
    model = await register(session, key, lead)
    return World(
        lab=lab,
        lead=lead,
        lab_member=await person(session, lab, [Role.MEMBER]),
        other_lab=other_lab,
        other_lead=await person(session, other_lab, [Role.SAFETY_LEAD]),
        agency=agency,
        coordinator=coordinator,
        agency_reviewer=await person(session, agency, [Role.REVIEWER]),
        second_agency=second,
        second_reviewer=await person(session, second, [Role.REVIEWER]),
        partner=partner,
        partner_staff=await person(session, partner, [Role.REVIEWER]),
        partner_other=await person(session, partner, [Role.REVIEWER]),
        model=model,
    )


async def register(session: AsyncSession, key: DataKey, lead: Principal, **fields: Any) -> ModelOut:
    data: dict[str, Any] = {
        "name": f"wren-{uuid.uuid4().hex[:6]}",
        "version": "1.0",
        "family": "wren",
        "planned_release": date(2027, 3, 1),
        "access_mode": "remote",
        "endpoint_base_url": "http://127.0.0.1:9/v1",
        "endpoint_model": "wren",
        "card_summary": "A small test model.",
    } | fields
    return await review.register_model(session, data=ModelIn.model_validate(data), actor=lead, key=key)


async def mark_covered(session: AsyncSession, model_id: uuid.UUID) -> None:
    """What a finished determination with the verdict "covered" tells the review programme."""
    await review.record_determination(session, model_id=model_id, determination_id=uuid.uuid4(), covered=True)


async def open_for_access(
    session: AsyncSession,
    key: DataKey,
    world: World,
    *,
    length_days: int = 30,
    credential: str = "sk-upstream-CANARY",
) -> WindowOut:
    """Open a window on the world's model and hand over the credential (access starts now)."""
    await mark_covered(session, world.model.id)
    window = await review.open_window(
        session, model_id=world.model.id, actor=world.lead, length_days=length_days
    )
    return await review.register_credential(
        session,
        window_id=window.id,
        data=CredentialIn.model_validate({"credential": credential}),
        actor=world.lead,
        key=key,
    )
