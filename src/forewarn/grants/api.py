"""JSON API of grants, under ``/api/v1/grants``. Thin: parse, authorise, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.grants import policy, service
from forewarn.grants.schemas import (
    ApplicationIn,
    ApplicationOut,
    AssignIn,
    AssignmentOut,
    AttachmentOut,
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


@router.post("/applications/{application_id}/attachments", response_model=AttachmentOut, status_code=201)
async def add_attachment(
    application_id: uuid.UUID,
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Applicant,
    filename: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> AttachmentOut:
    """Send the file as a ``multipart/form-data`` part named ``file``, or as the raw request body
    with its ``Content-Type`` and ``?filename=``."""
    limit = runtime.settings.grants_max_attachment_bytes
    declared = request.headers.get("content-type")
    if (declared or "").lower().startswith("multipart/form-data"):
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise InvalidInput("no file", problems=[Problem("file", "send the file as the part 'file'")])
        raw, filename, declared = await upload.read(limit + 1), upload.filename, upload.content_type
    else:
        if filename is None:
            raise InvalidInput("name the file", problems=[Problem("filename", "add ?filename=<name>")])
        raw = await request.body()
    return await service.add_attachment(
        session,
        application_id=application_id,
        raw=raw,
        filename=filename,
        declared_type=declared,
        actor=actor,
        key=runtime.keys.data,
        max_bytes=limit,
        max_count=runtime.settings.grants_max_attachments,
    )


def attachment_response(raw: bytes, meta: AttachmentOut) -> Response:
    """A download: never rendered inline, never sniffed into another type."""
    media_type = meta.media_type + ("; charset=utf-8" if meta.media_type.startswith("text/") else "")
    return Response(
        raw,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{meta.name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get("/attachments/{attachment_id}", response_class=Response)
async def get_attachment(
    attachment_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: SignedIn
) -> Response:
    raw, meta = await service.get_attachment(
        session, attachment_id=attachment_id, actor=actor, key=runtime.keys.data
    )
    return attachment_response(raw, meta)


@router.delete(
    "/applications/{application_id}/attachments/{attachment_id}", status_code=204, response_class=Response
)
async def delete_attachment(
    application_id: uuid.UUID, attachment_id: uuid.UUID, session: Session, actor: Applicant
) -> Response:
    await service.delete_attachment(
        session, application_id=application_id, attachment_id=attachment_id, actor=actor
    )
    return Response(status_code=204)
