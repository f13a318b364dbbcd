from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.errors import InvalidInput, NotFound
from forewarn.workforce import assessment, service
from forewarn.workforce.models import Assessment, JobApplication
from forewarn.workforce.schemas import PATHWAYS, AssessmentIn
from tests.conftest import OrgFactory

from .world import job_application_in, posting_in

RIGHT = {"rt-1": "A", "rt-2": " b ", "rt-3": "Ignore."}


def test_every_pathway_has_tasks_in_the_item_format() -> None:
    for key in PATHWAYS:
        items = assessment.tasks()[key]
        assert len(items) >= 3
        for task in items:
            assert task.scorer in ("choice", "exact") and task.answers
            if task.scorer == "choice":
                assert all(a in "ABCDEFGH"[: len(task.choices)] for a in task.answers)
    assert assessment.grade("ai-red-team", RIGHT) == (3, 3)
    assert assessment.grade("ai-red-team", {"rt-1": "B"}) == (0, 3)


async def test_assessment_shared_only_by_consent_and_erasable(
    session: AsyncSession, make_org: OrgFactory, make_person: Callable[..., Awaitable[Principal]]
) -> None:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"AS{uuid.uuid4().hex[:6].upper()}")
    hiring = await make_person(agency, [Role.HIRING_OFFICER])
    candidate = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER])
    posting = await service.create_posting(session, data=posting_in(), actor=hiring)
    tasks = service.assessment_tasks("ai-red-team")
    assert all(not hasattr(t, "answers") for t in tasks)
    with pytest.raises(NotFound):
        service.assessment_tasks("nope")
    with pytest.raises(InvalidInput) as caught:
        await service.take_assessment(
            session, pathway="ai-red-team", data=AssessmentIn(answers={"zz-9": "A"}), actor=candidate
        )
    assert caught.value.problems[0].field == "answers.zz-9"
    with pytest.raises(InvalidInput) as route:
        await service.apply(
            session,
            posting_id=posting.id,
            data=job_application_in(route="skills_assessment"),
            actor=candidate,
        )
    assert route.value.problems[0].field in ("route", "share_assessment")
    result = await service.take_assessment(
        session, pathway="ai-red-team", data=AssessmentIn(answers=RIGHT), actor=candidate
    )
    assert result.passed and result.correct == 3
    app = await service.apply(
        session,
        posting_id=posting.id,
        data=job_application_in(route="skills_assessment", share_assessment=True),
        actor=candidate,
    )
    seen = await service.posting_applications(session, posting_id=posting.id, actor=hiring)
    assert seen[0].assessment is not None and seen[0].assessment.correct == 3
    # Without consent the agency sees no result.
    other = await service.create_posting(session, data=posting_in(), actor=hiring)
    await service.apply(session, posting_id=other.id, data=job_application_in(), actor=candidate)
    assert (await service.posting_applications(session, posting_id=other.id, actor=hiring))[
        0
    ].assessment is None
    assert app.id
    await service.delete_my_data(session, actor=candidate)
    for model in (JobApplication, Assessment):
        left = await session.scalar(
            select(func.count()).select_from(model).where(model.person_id == candidate.person_id)
        )
        assert left == 0


async def test_assessment_api(
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    public = await client.get("/api/v1/workforce/pathways/vulnerability-analyst/assessment")
    assert public.status_code == 200 and "answers" not in public.text
    person = await make_person(await make_org(kind=OrgKind.LAB), [Role.MEMBER])
    auth = {"Authorization": f"Bearer {await make_token(person)}"}
    bad = await client.post(
        "/api/v1/workforce/pathways/vulnerability-analyst/assessment", json={"answers": "9.8"}, headers=auth
    )
    assert bad.status_code == 422 and "answers" in bad.text
    done = await client.post(
        "/api/v1/workforce/pathways/vulnerability-analyst/assessment",
        json={"answers": {"va-1": "9.8", "va-2": "B", "va-3": "tlp:clear"}},
        headers=auth,
    )
    assert done.status_code == 201 and done.json()["passed"] is True
    mine = await client.get("/api/v1/workforce/assessments", headers=auth)
    assert len(mine.json()) == 1


async def test_resume_upload_limits_and_privacy(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"RS{uuid.uuid4().hex[:6].upper()}")
    hiring = await make_person(agency, [Role.HIRING_OFFICER])
    other = await make_person(
        await make_org(kind=OrgKind.AGENCY, code=f"RO{uuid.uuid4().hex[:6].upper()}"), [Role.HIRING_OFFICER]
    )
    candidate = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER])
    posting = await service.create_posting(session, data=posting_in(), actor=hiring)
    made = await service.apply(session, posting_id=posting.id, data=job_application_in(), actor=candidate)
    auth = {"Authorization": f"Bearer {await make_token(candidate)}"}
    url = f"/api/v1/workforce/applications/{made.id}/resume"
    cases = [
        (b"MZ\x90\x00binary", "cv.exe", 422, "only .pdf or .txt"),
        (b"MZ\x90\x00binary", "cv.pdf", 422, "not a PDF"),
        (b"\xff\xfe\x00bad", "cv.txt", 422, "not UTF-8"),
        (b"", "cv.txt", 422, "is empty"),
        (b"x" * 600_000, "cv.txt", 413, "at most"),
    ]
    for raw, name, status, message in cases:
        response = await client.put(url, content=raw, params={"filename": name}, headers=auth)
        assert response.status_code == status and "resume" in response.text and message in response.text, name
    assert (await client.get(url, headers=auth)).status_code == 404  # nothing stored
    ok = await client.put(url, content=b"%PDF-1.7\n...", params={"filename": "cv.pdf"}, headers=auth)
    assert ok.status_code == 200 and ok.json()["resume_name"] == "cv.pdf"
    fetched = await client.get(url, headers={"Authorization": f"Bearer {await make_token(hiring)}"})
    assert fetched.status_code == 200 and fetched.content.startswith(b"%PDF-")
    assert fetched.headers["content-type"] == "application/pdf"
    refused = await client.get(url, headers={"Authorization": f"Bearer {await make_token(other)}"})
    assert refused.status_code == 404
