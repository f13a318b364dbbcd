from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from forewarn.ledger.models import LedgerEntry
from forewarn.workforce import service
from forewarn.workforce.models import JobApplication
from forewarn.workforce.schemas import Stage, StageIn
from tests.conftest import OrgFactory

from .world import job_application_in, posting_in

Maker = Callable[..., Awaitable[Principal]]


@pytest.fixture
async def cast(make_org: OrgFactory, make_person: Maker) -> dict[str, Principal]:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"HR{uuid.uuid4().hex[:6].upper()}")
    other = await make_org(kind=OrgKind.AGENCY, code=f"OT{uuid.uuid4().hex[:6].upper()}")
    return {
        "hiring": await make_person(agency, [Role.HIRING_OFFICER]),
        "colleague": await make_person(agency, [Role.MEMBER]),
        "other_hiring": await make_person(other, [Role.HIRING_OFFICER]),
        "candidate": await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER]),
        "stranger": await make_person(await make_org(kind=OrgKind.LAB), [Role.MEMBER]),
    }


async def test_postings_by_hiring_officers_only(session: AsyncSession, cast: dict[str, Principal]) -> None:
    with pytest.raises(Forbidden):
        await service.create_posting(session, data=posting_in(), actor=cast["colleague"])
    with pytest.raises(InvalidInput):
        await service.create_posting(
            session, data=posting_in(closes_at=datetime.now(UTC) - timedelta(days=1)), actor=cast["hiring"]
        )
    with pytest.raises(ValueError, match="pathway"):
        posting_in(pathway="astronaut")


async def test_personal_data_is_private_and_deletable(
    session: AsyncSession, cast: dict[str, Principal]
) -> None:
    posting = await service.create_posting(session, data=posting_in(), actor=cast["hiring"])
    app = await service.apply(
        session, posting_id=posting.id, data=job_application_in(), actor=cast["candidate"]
    )
    assert app.state is Stage.APPLIED
    with pytest.raises(Conflict):
        await service.apply(
            session, posting_id=posting.id, data=job_application_in(), actor=cast["candidate"]
        )
    for who in ("stranger", "colleague", "other_hiring"):
        with pytest.raises(NotFound):
            await service.get_application(session, application_id=app.id, actor=cast[who])
    with pytest.raises(NotFound):
        await service.posting_applications(session, posting_id=posting.id, actor=cast["other_hiring"])
    seen = await service.posting_applications(session, posting_id=posting.id, actor=cast["hiring"])
    assert seen[0].email == cast["candidate"].email
    # Metrics and the ledger carry no personal data.
    metrics = {m.pathway: m for m in await service.metrics(session)}
    assert metrics["ai-red-team"].applicants >= 1
    assert "PERSONAL-CANARY" not in str([m.model_dump() for m in metrics.values()])
    entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.type.like("workforce.%")))).all()
    blob = b"".join(e.data for e in entries)
    assert b"PERSONAL-CANARY" not in blob and cast["candidate"].email.encode() not in blob
    # Erasure: only the applicant deletes, and nothing is left behind.
    with pytest.raises(NotFound):
        await service.delete_application(session, application_id=app.id, actor=cast["hiring"])
    await service.delete_application(session, application_id=app.id, actor=cast["candidate"])
    assert (
        await session.scalar(
            select(func.count()).select_from(JobApplication).where(JobApplication.id == app.id)
        )
        == 0
    )
    leftovers = await session.scalar(
        text(
            "SELECT count(*) FROM wf_applications WHERE statement LIKE '%PERSONAL-CANARY%' AND person_id = :p"
        ),
        {"p": cast["candidate"].person_id},
    )
    assert leftovers == 0


async def test_pipeline_moves_one_stage_at_a_time(session: AsyncSession, cast: dict[str, Principal]) -> None:
    posting = await service.create_posting(session, data=posting_in(), actor=cast["hiring"])
    app = await service.apply(
        session, posting_id=posting.id, data=job_application_in(), actor=cast["candidate"]
    )
    with pytest.raises(InvalidInput) as caught:
        await service.move(
            session, application_id=app.id, data=StageIn(state=Stage.OFFER), actor=cast["hiring"]
        )
    assert caught.value.problems[0].field == "state"
    with pytest.raises(NotFound):
        await service.move(
            session, application_id=app.id, data=StageIn(state=Stage.SCREENED), actor=cast["other_hiring"]
        )
    for stage in (Stage.SCREENED, Stage.ASSESSED, Stage.INTERVIEW, Stage.OFFER, Stage.HIRED):
        out = await service.move(
            session, application_id=app.id, data=StageIn(state=stage), actor=cast["hiring"]
        )
    assert out.state is Stage.HIRED
    with pytest.raises(Conflict):
        await service.move(
            session,
            application_id=app.id,
            data=StageIn(state=Stage.NOT_SELECTED, reason="x"),
            actor=cast["hiring"],
        )
    metrics = {m.pathway: m for m in await service.metrics(session)}
    assert metrics["ai-red-team"].hired >= 1 and metrics["ai-red-team"].routes.get("experience", 0) >= 1


async def test_not_selected_needs_a_reason_and_route_must_fit(
    session: AsyncSession, cast: dict[str, Principal]
) -> None:
    posting = await service.create_posting(
        session, data=posting_in(pathway="ml-security-engineer"), actor=cast["hiring"]
    )
    with pytest.raises(InvalidInput) as caught:
        await service.apply(
            session,
            posting_id=posting.id,
            data=job_application_in(route="apprenticeship"),
            actor=cast["candidate"],
        )
    assert caught.value.problems[0].field == "route"
    app = await service.apply(
        session, posting_id=posting.id, data=job_application_in(), actor=cast["candidate"]
    )
    with pytest.raises(InvalidInput):
        await service.move(
            session, application_id=app.id, data=StageIn(state=Stage.NOT_SELECTED), actor=cast["hiring"]
        )
    out = await service.move(
        session,
        application_id=app.id,
        data=StageIn(state=Stage.NOT_SELECTED, reason="Another candidate had more experience."),
        actor=cast["hiring"],
    )
    assert out.reason and out.state is Stage.NOT_SELECTED


async def test_api_bad_input_and_public_pages(
    client: httpx.AsyncClient,
    session: AsyncSession,
    cast: dict[str, Principal],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    token = await make_token(cast["hiring"])
    body = posting_in().model_dump(mode="json") | {"grade_low": 14, "grade_high": 9}
    bad = await client.post(
        "/api/v1/workforce/postings", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert bad.status_code == 422 and "grade_high" in bad.text
    made = await client.post(
        "/api/v1/workforce/postings",
        json=posting_in().model_dump(mode="json"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.status_code == 201
    candidate = await make_token(cast["candidate"])
    missing = await client.post(
        f"/api/v1/workforce/postings/{made.json()['id']}/applications",
        json={"route": "experience"},
        headers={"Authorization": f"Bearer {candidate}"},
    )
    assert missing.status_code == 422 and "statement" in missing.text
    assert (
        await session.scalar(
            select(func.count())
            .select_from(JobApplication)
            .where(JobApplication.person_id == cast["candidate"].person_id)
        )
        == 0
    )
    careers = await client.get("/careers")
    assert careers.status_code == 200 and "AI red-team specialist" in careers.text
    pathway = await client.get("/careers/pathways/vulnerability-analyst")
    assert "CVSS" in pathway.text
    posting = await client.get(f"/careers/postings/{made.json()['id']}")
    assert posting.status_code == 200 and "Sign in" in posting.text
    assert (await client.get("/careers/pathways/nope")).status_code == 404
