"""JSON API of trusted-partner governance, under ``/api/v1/partners``. Thin: parse, authorise, call."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import Session
from forewarn.earlyaccess.partners import policy, service
from forewarn.earlyaccess.partners.schemas import (
    AccessOut,
    AppealIn,
    ApplicationIn,
    BallotIn,
    CheckOut,
    CompetitorIn,
    CompetitorOut,
    ConflictIn,
    PanelAssignIn,
    PanelIn,
    PanelMemberIn,
    PanelOut,
    PartnerOut,
    PartnerVersionOut,
    QueueItem,
    RedactionIn,
    RequestIn,
    RequestOut,
    RulesOut,
    StatisticsOut,
    StatusIn,
    VettingIn,
)

router = APIRouter(prefix="/partners", tags=["partners"])

Anyone = Annotated[Principal | None, Depends(public())]
SignedIn = Annotated[Principal, Depends(require(policy.partners_signed_in))]
PartnerAdmin = Annotated[Principal, Depends(require(policy.is_partner_admin))]
Vetter = Annotated[Principal, Depends(require(policy.is_vetter))]
Member = Annotated[Principal, Depends(require(policy.is_panel_member))]
LabLead = Annotated[Principal, Depends(require(policy.is_lab_lead))]
PanelAdmin = Annotated[Principal, Depends(require(policy.can_manage_panels))]
Redactor = Annotated[Principal, Depends(require(policy.can_redact))]
Requester = Annotated[Principal, Depends(require(policy.can_request))]
Appellant = Annotated[Principal, Depends(require(policy.can_appeal))]
Programme = Annotated[Principal, Depends(require(policy.sees_all))]


@router.get("/rules", response_model=list[RulesOut])
async def list_rules(_: Anyone) -> list[RulesOut]:
    """Every published version of the decision rules (the newest first), with its SHA-256."""
    return service.list_rules()


@router.get("/statistics", response_model=StatisticsOut)
async def statistics(session: Session, _: Anyone) -> StatisticsOut:
    """Approval and denial rates and time to decision by partner category and by lab; appeals."""
    return await service.statistics_(session)


@router.get("/check", response_model=CheckOut)
async def consistency_check(session: Session, _: Anyone) -> CheckOut:
    """Re-apply the recorded rules version to every decided round's ballots and compare outcomes."""
    return await service.check(session)


@router.get("/partners", response_model=list[PartnerOut])
async def list_partners(session: Session, actor: SignedIn) -> list[PartnerOut]:
    return await service.list_partners(session, actor=actor)


@router.post("/partners", response_model=PartnerOut, status_code=status.HTTP_201_CREATED)
async def apply(data: ApplicationIn, session: Session, actor: PartnerAdmin) -> PartnerOut:
    return await service.apply(session, data=data, actor=actor)


@router.get("/partners/{partner_id}", response_model=PartnerOut)
async def get_partner(partner_id: uuid.UUID, session: Session, actor: SignedIn) -> PartnerOut:
    return await service.get_partner(session, partner_id=partner_id, actor=actor)


@router.put("/partners/{partner_id}/application", response_model=PartnerOut)
async def amend(
    partner_id: uuid.UUID, data: ApplicationIn, session: Session, actor: PartnerAdmin
) -> PartnerOut:
    return await service.amend(session, partner_id=partner_id, data=data, actor=actor)


@router.get("/partners/{partner_id}/versions", response_model=list[PartnerVersionOut])
async def partner_versions(
    partner_id: uuid.UUID, session: Session, actor: SignedIn
) -> list[PartnerVersionOut]:
    return await service.versions(session, partner_id=partner_id, actor=actor)


@router.post("/partners/{partner_id}/vetting", response_model=PartnerOut)
async def vet(partner_id: uuid.UUID, data: VettingIn, session: Session, actor: Vetter) -> PartnerOut:
    return await service.vet(session, partner_id=partner_id, data=data, actor=actor)


@router.post("/partners/{partner_id}/status", response_model=PartnerOut)
async def change_status(partner_id: uuid.UUID, data: StatusIn, session: Session, actor: Vetter) -> PartnerOut:
    return await service.change_status(session, partner_id=partner_id, data=data, actor=actor)


@router.get("/competitors", response_model=list[CompetitorOut])
async def list_competitors(session: Session, actor: LabLead) -> list[CompetitorOut]:
    return await service.list_competitors(session, actor=actor)


@router.post("/competitors", response_model=CompetitorOut, status_code=status.HTTP_201_CREATED)
async def declare_competitor(data: CompetitorIn, session: Session, actor: LabLead) -> CompetitorOut:
    return await service.declare_competitor(session, organisation_id=data.organisation_id, actor=actor)


@router.get("/panels", response_model=list[PanelOut])
async def list_panels(session: Session, _: Programme) -> list[PanelOut]:
    return await service.list_panels(session)


@router.post("/panels", response_model=PanelOut, status_code=status.HTTP_201_CREATED)
async def create_panel(data: PanelIn, session: Session, actor: PanelAdmin) -> PanelOut:
    return await service.create_panel(session, data=data, actor=actor)


@router.post("/panels/{panel_id}/members", response_model=PanelOut, status_code=status.HTTP_201_CREATED)
async def add_member(
    panel_id: uuid.UUID, data: PanelMemberIn, session: Session, actor: PanelAdmin
) -> PanelOut:
    return await service.add_member(session, panel_id=panel_id, email=data.email, actor=actor)


@router.get("/requests", response_model=list[RequestOut])
async def list_requests(session: Session, actor: SignedIn) -> list[RequestOut]:
    return await service.list_requests(session, actor=actor)


@router.post("/requests", response_model=RequestOut, status_code=status.HTTP_201_CREATED)
async def request_access(data: RequestIn, session: Session, actor: Requester) -> RequestOut:
    return await service.request_access(session, data=data, actor=actor)


@router.get("/requests/{request_id}", response_model=RequestOut)
async def get_request(request_id: uuid.UUID, session: Session, actor: SignedIn) -> RequestOut:
    return await service.get_request(session, request_id=request_id, actor=actor)


@router.post("/requests/{request_id}/appeal", response_model=RequestOut, status_code=status.HTTP_201_CREATED)
async def appeal(request_id: uuid.UUID, data: AppealIn, session: Session, actor: Appellant) -> RequestOut:
    return await service.appeal(session, request_id=request_id, data=data, actor=actor)


@router.get("/queue", response_model=list[QueueItem])
async def queue(session: Session, actor: Member) -> list[QueueItem]:
    """Open rounds where you hold a seat."""
    return await service.queue(session, actor=actor)


@router.post("/rounds/{round_id}/conflict", response_model=RequestOut)
async def declare_conflict(
    round_id: uuid.UUID, data: ConflictIn, session: Session, actor: Member
) -> RequestOut:
    return await service.declare_conflict(session, round_id=round_id, data=data, actor=actor)


@router.post("/rounds/{round_id}/ballot", response_model=RequestOut, status_code=status.HTTP_201_CREATED)
async def cast_ballot(round_id: uuid.UUID, data: BallotIn, session: Session, actor: Member) -> RequestOut:
    """Vote approve, deny (with a written rationale) or abstain; refused to recused members."""
    return await service.cast_ballot(session, round_id=round_id, data=data, actor=actor)


@router.post("/rounds/{round_id}/panel", response_model=RequestOut)
async def assign_panel(
    round_id: uuid.UUID, data: PanelAssignIn, session: Session, actor: PanelAdmin
) -> RequestOut:
    return await service.assign_panel(session, round_id=round_id, panel_id=data.panel_id, actor=actor)


@router.post("/ballots/{ballot_id}/redaction", status_code=status.HTTP_204_NO_CONTENT)
async def redact(ballot_id: uuid.UUID, data: RedactionIn, session: Session, actor: Redactor) -> None:
    await service.redact_rationale(session, ballot_id=ballot_id, reason=data.reason, actor=actor)


@router.get("/access", response_model=list[AccessOut])
async def lab_access(session: Session, actor: LabLead) -> list[AccessOut]:
    """Your lab: who holds access to your models' windows, and the decision that gave it."""
    return await service.lab_access(session, actor=actor)
