"""JSON API of grants, under ``/api/v1/grants``. Thin: parse, authorise, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import Session
from forewarn.grants import policy, service
from forewarn.grants.schemas import (
    ApplicationIn,
    ApplicationOut,
    AssignIn,
    AssignmentOut,
    AwardOut,
    CallIn,
    CallOut,
    ConflictIn,
    DecisionIn,
    MilestoneDecisionIn,
    MilestoneReportIn,
    RankRow,
    ScoreIn,
    ToolIn,
    ToolRegistered,
)

router = APIRouter(prefix="/grants", tags=["grants"])

Officer = Annotated[Principal, Depends(require(policy.is_grants_officer))]
Applicant = Annotated[Principal, Depends(require(policy.is_applicant))]
SignedIn = Annotated[Principal, Depends(require(policy.grants_signed_in))]
Anyone = Annotated[Principal | None, Depends(public())]


@router.get("/calls", response_model=list[CallOut])
async def list_calls(session: Session, actor: Anyone) -> list[CallOut]:
    return await service.list_calls(session, actor=actor)


@router.post("/calls", response_model=CallOut, status_code=status.HTTP_201_CREATED)
async def create_call(data: CallIn, session: Session, actor: Officer) -> CallOut:
    return await service.create_call(session, data=data, actor=actor)


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: uuid.UUID, session: Session, actor: Anyone) -> CallOut:
    return await service.get_call(session, call_id=call_id, actor=actor)


@router.post("/calls/{call_id}/publish", response_model=CallOut)
async def publish_call(call_id: uuid.UUID, session: Session, actor: Officer) -> CallOut:
    return await service.publish_call(session, call_id=call_id, actor=actor)


@router.get("/calls/{call_id}/applications", response_model=list[ApplicationOut])
async def call_applications(call_id: uuid.UUID, session: Session, actor: Officer) -> list[ApplicationOut]:
    return await service.call_applications(session, call_id=call_id, actor=actor)


@router.get("/calls/{call_id}/ranking", response_model=list[RankRow])
async def ranking(call_id: uuid.UUID, session: Session, actor: Officer) -> list[RankRow]:
    return await service.ranking(session, call_id=call_id, actor=actor)


@router.post("/calls/{call_id}/applications", response_model=ApplicationOut, status_code=201)
async def create_application(
    call_id: uuid.UUID, data: ApplicationIn, session: Session, actor: Applicant
) -> ApplicationOut:
    return await service.create_application(session, call_id=call_id, data=data, actor=actor)


@router.get("/applications", response_model=list[ApplicationOut])
async def my_applications(session: Session, actor: Applicant) -> list[ApplicationOut]:
    return await service.my_applications(session, actor=actor)


@router.get("/applications/{application_id}", response_model=ApplicationOut)
async def get_application(application_id: uuid.UUID, session: Session, actor: SignedIn) -> ApplicationOut:
    return await service.get_application(session, application_id=application_id, actor=actor)


@router.put("/applications/{application_id}/draft", response_model=ApplicationOut)
async def update_application(
    application_id: uuid.UUID, data: ApplicationIn, session: Session, actor: Applicant
) -> ApplicationOut:
    return await service.update_application(session, application_id=application_id, data=data, actor=actor)


@router.post("/applications/{application_id}/submit", response_model=ApplicationOut)
async def submit_application(application_id: uuid.UUID, session: Session, actor: Applicant) -> ApplicationOut:
    return await service.submit_application(session, application_id=application_id, actor=actor)


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut)
async def withdraw_application(
    application_id: uuid.UUID, session: Session, actor: Applicant
) -> ApplicationOut:
    return await service.withdraw_application(session, application_id=application_id, actor=actor)


@router.post("/applications/{application_id}/reviewers", response_model=AssignmentOut, status_code=201)
async def assign_reviewer(
    application_id: uuid.UUID, data: AssignIn, session: Session, actor: Officer
) -> AssignmentOut:
    return await service.assign_reviewer(
        session, application_id=application_id, reviewer_email=data.reviewer_email, actor=actor
    )


@router.get("/reviews", response_model=list[AssignmentOut])
async def my_reviews(session: Session, actor: SignedIn) -> list[AssignmentOut]:
    return await service.my_assignments(session, actor=actor)


@router.post("/applications/{application_id}/conflict", response_model=AssignmentOut)
async def declare_conflict(
    application_id: uuid.UUID, data: ConflictIn, session: Session, actor: SignedIn
) -> AssignmentOut:
    return await service.declare_conflict(session, application_id=application_id, data=data, actor=actor)


@router.post("/applications/{application_id}/scores", response_model=AssignmentOut)
async def score(application_id: uuid.UUID, data: ScoreIn, session: Session, actor: SignedIn) -> AssignmentOut:
    return await service.score(session, application_id=application_id, data=data, actor=actor)


@router.post("/applications/{application_id}/decision", response_model=ApplicationOut)
async def decide(
    application_id: uuid.UUID, data: DecisionIn, session: Session, actor: Officer
) -> ApplicationOut:
    return await service.decide(session, application_id=application_id, data=data, actor=actor)


@router.get("/awards", response_model=list[AwardOut])
async def list_awards(session: Session, _: Anyone) -> list[AwardOut]:
    return await service.list_awards(session)


@router.get("/awards/{award_id}", response_model=AwardOut)
async def get_award(award_id: uuid.UUID, session: Session, actor: Anyone) -> AwardOut:
    return await service.get_award(session, award_id=award_id, actor=actor)


@router.post("/awards/{award_id}/tool", response_model=ToolRegistered, status_code=201)
async def register_tool(
    award_id: uuid.UUID, data: ToolIn, session: Session, actor: Applicant
) -> ToolRegistered:
    return await service.register_tool(session, award_id=award_id, data=data, actor=actor)


@router.post("/milestones/{milestone_id}/report", response_model=AwardOut)
async def report_milestone(
    milestone_id: uuid.UUID, data: MilestoneReportIn, session: Session, actor: Applicant
) -> AwardOut:
    return await service.report_milestone(session, milestone_id=milestone_id, data=data, actor=actor)


@router.post("/milestones/{milestone_id}/decision", response_model=AwardOut)
async def decide_milestone(
    milestone_id: uuid.UUID, data: MilestoneDecisionIn, session: Session, actor: Officer
) -> AwardOut:
    return await service.decide_milestone(session, milestone_id=milestone_id, data=data, actor=actor)


@router.post("/milestones/{milestone_id}/disbursement", response_model=AwardOut)
async def disburse(milestone_id: uuid.UUID, session: Session, actor: Officer) -> AwardOut:
    return await service.disburse(session, milestone_id=milestone_id, actor=actor)
