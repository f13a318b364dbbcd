"""Shared builders for grants tests, and grants' part of the access matrix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.keys import DataKey
from forewarn.grants import service
from forewarn.grants.models import Call
from forewarn.grants.schemas import (
    ApplicationIn,
    CallIn,
    ConflictIn,
    DecisionIn,
    MilestoneDecisionIn,
    MilestoneReportIn,
    ScoreIn,
)
from tests.web.personas import PERSONAS

PREFIX = "/api/v1/grants"
#: Replaced by the runtime's data key where a test downloads through HTTP (see ``setup``).
KEY = DataKey(b"\x07" * 32)


def call_in(*, closes_in: timedelta = timedelta(days=30), now: datetime | None = None, **over: Any) -> CallIn:
    now = now or datetime.now(UTC)
    data: dict[str, Any] = {
        "title": "AI vulnerability detection tools 2027",
        "purpose": "Fund tools that find prompt injection and data extraction flaws in deployed AI systems.",
        "funding_pool": 5_000_000,
        "award_ceiling": 750_000,
        "eligibility": "U.S. companies building AI vulnerability detection tools.",
        "criteria": [
            {"key": "impact", "name": "Impact", "weight": 0.5},
            {"key": "approach", "name": "Technical approach", "weight": 0.3},
            {"key": "team", "name": "Team", "weight": 0.2},
        ],
        "opens_at": now - timedelta(days=1),
        "closes_at": now + closes_in,
    }
    data.update(over)
    return CallIn.model_validate(data)


def application_in(**over: Any) -> ApplicationIn:
    due = datetime.now(UTC) + timedelta(days=120)
    data: dict[str, Any] = {
        "tool_name": "InjectionHound",
        "detects": ["prompt_injection", "data_extraction"],
        "summary": "Finds indirect prompt injection in agent tool chains.",
        "approach": "SECRET-APPROACH-CANARY: taint tracking of retrieved content through tool calls.",
        "budget": 600_000,
        "milestones": [
            {"title": "Prototype", "due_at": due.isoformat(), "amount": 200_000},
            {
                "title": "Pilot with three operators",
                "due_at": (due + timedelta(days=90)).isoformat(),
                "amount": 400_000,
            },
        ],
        "team": "Four engineers, two with red-team experience.",
    }
    data.update(over)
    return ApplicationIn.model_validate(data)


SCORES = ScoreIn(scores={"impact": 8, "approach": 7, "team": 6}, comments={"impact": "Strong need."})


async def close_call(session: AsyncSession, call_id: uuid.UUID) -> None:
    """Move a call's deadline into the past (tests only: the service never moves deadlines)."""
    await session.execute(
        update(Call).where(Call.id == call_id).values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
    )


ALL = set(PERSONAS)
SIGNED_IN = ALL - {"anonymous"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", f"{PREFIX}/calls"): ALL,
    ("POST", f"{PREFIX}/calls"): {"grants_officer"},
    ("GET", f"{PREFIX}/calls/{{call_id}}"): ALL,
    ("POST", f"{PREFIX}/calls/{{call_id}}/publish"): {"grants_officer"},
    ("GET", f"{PREFIX}/calls/{{call_id}}/applications"): {"grants_officer"},
    ("GET", f"{PREFIX}/calls/{{call_id}}/ranking"): {"grants_officer"},
    ("POST", f"{PREFIX}/calls/{{call_id}}/applications"): {"grantee"},
    ("GET", f"{PREFIX}/applications"): {"grantee"},
    # An application: its organisation, the calling agency's officers, its assigned reviewers.
    ("GET", f"{PREFIX}/applications/{{application_id}}"): {"grantee", "grants_officer", "partner_reviewer"},
    ("PUT", f"{PREFIX}/applications/{{application_id}}/draft"): {"grantee"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/submit"): {"grantee"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/withdraw"): {"grantee"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/reviewers"): {"grants_officer"},
    ("GET", f"{PREFIX}/reviews"): SIGNED_IN,
    ("POST", f"{PREFIX}/applications/{{application_id}}/conflict"): {"partner_reviewer"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/scores"): {"partner_reviewer"},
    ("POST", f"{PREFIX}/applications/{{application_id}}/decision"): {"grants_officer"},
    ("GET", f"{PREFIX}/awards"): ALL,
    ("GET", f"{PREFIX}/awards/{{award_id}}"): ALL,
    ("POST", f"{PREFIX}/awards/{{award_id}}/tool"): set(),  # a token never mints tokens (pages do)
    ("POST", f"{PREFIX}/milestones/{{milestone_id}}/report"): {"grantee"},
    ("POST", f"{PREFIX}/milestones/{{milestone_id}}/decision"): {"grants_officer"},
    ("POST", f"{PREFIX}/milestones/{{milestone_id}}/disbursement"): {"grants_officer"},
    # Attachments: added and removed by the applicant on a draft; read by whoever reads the application.
    ("POST", f"{PREFIX}/applications/{{application_id}}/attachments"): {"grantee"},
    ("GET", f"{PREFIX}/attachments/{{attachment_id}}"): {"grantee", "grants_officer", "partner_reviewer"},
    ("DELETE", f"{PREFIX}/applications/{{application_id}}/attachments/{{attachment_id}}"): {"grantee"},
}

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def awarded(
    session: AsyncSession, *, officer: Principal, grantee: Principal, reviewer: Principal
) -> tuple[uuid.UUID, uuid.UUID]:
    """A call with one application, scored, closed and awarded: (call id, award id)."""
    call = await service.create_call(session, data=call_in(), actor=officer)
    await service.publish_call(session, call_id=call.id, actor=officer)
    app = await service.create_application(session, call_id=call.id, data=application_in(), actor=grantee)
    await service.submit_application(session, application_id=app.id, actor=grantee)
    await service.assign_reviewer(
        session, application_id=app.id, reviewer_email=reviewer.email, actor=officer
    )
    await service.declare_conflict(
        session, application_id=app.id, data=ConflictIn(conflict=False), actor=reviewer
    )
    await service.score(session, application_id=app.id, data=SCORES, actor=reviewer)
    await close_call(session, call.id)
    await service.decide(
        session,
        application_id=app.id,
        data=DecisionIn(award=True, rationale="Ranked first; strong plan and a clear need."),
        actor=officer,
    )
    award_id = await service.award_for_application(session, application_id=app.id)
    assert award_id is not None
    return call.id, award_id


async def setup(
    session: AsyncSession,
    *,
    officer: Principal,
    grantee: Principal,
    reviewer: Principal,
    key: DataKey | None = None,
) -> dict[str, dict[str, Any]]:
    """Objects for every grants route: template → path parameters (``_body`` where needed).

    ``key`` is the data key of the app under test, so that attachments made here open there.
    """
    open_call = await service.create_call(session, data=call_in(), actor=officer)
    await service.publish_call(session, call_id=open_call.id, actor=officer)

    async def draft() -> uuid.UUID:
        made = await service.create_application(
            session, call_id=open_call.id, data=application_in(), actor=grantee
        )
        return made.id

    async def submitted(*, assigned: bool = False, declared: bool = False) -> uuid.UUID:
        app_id = await draft()
        await service.submit_application(session, application_id=app_id, actor=grantee)
        if assigned:
            await service.assign_reviewer(
                session, application_id=app_id, reviewer_email=reviewer.email, actor=officer
            )
        if declared:
            await service.declare_conflict(
                session, application_id=app_id, data=ConflictIn(conflict=False), actor=reviewer
            )
        return app_id

    draft_call = await service.create_call(session, data=call_in(), actor=officer)
    # A closed call with a scored application, to decide on.
    closed = await service.create_call(session, data=call_in(), actor=officer)
    await service.publish_call(session, call_id=closed.id, actor=officer)
    to_decide = await service.create_application(
        session, call_id=closed.id, data=application_in(), actor=grantee
    )
    await service.submit_application(session, application_id=to_decide.id, actor=grantee)
    await service.assign_reviewer(
        session, application_id=to_decide.id, reviewer_email=reviewer.email, actor=officer
    )
    await service.declare_conflict(
        session, application_id=to_decide.id, data=ConflictIn(conflict=False), actor=reviewer
    )
    await service.score(session, application_id=to_decide.id, data=SCORES, actor=reviewer)
    await close_call(session, closed.id)

    _, award_id = await awarded(session, officer=officer, grantee=grantee, reviewer=reviewer)
    award = await service.get_award(session, award_id=award_id, actor=officer)
    first, second = award.milestones[0].id, award.milestones[1].id
    await service.report_milestone(
        session, milestone_id=first, data=MilestoneReportIn(report="Prototype delivered."), actor=grantee
    )
    _, award2 = await awarded(session, officer=officer, grantee=grantee, reviewer=reviewer)
    accepted = (await service.get_award(session, award_id=award2, actor=officer)).milestones[0].id
    await service.report_milestone(
        session, milestone_id=accepted, data=MilestoneReportIn(report="Prototype delivered."), actor=grantee
    )
    await service.decide_milestone(
        session, milestone_id=accepted, data=MilestoneDecisionIn(accept=True), actor=officer
    )

    out: dict[str, dict[str, Any]] = {}
    for method, template in EXPECTED:
        params: dict[str, Any] = {"call_id": str(open_call.id), "award_id": str(award_id)}
        if template.endswith("/publish"):
            params["call_id"] = str(draft_call.id)
        if "{application_id}" in template:
            if template.endswith("/decision"):
                params["application_id"] = str(to_decide.id)
            elif template.endswith("/scores"):
                params["application_id"] = str(await submitted(assigned=True, declared=True))
            elif template.endswith("/conflict") or method == "GET":
                params["application_id"] = str(await submitted(assigned=True))
            elif template.endswith("/reviewers"):
                params["application_id"] = str(await submitted())
                params["_body"] = {"reviewer_email": reviewer.email}
            else:
                params["application_id"] = str(await draft())
        if template.endswith("/tool"):
            params["award_id"] = str(award2)
        if "{attachment_id}" in template:
            owner = await draft()
            params["application_id"] = str(owner)
            made = await service.add_attachment(
                session,
                application_id=owner,
                raw=PDF,
                filename="plan.pdf",
                declared_type="application/pdf",
                actor=grantee,
                key=key or KEY,
                max_bytes=1 << 20,
                max_count=10,
            )
            if method == "GET":  # files go on while a draft; readers see them once submitted
                await service.submit_application(session, application_id=owner, actor=grantee)
                await service.assign_reviewer(
                    session, application_id=owner, reviewer_email=reviewer.email, actor=officer
                )
            params["attachment_id"] = str(made.id)
        if "{milestone_id}" in template:
            params["milestone_id"] = str(
                second
                if template.endswith("/report")
                else first
                if template.endswith("/decision")
                else accepted
            )
        out[template] = params
    return out


def request_kwargs(method: str, template: str, ids: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if method not in ("POST", "PUT"):
        return {}
    if template.endswith("/attachments"):
        return {"files": {"file": ("plan.pdf", PDF, "application/pdf")}}
    if template == f"{PREFIX}/calls":
        return {"json": call_in().model_dump(mode="json")}
    if method == "PUT" or template.endswith("/calls/{call_id}/applications"):
        return {"json": application_in().model_dump(mode="json")}
    bodies: dict[str, Any] = {
        "/reviewers": ids.get(template, {}).get("_body", {}),
        "/applications/{application_id}/conflict": {"conflict": False},
        "/applications/{application_id}/scores": SCORES.model_dump(),
        "/applications/{application_id}/decision": {
            "award": False,
            "rationale": "Outside the call's scope, sadly.",
        },
        "/tool": {"name": "InjectionHound scanner"},
        "/milestones/{milestone_id}/report": {"report": "Milestone work delivered."},
        "/milestones/{milestone_id}/decision": {"accept": True},
    }
    for suffix, body in bodies.items():
        if template.endswith(suffix):
            return {"json": body}
    return {"json": {}}
