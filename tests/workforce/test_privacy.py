"""Personal data: sealed résumés, erasure that leaves nothing in any table, closing times to the second."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.clock import FrozenClock
from forewarn.core.errors import InvalidInput, NotFound
from forewarn.core.keys import DataKey
from forewarn.workforce import service
from forewarn.workforce.models import JobApplication
from forewarn.workforce.schemas import AssessmentIn, Stage, StageIn
from forewarn.workforce.views import closing_time
from tests.conftest import OrgFactory

from .world import job_application_in, posting_in

Maker = Callable[..., Awaitable[Principal]]
KEY = DataKey(b"\x5a" * 32)


async def _people(make_org: OrgFactory, make_person: Maker) -> tuple[Principal, Principal]:
    agency = await make_org(kind=OrgKind.AGENCY, code=f"PV{uuid.uuid4().hex[:6].upper()}")
    hiring = await make_person(agency, [Role.HIRING_OFFICER])
    candidate = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER])
    return hiring, candidate


async def _traces(session: AsyncSession, needles: list[str]) -> list[str]:
    """Every (table, needle) where a row of any table in the schema holds the needle, as text or
    inside a binary column (a row's text form shows bytea as hex)."""
    tables = (
        await session.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        )
    ).all()
    found = []
    for table in tables:
        for needle in needles:
            hits = await session.scalar(
                # The table names come from pg_tables, not from any input.
                text(f'SELECT count(*) FROM "{table}" AS r WHERE r::text LIKE :plain OR r::text LIKE :hexed'),  # noqa: S608
                {"plain": f"%{needle}%", "hexed": f"%{needle.encode().hex()}%"},
            )
            if hits:
                found.append(f"{table}: {needle}")
    return found


async def test_erasure_leaves_nothing_in_any_table(
    session: AsyncSession, make_org: OrgFactory, make_person: Maker
) -> None:
    hiring, candidate = await _people(make_org, make_person)
    tag = uuid.uuid4().hex[:10].upper()
    statement, experience = f"STATEMENT-{tag}", f"EXPERIENCE-{tag}"
    resume, reason = f"RESUME-{tag}", f"REASON-{tag}"
    await service.take_assessment(
        session,
        pathway="vulnerability-analyst",
        data=AssessmentIn(answers={"va-1": "9.8", "va-2": "B", "va-3": "CLEAR"}),
        actor=candidate,
    )
    posting = await service.create_posting(
        session, data=posting_in(pathway="vulnerability-analyst"), actor=hiring
    )
    made = await service.apply(
        session,
        posting_id=posting.id,
        data=job_application_in(statement=statement, experience=experience, share_assessment=True),
        actor=candidate,
    )
    await service.attach_resume(
        session,
        application_id=made.id,
        raw=f"Candidate CV\n{resume}\n".encode(),
        filename="cv.txt",
        actor=candidate,
        max_bytes=10_000,
        key=KEY,
    )
    await service.move(
        session, application_id=made.id, data=StageIn(state=Stage.SCREENED, reason=reason), actor=hiring
    )
    # The scan finds what is there (so its silence below means something); the résumé is sealed.
    assert sorted(await _traces(session, [statement, experience, reason, resume])) == sorted(
        [f"wf_applications: {statement}", f"wf_applications: {experience}", f"wf_applications: {reason}"]
    )
    raw, _, _ = await service.get_resume(session, application_id=made.id, actor=hiring, key=KEY)
    assert resume.encode() in raw
    gone = await service.delete_my_data(session, actor=candidate)
    assert gone == 2  # the application and the assessment
    assert await _traces(session, [statement, experience, reason, resume]) == []
    assert (
        await session.scalars(select(JobApplication).where(JobApplication.person_id == candidate.person_id))
    ).all() == []
    assert await service.my_assessments(session, actor=candidate) == []
    for who in (candidate, hiring):
        with pytest.raises(NotFound):
            await service.get_application(session, application_id=made.id, actor=who)


async def test_a_sealed_resume_opens_for_its_own_row_only(
    session: AsyncSession, make_org: OrgFactory, make_person: Maker
) -> None:
    hiring, candidate = await _people(make_org, make_person)
    first = await service.apply(
        session,
        posting_id=(await service.create_posting(session, data=posting_in(), actor=hiring)).id,
        data=job_application_in(),
        actor=candidate,
    )
    second = await service.apply(
        session,
        posting_id=(await service.create_posting(session, data=posting_in(), actor=hiring)).id,
        data=job_application_in(),
        actor=candidate,
    )
    for made in (first, second):
        await service.attach_resume(
            session,
            application_id=made.id,
            raw=b"%PDF-1.7\n",
            filename="cv.pdf",
            actor=candidate,
            max_bytes=100,
            key=KEY,
        )
    rows = {
        r.id: r
        for r in (
            await session.scalars(select(JobApplication).where(JobApplication.id.in_([first.id, second.id])))
        ).all()
    }
    assert all(b"%PDF" not in (r.resume_sealed or b"") for r in rows.values())
    rows[second.id].resume_sealed = rows[first.id].resume_sealed
    await session.flush()
    with pytest.raises(InvalidInput):
        await service.get_resume(session, application_id=second.id, actor=candidate, key=KEY)


async def test_a_posting_closes_to_the_second(
    session: AsyncSession, make_org: OrgFactory, make_person: Maker, clock: FrozenClock
) -> None:
    hiring, candidate = await _people(make_org, make_person)
    late = await make_person(await make_org(kind=OrgKind.OPERATOR), [Role.MEMBER])
    posting = await service.create_posting(
        session, data=posting_in(closes_at=clock.now() + timedelta(hours=1)), actor=hiring
    )
    clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    made = await service.apply(session, posting_id=posting.id, data=job_application_in(), actor=candidate)
    assert made.state is Stage.APPLIED
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidInput) as caught:
        await service.apply(session, posting_id=posting.id, data=job_application_in(), actor=late)
    assert caught.value.problems[0].field == "closes_at" and "closed at" in caught.value.problems[0].message
    assert (await service.posting_applications(session, posting_id=posting.id, actor=hiring))[0].id == made.id
    assert len(await service.posting_applications(session, posting_id=posting.id, actor=hiring)) == 1


def test_a_closing_date_keeps_the_posting_open_through_that_day() -> None:
    assert closing_time("2027-03-01") == datetime(2027, 3, 2, tzinfo=UTC).isoformat()
    assert closing_time("2027-03-01T17:30:15") == datetime(2027, 3, 1, 17, 30, 15, tzinfo=UTC).isoformat()
    assert closing_time("2027-03-01T12:00:00-05:00") == datetime(2027, 3, 1, 17, tzinfo=UTC).isoformat()
    with pytest.raises(InvalidInput) as caught:
        closing_time("next Tuesday")
    assert caught.value.problems[0].field == "closes_at"


async def test_personal_data_stays_out_of_the_logs(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: OrgFactory,
    make_person: Maker,
    make_token: Callable[[Principal], Awaitable[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hiring, candidate = await _people(make_org, make_person)
    posting = await service.create_posting(session, data=posting_in(), actor=hiring)
    tag = uuid.uuid4().hex[:10].upper()
    auth = {"Authorization": f"Bearer {await make_token(candidate)}"}
    caplog.set_level(logging.DEBUG)
    made = await client.post(
        f"/api/v1/workforce/postings/{posting.id}/applications",
        json=job_application_in(statement=f"LOG-STATEMENT-{tag}").model_dump(mode="json"),
        headers=auth,
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/workforce/applications/{made.json()['id']}/resume"
    bad = await client.put(
        url, content=f"LOG-RESUME-{tag}".encode(), params={"filename": f"LOG-NAME-{tag}.exe"}, headers=auth
    )
    assert bad.status_code == 422
    ok = await client.put(
        url, content=f"LOG-RESUME-{tag}".encode(), params={"filename": f"LOG-NAME-{tag}.txt"}, headers=auth
    )
    assert ok.status_code == 200
    assert (await client.get(url, headers=auth)).content == f"LOG-RESUME-{tag}".encode()
    ours = [r for r in caplog.records if r.name.startswith("forewarn")]  # not the test's own client
    assert len(ours) >= 4, "every request was logged"
    logged = "".join(r.getMessage() + str(r.__dict__) for r in ours)
    assert "/resume" in logged  # the log does say what happened, by path
    for needle in (f"LOG-STATEMENT-{tag}", f"LOG-RESUME-{tag}", f"LOG-NAME-{tag}", candidate.email):
        assert needle not in logged
