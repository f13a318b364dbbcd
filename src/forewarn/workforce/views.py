"""HTML pages of workforce: public pathways, postings and counts; apply; the agency's pipeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import InvalidInput, NotFound, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import FLASH, add_nav, form_input, render
from forewarn.workforce import policy, service
from forewarn.workforce.schemas import (
    PATHWAYS,
    AssessmentIn,
    Clearance,
    JobApplicationIn,
    PostingIn,
    Route,
    Stage,
    StageIn,
)

router = APIRouter(include_in_schema=False)

Hiring = Annotated[Principal, Depends(require(policy.is_hiring_officer))]
Candidate = Annotated[Principal, Depends(require(policy.can_apply))]
Anyone = Annotated[Principal | None, Depends(public())]

add_nav("Tech Force careers", "/careers")
FLASH.update(
    {
        "posting-created": "The posting is open.",
        "applied": "Your application is sent.",
        "moved": "The candidate's stage is updated.",
        "deleted": "Your application and its personal data are deleted.",
        "all-deleted": "All your applications and assessments are deleted.",
    }
)


def closing_time(value: str) -> str:
    """A posting's close, to the second, in UTC. A bare date keeps the posting open through that whole
    day (it closes at the next midnight UTC), as a reader of "closes 1 March" expects; a time without
    an offset is UTC; a time with one is converted."""
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "not a date", problems=[Problem("closes_at", "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]")]
        ) from None
    if "T" not in text and " " not in text:
        when = when + timedelta(days=1)
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)).isoformat()


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.get("/careers", name="careers")
async def careers(request: Request, session: Session, actor: Anyone) -> Response:
    return render(
        request,
        "workforce/careers.html",
        pathways=list(PATHWAYS.values()),
        postings=await service.list_postings(session),
        metrics={m.pathway: m for m in await service.metrics(session)},
        mine=await service.my_applications(session, actor=actor) if actor else [],
        assessments=await service.my_assessments(session, actor=actor) if actor else [],
        hiring=policy.is_hiring_officer(actor),
        clearances=list(Clearance),
    )


@router.get("/careers/pathways/{key}", name="careers_pathway")
async def pathway(request: Request, key: str, session: Session, _: Anyone) -> Response:
    if key not in PATHWAYS:
        raise NotFound("no such pathway")
    return render(
        request,
        "workforce/pathway.html",
        pathway=PATHWAYS[key],
        postings=await service.list_postings(session, pathway=key),
    )


@router.post("/careers/postings")
async def create_posting(request: Request, session: Session, actor: Hiring) -> Response:
    f = await _form(request)
    data = form_input(PostingIn, f | {"closes_at": closing_time(f.get("closes_at", ""))})
    posting = await service.create_posting(session, data=data, actor=actor)
    return RedirectResponse(f"/careers/postings/{posting.id}?flash=posting-created", status_code=303)


@router.get("/careers/postings/{posting_id}", name="careers_posting")
async def posting_page(request: Request, posting_id: uuid.UUID, session: Session, actor: Anyone) -> Response:
    posting = await service.get_posting(session, posting_id=posting_id)
    runs = policy.runs_posting(actor, posting.agency_organisation_id)
    return render(
        request,
        "workforce/posting.html",
        posting=posting,
        pathway=PATHWAYS[posting.pathway],
        runs=runs,
        applications=await service.posting_applications(session, posting_id=posting_id, actor=actor)
        if runs and actor
        else [],
        routes=list(Route),
        stages=list(Stage),
    )


@router.post("/careers/postings/{posting_id}/apply")
async def apply(
    request: Request, posting_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Candidate
) -> Response:
    f = await _form(request)
    data = form_input(JobApplicationIn, f | {"share_assessment": f.get("share_assessment") == "yes"})
    made = await service.apply(session, posting_id=posting_id, data=data, actor=actor)
    upload = (await request.form()).get("resume")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        limit = runtime.settings.workforce_max_resume_bytes
        await service.attach_resume(
            session,
            application_id=made.id,
            raw=await upload.read(limit + 1),
            filename=upload.filename,
            actor=actor,
            max_bytes=limit,
            key=runtime.keys.data,
        )
    return RedirectResponse("/careers?flash=applied", status_code=303)


@router.get("/careers/pathways/{key}/assessment", name="careers_assessment")
async def assessment_page(request: Request, key: str, _: Candidate) -> Response:
    tasks = service.assessment_tasks(key)
    return render(request, "workforce/assessment.html", pathway=PATHWAYS[key], tasks=tasks, result=None)


@router.post("/careers/pathways/{key}/assessment")
async def take_assessment(request: Request, key: str, session: Session, actor: Candidate) -> Response:
    f = await _form(request)
    answers = {k[7:]: v for k, v in f.items() if k.startswith("answer_")}
    result = await service.take_assessment(
        session, pathway=key, data=form_input(AssessmentIn, {"answers": answers}), actor=actor
    )
    return render(request, "workforce/assessment.html", pathway=PATHWAYS[key], tasks=[], result=result)


@router.post("/careers/my-data/delete")
async def delete_my_data(session: Session, actor: Candidate) -> Response:
    await service.delete_my_data(session, actor=actor)
    return RedirectResponse("/careers?flash=all-deleted", status_code=303)


@router.post("/careers/applications/{application_id}/stage")
async def move(request: Request, application_id: uuid.UUID, session: Session, actor: Hiring) -> Response:
    data = form_input(StageIn, await _form(request))
    out = await service.move(session, application_id=application_id, data=data, actor=actor)
    return RedirectResponse(f"/careers/postings/{out.posting_id}?flash=moved", status_code=303)


@router.post("/careers/applications/{application_id}/delete")
async def delete(application_id: uuid.UUID, session: Session, actor: Candidate) -> Response:
    await service.delete_application(session, application_id=application_id, actor=actor)
    return RedirectResponse("/careers?flash=deleted", status_code=303)
