from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.core.clock import FrozenClock
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from forewarn.grants import service
from forewarn.grants.models import Application
from forewarn.grants.schemas import (
    ConflictIn,
    DecisionIn,
    MilestoneDecisionIn,
    MilestoneReportIn,
    ScoreIn,
)
from forewarn.ledger.models import LedgerEntry

from .conftest import People
from .world import SCORES, application_in, awarded, call_in, close_call


async def _open_call(session: AsyncSession, people: People, **over: object) -> uuid.UUID:
    call = await service.create_call(session, data=call_in(**over), actor=people.officer)  # type: ignore[arg-type]
    await service.publish_call(session, call_id=call.id, actor=people.officer)
    return call.id


async def _submitted(
    session: AsyncSession, people: People, call_id: uuid.UUID, who: str = "grantee"
) -> uuid.UUID:
    actor = getattr(people, who)
    app = await service.create_application(session, call_id=call_id, data=application_in(), actor=actor)
    await service.submit_application(session, application_id=app.id, actor=actor)
    return app.id


async def test_only_grants_officers_run_calls(session: AsyncSession, people: People) -> None:
    with pytest.raises(Forbidden):
        await service.create_call(session, data=call_in(), actor=people.grantee)
    draft = await service.create_call(session, data=call_in(), actor=people.officer)
    # A draft is invisible to the public and to other agencies; publishing is for its own agency.
    with pytest.raises(NotFound):
        await service.get_call(session, call_id=draft.id, actor=None)
    with pytest.raises(NotFound):
        await service.publish_call(session, call_id=draft.id, actor=people.other_officer)
    published = await service.publish_call(session, call_id=draft.id, actor=people.officer)
    assert (await service.get_call(session, call_id=draft.id, actor=None)).id == published.id


def test_criteria_weights_must_sum_to_one() -> None:
    with pytest.raises(ValueError, match="weights must sum to 1"):
        call_in(criteria=[{"key": "a", "name": "A", "weight": 0.5}, {"key": "b", "name": "B", "weight": 0.4}])


async def test_deadline_is_enforced_to_the_second(
    session: AsyncSession, people: People, clock: FrozenClock
) -> None:
    call_id = await _open_call(session, people, now=clock.now(), closes_in=timedelta(hours=1))
    early = await service.create_application(
        session, call_id=call_id, data=application_in(), actor=people.grantee
    )
    late = await service.create_application(
        session, call_id=call_id, data=application_in(), actor=people.rival
    )
    clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    ok = await service.submit_application(session, application_id=early.id, actor=people.grantee)
    assert ok.state == "submitted"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidInput) as caught:
        await service.submit_application(session, application_id=late.id, actor=people.rival)
    assert "closed" in str(caught.value) and caught.value.problems[0].field == "closes_at"
    assert (await session.get(Application, late.id)).state == "draft"  # type: ignore[union-attr]


async def test_budget_over_ceiling_is_refused(session: AsyncSession, people: People) -> None:
    call_id = await _open_call(session, people)
    before = await session.scalar(select(func.count()).select_from(Application))
    with pytest.raises(InvalidInput) as caught:
        await service.create_application(
            session,
            call_id=call_id,
            data=application_in(
                budget=800_000,
                milestones=[{"title": "All", "due_at": "2027-06-01T00:00:00Z", "amount": 800_000}],
            ),
            actor=people.grantee,
        )
    assert caught.value.problems[0].field == "budget"
    assert await session.scalar(select(func.count()).select_from(Application)) == before


async def test_tenancy_of_applications(session: AsyncSession, people: People) -> None:
    call_id = await _open_call(session, people)
    app_id = await _submitted(session, people, call_id)
    with pytest.raises(NotFound):
        await service.get_application(session, application_id=app_id, actor=people.rival)
    with pytest.raises(NotFound):
        await service.get_application(session, application_id=app_id, actor=people.other_officer)
    with pytest.raises(NotFound):  # not assigned yet
        await service.get_application(session, application_id=app_id, actor=people.reviewer)
    with pytest.raises(Forbidden):
        await service.call_applications(session, call_id=call_id, actor=people.other_officer)
    with pytest.raises(NotFound):
        await service.withdraw_application(session, application_id=app_id, actor=people.rival)
    assert (await service.get_application(session, application_id=app_id, actor=people.officer)).id == app_id


async def test_conflicted_or_undeclared_reviewer_cannot_score(session: AsyncSession, people: People) -> None:
    call_id = await _open_call(session, people)
    app_id = await _submitted(session, people, call_id)
    for r in (people.reviewer, people.reviewer2):
        await service.assign_reviewer(
            session, application_id=app_id, reviewer_email=r.email, actor=people.officer
        )
    with pytest.raises(Forbidden, match="declare"):
        await service.score(session, application_id=app_id, data=SCORES, actor=people.reviewer)
    with pytest.raises(InvalidInput):
        await service.declare_conflict(
            session, application_id=app_id, data=ConflictIn(conflict=True), actor=people.reviewer
        )
    await service.declare_conflict(
        session,
        application_id=app_id,
        data=ConflictIn(conflict=True, reason="CONFLICT-CANARY former employer"),
        actor=people.reviewer,
    )
    with pytest.raises(Forbidden, match="conflict"):
        await service.score(session, application_id=app_id, data=SCORES, actor=people.reviewer)
    with pytest.raises(NotFound):  # not assigned at all
        await service.score(session, application_id=app_id, data=SCORES, actor=people.analyst)
    # Members of the applicant cannot be assigned.
    with pytest.raises(InvalidInput):
        await service.assign_reviewer(
            session, application_id=app_id, reviewer_email=people.grantee.email, actor=people.officer
        )


async def test_scores_must_match_the_criteria(session: AsyncSession, people: People) -> None:
    call_id = await _open_call(session, people)
    app_id = await _submitted(session, people, call_id)
    await service.assign_reviewer(
        session, application_id=app_id, reviewer_email=people.reviewer.email, actor=people.officer
    )
    await service.declare_conflict(
        session, application_id=app_id, data=ConflictIn(conflict=False), actor=people.reviewer
    )
    with pytest.raises(InvalidInput) as caught:
        await service.score(
            session,
            application_id=app_id,
            data=ScoreIn(scores={"impact": 5, "bogus": 3}),
            actor=people.reviewer,
        )
    fields = {p.field for p in caught.value.problems}
    assert {"scores.approach", "scores.team", "scores.bogus"} <= fields


def test_normalise_removes_reviewer_leniency() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    harsh, lenient = uuid.uuid4(), uuid.uuid4()
    zs = service.normalise({harsh: {a: 2.0, b: 4.0, c: 3.0}, lenient: {a: 8.0, b: 10.0, c: 9.0}})
    assert zs[a] == zs[a][:1] * 2 and zs[b][0] > zs[c][0] > zs[a][0]
    assert service.normalise({harsh: {a: 5.0}})[a] == [0.0]


async def test_ranking_and_decision_with_ledger_without_business_details(
    session: AsyncSession, people: People
) -> None:
    call_id = await _open_call(session, people)
    first = await _submitted(session, people, call_id)
    second = await _submitted(session, people, call_id, who="rival")
    for reviewer, (hi, lo) in ((people.reviewer, (9, 5)), (people.reviewer2, (4, 2))):
        for app_id, value in ((first, hi), (second, lo)):
            await service.assign_reviewer(
                session, application_id=app_id, reviewer_email=reviewer.email, actor=people.officer
            )
            await service.declare_conflict(
                session, application_id=app_id, data=ConflictIn(conflict=False), actor=reviewer
            )
            await service.score(
                session,
                application_id=app_id,
                data=ScoreIn(
                    scores={"impact": value, "approach": value, "team": value},
                    comments={"impact": "REVIEW-COMMENT-CANARY"},
                ),
                actor=reviewer,
            )
    rows = await service.ranking(session, call_id=call_id, actor=people.officer)
    assert [r.application_id for r in rows] == [first, second]
    assert rows[0].rank == 1 and rows[0].mean_z == 1.0 and rows[1].mean_z == -1.0
    decision = DecisionIn(award=True, rationale="RATIONALE-CANARY: ranked first with a clear plan.")
    with pytest.raises(Conflict, match="after the call closes"):
        await service.decide(session, application_id=first, data=decision, actor=people.officer)
    # Before the decision the applicant sees no scores.
    mine = await service.get_application(session, application_id=first, actor=people.grantee)
    assert mine.reviews is None and mine.decision_rationale is None
    await close_call(session, call_id)
    await service.decide(session, application_id=first, data=decision, actor=people.officer)
    mine = await service.get_application(session, application_id=first, actor=people.grantee)
    assert (
        mine.state == "awarded"
        and mine.reviews
        and mine.reviews[0].comments["impact"] == "REVIEW-COMMENT-CANARY"
    )
    assert mine.decision_rationale is not None
    entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.type.like("grants.%")))).all()
    types = {e.type for e in entries}
    assert {"grants.call_published", "grants.award_decided"} <= types
    blob = b"".join(e.data for e in entries)
    for canary in (
        b"RATIONALE-CANARY",
        b"SECRET-APPROACH-CANARY",
        b"REVIEW-COMMENT-CANARY",
        b"InjectionHound",
    ):
        assert canary not in blob
    assert b"per-reviewer z-scores" in blob


async def test_award_milestones_disbursement_and_public_view(session: AsyncSession, people: People) -> None:
    _, award_id = await awarded(
        session, officer=people.officer, grantee=people.grantee, reviewer=people.reviewer
    )
    award = await service.get_award(session, award_id=award_id, actor=people.grantee)
    assert award.amount == 600_000 and [m.amount for m in award.milestones] == [200_000, 400_000]
    m1 = award.milestones[0].id
    with pytest.raises(Conflict):
        await service.disburse(session, milestone_id=m1, actor=people.officer)
    await service.report_milestone(
        session,
        milestone_id=m1,
        data=MilestoneReportIn(report="PRIVATE-REPORT prototype"),
        actor=people.grantee,
    )
    with pytest.raises(InvalidInput):
        await service.decide_milestone(
            session, milestone_id=m1, data=MilestoneDecisionIn(accept=False), actor=people.officer
        )
    await service.decide_milestone(
        session,
        milestone_id=m1,
        data=MilestoneDecisionIn(accept=False, note="Add test results."),
        actor=people.officer,
    )
    await service.report_milestone(
        session,
        milestone_id=m1,
        data=MilestoneReportIn(report="PRIVATE-REPORT with results"),
        actor=people.grantee,
    )
    with pytest.raises(Forbidden):
        await service.decide_milestone(
            session, milestone_id=m1, data=MilestoneDecisionIn(accept=True), actor=people.other_officer
        )
    await service.decide_milestone(
        session, milestone_id=m1, data=MilestoneDecisionIn(accept=True), actor=people.officer
    )
    paid = await service.disburse(session, milestone_id=m1, actor=people.officer)
    assert paid.disbursed == 200_000
    with pytest.raises(Conflict):
        await service.disburse(session, milestone_id=m1, actor=people.officer)
    public = await service.get_award(session, award_id=award_id, actor=None)
    assert public.milestones[0].report is None and public.disbursed == 200_000
    listed = await service.list_awards(session)
    assert any(a.id == award_id and a.organisation_id == people.grantee.organisation_id for a in listed)


async def test_withdrawal(session: AsyncSession, people: People) -> None:
    call_id = await _open_call(session, people)
    app_id = await _submitted(session, people, call_id)
    out = await service.withdraw_application(session, application_id=app_id, actor=people.grantee)
    assert out.state == "withdrawn"
    with pytest.raises(Conflict):
        await service.withdraw_application(session, application_id=app_id, actor=people.grantee)
