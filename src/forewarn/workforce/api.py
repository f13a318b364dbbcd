"""JSON API of workforce, under ``/api/v1/workforce``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import RuntimeDep, Session
from forewarn.workforce import policy, service
from forewarn.workforce.schemas import (
    PATHWAYS,
    AssessmentIn,
    AssessmentOut,
    AssessmentTaskOut,
    JobApplicationIn,
    JobApplicationOut,
    PathwayMetrics,
    PostingIn,
    PostingOut,
    StageIn,
)

router = APIRouter(prefix="/workforce", tags=["workforce"])

Hiring = Annotated[Principal, Depends(require(policy.is_hiring_officer))]
Candidate = Annotated[Principal, Depends(require(policy.can_apply))]
Anyone = Annotated[Principal | None, Depends(public())]


@router.get("/pathways")
async def pathways(_: Anyone) -> list[dict[str, Any]]:
    return [
        {
            "key": p.key,
            "title": p.title,
            "summary": p.summary,
            "skills": list(p.skills),
            "steps": list(p.steps),
            "routes": [r.value for r in p.routes],
        }
        for p in PATHWAYS.values()
    ]


@router.get("/pathways/{pathway}/assessment", response_model=list[AssessmentTaskOut])
async def assessment_tasks(pathway: str, _: Anyone) -> list[AssessmentTaskOut]:
    return service.assessment_tasks(pathway)


@router.post("/pathways/{pathway}/assessment", response_model=AssessmentOut, status_code=201)
async def take_assessment(
    pathway: str, data: AssessmentIn, session: Session, actor: Candidate
) -> AssessmentOut:
    return await service.take_assessment(session, pathway=pathway, data=data, actor=actor)


@router.get("/assessments", response_model=list[AssessmentOut])
async def my_assessments(session: Session, actor: Candidate) -> list[AssessmentOut]:
    return await service.my_assessments(session, actor=actor)


@router.get("/metrics", response_model=list[PathwayMetrics])
async def metrics(session: Session, _: Anyone) -> list[PathwayMetrics]:
    return await service.metrics(session)


@router.get("/postings", response_model=list[PostingOut])
async def postings(session: Session, _: Anyone) -> list[PostingOut]:
    return await service.list_postings(session)


@router.post("/postings", response_model=PostingOut, status_code=status.HTTP_201_CREATED)
async def create_posting(data: PostingIn, session: Session, actor: Hiring) -> PostingOut:
    return await service.create_posting(session, data=data, actor=actor)


@router.get("/postings/{posting_id}/applications", response_model=list[JobApplicationOut])
async def posting_applications(
    posting_id: uuid.UUID, session: Session, actor: Hiring
) -> list[JobApplicationOut]:
    return await service.posting_applications(session, posting_id=posting_id, actor=actor)


@router.post("/postings/{posting_id}/applications", response_model=JobApplicationOut, status_code=201)
async def apply(
    posting_id: uuid.UUID, data: JobApplicationIn, session: Session, actor: Candidate
) -> JobApplicationOut:
    return await service.apply(session, posting_id=posting_id, data=data, actor=actor)


@router.get("/applications", response_model=list[JobApplicationOut])
async def my_applications(session: Session, actor: Candidate) -> list[JobApplicationOut]:
    return await service.my_applications(session, actor=actor)


@router.get("/applications/{application_id}", response_model=JobApplicationOut)
async def get_application(application_id: uuid.UUID, session: Session, actor: Candidate) -> JobApplicationOut:
    return await service.get_application(session, application_id=application_id, actor=actor)


@router.post("/applications/{application_id}/stage", response_model=JobApplicationOut)
async def move(
    application_id: uuid.UUID, data: StageIn, session: Session, actor: Hiring
) -> JobApplicationOut:
    return await service.move(session, application_id=application_id, data=data, actor=actor)


@router.delete("/applications/{application_id}", status_code=204)
async def delete_application(application_id: uuid.UUID, session: Session, actor: Candidate) -> Response:
    await service.delete_application(session, application_id=application_id, actor=actor)
    return Response(status_code=204)


@router.put("/applications/{application_id}/resume", response_model=JobApplicationOut)
async def attach_resume(
    application_id: uuid.UUID,
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Candidate,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
) -> JobApplicationOut:
    """Send the résumé (PDF or UTF-8 text) as the request body; name it with ``?filename=``."""
    return await service.attach_resume(
        session,
        application_id=application_id,
        raw=await request.body(),
        filename=filename,
        actor=actor,
        max_bytes=runtime.settings.workforce_max_resume_bytes,
        key=runtime.keys.data,
    )


@router.get("/applications/{application_id}/resume")
async def get_resume(
    application_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Candidate
) -> Response:
    raw, media_type, name = await service.get_resume(
        session, application_id=application_id, actor=actor, key=runtime.keys.data
    )
    safe = "".join(c for c in name if c.isalnum() or c in "._-") or "resume"
    return Response(
        raw,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
