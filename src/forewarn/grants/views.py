"""HTML pages of grants: public calls and awards; forms for officers, applicants and reviewers.

Pages work without JavaScript: every action is a form post that redirects back (303).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import FLASH, add_nav, form_input, render
from forewarn.grants import policy, service
from forewarn.grants.api import attachment_response
from forewarn.grants.schemas import (
    ApplicationIn,
    CallIn,
    ConflictIn,
    DecisionIn,
    Detects,
    MilestoneDecisionIn,
    MilestoneReportIn,
    ScoreIn,
    ToolIn,
)

router = APIRouter(include_in_schema=False)

Officer = Annotated[Principal, Depends(require(policy.is_grants_officer))]
Applicant = Annotated[Principal, Depends(require(policy.is_applicant))]
SignedIn = Annotated[Principal, Depends(require(policy.grants_signed_in))]
Anyone = Annotated[Principal | None, Depends(public())]

add_nav("Grants", "/grants")
FLASH.update(
    {
        "call-created": "The call is saved as a draft. Publish it when it is ready.",
        "call-published": "The call is published.",
        "application-saved": "Your application is saved as a draft.",
        "application-submitted": "Your application is submitted.",
        "application-withdrawn": "Your application is withdrawn.",
        "reviewer-assigned": "The reviewer is assigned.",
        "conflict-declared": "Your declaration is recorded.",
        "scored": "Your scores are recorded.",
        "decided": "The decision is recorded and logged.",
        "milestone-reported": "Your milestone report is sent.",
        "milestone-decided": "The milestone decision is recorded.",
        "disbursed": "The disbursement is recorded.",
        "attached": "The file is attached.",
        "attachment-removed": "The file is removed.",
    }
)


def _back(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?flash={flash}", status_code=303)


def _day(value: str, field: str) -> str:
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            "not a date", problems=[Problem(field, "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]")]
        ) from None
    # A time without an offset is UTC (as the form says); one with an offset is converted, not relabelled.
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)).isoformat()


def _criteria(text: str) -> list[dict[str, Any]]:
    """Lines ``key | name | weight``."""
    out = []
    for n, line in enumerate(filter(None, (x.strip() for x in text.splitlines())), start=1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            raise InvalidInput(
                "bad criteria", problems=[Problem(f"criteria.{n}", "write: key | name | weight")]
            )
        try:
            weight = float(parts[2])
        except ValueError:
            raise InvalidInput(
                "bad weight", problems=[Problem(f"criteria.{n}.weight", "not a number")]
            ) from None
        out.append({"key": parts[0], "name": parts[1], "weight": weight})
    return out


def _milestones(text: str) -> list[dict[str, Any]]:
    """Lines ``title | YYYY-MM-DD | amount``."""
    out = []
    for n, line in enumerate(filter(None, (x.strip() for x in text.splitlines())), start=1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[2].isdigit():
            raise InvalidInput(
                "bad milestones", problems=[Problem(f"milestones.{n}", "write: title | YYYY-MM-DD | amount")]
            )
        out.append(
            {"title": parts[0], "due_at": _day(parts[1], f"milestones.{n}.due_at"), "amount": int(parts[2])}
        )
    return out


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"} | {
        "detects": [v for v in form.getlist("detects") if isinstance(v, str)]
    }


@router.get("/grants", name="grants_home")
async def home(request: Request, session: Session, actor: Anyone) -> Response:
    calls = await service.list_calls(session, actor=actor)
    mine = await service.my_applications(session, actor=actor) if actor and policy.is_applicant(actor) else []
    reviews = await service.my_assignments(session, actor=actor) if actor is not None else []
    return render(
        request,
        "grants/home.html",
        calls=calls,
        mine=mine,
        reviews=reviews,
        officer=policy.is_grants_officer(actor),
        applicant=policy.is_applicant(actor),
    )


@router.get("/grants/new-call")
async def new_call(request: Request, _: Officer) -> Response:
    return render(request, "grants/new_call.html")


@router.post("/grants/calls")
async def create_call(request: Request, session: Session, actor: Officer) -> Response:
    f = await _form(request)
    data = form_input(
        CallIn,
        {
            "title": f.get("title", ""),
            "purpose": f.get("purpose", ""),
            "funding_pool": f.get("funding_pool") or 0,
            "award_ceiling": f.get("award_ceiling") or 0,
            "eligibility": f.get("eligibility", ""),
            "criteria": _criteria(f.get("criteria", "")),
            "opens_at": _day(f.get("opens_at", ""), "opens_at"),
            "closes_at": _day(f.get("closes_at", ""), "closes_at"),
        },
    )
    call = await service.create_call(session, data=data, actor=actor)
    return _back(f"/grants/calls/{call.id}", "call-created")


@router.get("/grants/calls/{call_id}", name="grants_call")
async def call_page(
    request: Request, call_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Anyone
) -> Response:
    call = await service.get_call(session, call_id=call_id, actor=actor)
    runs = policy.can_run_call(actor, call.agency_organisation_id)
    applications = (
        await service.call_applications(session, call_id=call_id, actor=actor) if runs and actor else []
    )
    ranking = await service.ranking(session, call_id=call_id, actor=actor) if runs and actor else []
    return render(
        request,
        "grants/call.html",
        call=call,
        runs=runs,
        applications=applications,
        ranking=ranking,
        applicant=policy.is_applicant(actor),
        detects=list(Detects),
        open=call.state == "published" and service.deadline_left(call.closes_at) > 0,
        max_attachment_bytes=runtime.settings.grants_max_attachment_bytes,
    )


@router.post("/grants/calls/{call_id}/publish")
async def publish_call(call_id: uuid.UUID, session: Session, actor: Officer) -> Response:
    await service.publish_call(session, call_id=call_id, actor=actor)
    return _back(f"/grants/calls/{call_id}", "call-published")


def _application_in(f: dict[str, Any]) -> ApplicationIn:
    data: ApplicationIn = form_input(
        ApplicationIn,
        {
            "tool_name": f.get("tool_name", ""),
            "detects": f.get("detects", []),
            "summary": f.get("summary", ""),
            "approach": f.get("approach", ""),
            "budget": f.get("budget") or 0,
            "milestones": _milestones(f.get("milestones", "")),
            "team": f.get("team", ""),
        },
    )
    return data


async def _attach_uploads(
    request: Request, session: Session, runtime: RuntimeDep, application_id: uuid.UUID, actor: Principal
) -> int:
    """Attach every file of the form's ``file`` field; the first bad one fails the whole request."""
    limit = runtime.settings.grants_max_attachment_bytes
    done = 0
    for upload in (await request.form()).getlist("file"):
        if isinstance(upload, str) or not upload.filename:
            continue
        await service.add_attachment(
            session,
            application_id=application_id,
            raw=await upload.read(limit + 1),
            filename=upload.filename,
            declared_type=upload.content_type,
            actor=actor,
            key=runtime.keys.data,
            max_bytes=limit,
            max_count=runtime.settings.grants_max_attachments,
        )
        done += 1
    return done


@router.post("/grants/calls/{call_id}/apply")
async def apply(
    request: Request, call_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Applicant
) -> Response:
    f = await _form(request)
    app = await service.create_application(session, call_id=call_id, data=_application_in(f), actor=actor)
    await _attach_uploads(request, session, runtime, app.id, actor)
    if f.get("action") == "submit":
        await service.submit_application(session, application_id=app.id, actor=actor)
        return _back(f"/grants/applications/{app.id}", "application-submitted")
    return _back(f"/grants/applications/{app.id}", "application-saved")


@router.get("/grants/applications/{application_id}", name="grants_application")
async def application_page(
    request: Request, application_id: uuid.UUID, session: Session, actor: SignedIn
) -> Response:
    app = await service.get_application(session, application_id=application_id, actor=actor)
    call = await service.get_call(session, call_id=app.call_id, actor=actor)
    mine = next(
        (a for a in await service.my_assignments(session, actor=actor) if a.application_id == app.id), None
    )
    award_id = await service.award_for_application(session, application_id=app.id)
    return render(
        request,
        "grants/application.html",
        app=app,
        call=call,
        owner=policy.owns_application(actor, app.organisation_id),
        runs=policy.can_run_call(actor, call.agency_organisation_id),
        assignment=mine,
        award_id=award_id,
    )


@router.post("/grants/applications/{application_id}/attachments")
async def add_attachments(
    request: Request, application_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Applicant
) -> Response:
    if not await _attach_uploads(request, session, runtime, application_id, actor):
        raise InvalidInput("no file", problems=[Problem("file", "choose a file to attach")])
    return _back(f"/grants/applications/{application_id}", "attached")


@router.get("/grants/attachments/{attachment_id}")
async def download_attachment(
    attachment_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: SignedIn
) -> Response:
    raw, meta = await service.get_attachment(
        session, attachment_id=attachment_id, actor=actor, key=runtime.keys.data
    )
    return attachment_response(raw, meta)


@router.post("/grants/applications/{application_id}/attachments/{attachment_id}/delete")
async def remove_attachment(
    application_id: uuid.UUID, attachment_id: uuid.UUID, session: Session, actor: Applicant
) -> Response:
    await service.delete_attachment(
        session, application_id=application_id, attachment_id=attachment_id, actor=actor
    )
    return _back(f"/grants/applications/{application_id}", "attachment-removed")


@router.post("/grants/applications/{application_id}/{action}")
async def application_action(
    request: Request, application_id: uuid.UUID, action: str, session: Session, actor: SignedIn
) -> Response:
    f = await _form(request)
    here = f"/grants/applications/{application_id}"
    if action == "submit":
        await service.submit_application(session, application_id=application_id, actor=actor)
        return _back(here, "application-submitted")
    if action == "withdraw":
        await service.withdraw_application(session, application_id=application_id, actor=actor)
        return _back(here, "application-withdrawn")
    if action == "reviewers":
        await service.assign_reviewer(
            session, application_id=application_id, reviewer_email=f.get("reviewer_email", ""), actor=actor
        )
        return _back(here, "reviewer-assigned")
    if action == "conflict":
        data = form_input(ConflictIn, {"conflict": f.get("conflict") == "yes", "reason": f.get("reason", "")})
        await service.declare_conflict(session, application_id=application_id, data=data, actor=actor)
        return _back(here, "conflict-declared")
    if action == "scores":
        scores: dict[str, Any] = {k[6:]: v for k, v in f.items() if k.startswith("score_")}
        comments = {k[8:]: v for k, v in f.items() if k.startswith("comment_")}
        for key, value in scores.items():
            if not value.isdigit():
                raise InvalidInput(
                    "not a score", problems=[Problem(f"scores.{key}", "a whole number 0 to 10")]
                )
        data_s = form_input(ScoreIn, {"scores": {k: int(v) for k, v in scores.items()}, "comments": comments})
        await service.score(session, application_id=application_id, data=data_s, actor=actor)
        return _back(here, "scored")
    if action == "decision":
        data_d = form_input(
            DecisionIn,
            {
                "award": f.get("award") == "yes",
                "rationale": f.get("rationale", ""),
                "amount": int(f["amount"]) if f.get("amount", "").isdigit() else None,
            },
        )
        await service.decide(session, application_id=application_id, data=data_d, actor=actor)
        return _back(here, "decided")
    raise InvalidInput("unknown action", problems=[Problem("action", action[:40])])


@router.get("/grants/awards", name="grants_awards")
async def awards(request: Request, session: Session, _: Anyone) -> Response:
    return render(request, "grants/awards.html", awards=await service.list_awards(session))


@router.get("/grants/awards/{award_id}", name="grants_award")
async def award_page(request: Request, award_id: uuid.UUID, session: Session, actor: Anyone) -> Response:
    award = await service.get_award(session, award_id=award_id, actor=actor)
    call = await service.get_call(session, call_id=award.call_id, actor=actor)
    return render(
        request,
        "grants/award.html",
        award=award,
        owner=policy.owns_application(actor, award.organisation_id),
        runs=policy.can_run_call(actor, call.agency_organisation_id),
        registered=None,
    )


@router.post("/grants/awards/{award_id}/tool")
async def register_tool(
    request: Request, award_id: uuid.UUID, session: Session, actor: Applicant
) -> Response:
    f = await _form(request)
    data = form_input(ToolIn, {"name": f.get("name", "")})
    registered = await service.register_tool(session, award_id=award_id, data=data, actor=actor)
    award = await service.get_award(session, award_id=award_id, actor=actor)
    return render(request, "grants/award.html", award=award, owner=True, runs=False, registered=registered)


@router.post("/grants/milestones/{milestone_id}/{action}")
async def milestone_action(
    request: Request, milestone_id: uuid.UUID, action: str, session: Session, actor: SignedIn
) -> Response:
    f = await _form(request)
    if action == "report":
        award = await service.report_milestone(
            session,
            milestone_id=milestone_id,
            data=form_input(MilestoneReportIn, {"report": f.get("report", "")}),
            actor=actor,
        )
        return _back(f"/grants/awards/{award.id}", "milestone-reported")
    if action == "decision":
        data = form_input(
            MilestoneDecisionIn, {"accept": f.get("accept") == "yes", "note": f.get("note", "")}
        )
        award = await service.decide_milestone(session, milestone_id=milestone_id, data=data, actor=actor)
        return _back(f"/grants/awards/{award.id}", "milestone-decided")
    if action == "disbursement":
        award = await service.disburse(session, milestone_id=milestone_id, actor=actor)
        return _back(f"/grants/awards/{award.id}", "disbursed")
    raise InvalidInput("unknown action", problems=[Problem("action", action[:40])])
