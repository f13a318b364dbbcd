"""Grants for AI vulnerability detection tools: calls, applications, review, awards, funded tools.

Invariants:

- every action is decided by :mod:`.policy`; an application or call a caller may not read is "not
  found", never "forbidden" (no existence leak);
- submission and withdrawal are checked against the call's close time with the injectable clock,
  to the second; a late submission is refused and changes nothing;
- a conflicted (or undeclared) reviewer cannot score; scores are normalised per reviewer (z-scores
  over that reviewer's scored applications in the call) before ranking, so a harsh and a lenient
  reviewer count alike;
- governance decisions (call published, conflict declared, award decided, milestone accepted or
  returned, disbursement, tool registered) are transparency-log entries with ids, public reasons and
  ``sha256`` hashes only: never an applicant's business details (approach, budget lines, team) or a
  reviewer's comments;
- a funded tool's performance is read from the clearinghouse through its services (advisories and
  matching), never its tables; the operators its findings reached are a count, never names;
- an attachment is checked (size, count, name, declared type against its bytes) before anything is
  written, sealed at rest with the programme's data key under associated data naming its row and
  application, and opened only for those who may read the application.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import policy as accounts_policy
from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import Principal, TokenIn
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.matching import service as matching
from forewarn.core.clock import utcnow
from forewarn.core.db import new_id
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, TooLarge, forbid_unless
from forewarn.core.keys import DataKey
from forewarn.grants import files, policy
from forewarn.grants.models import (
    Application,
    Assignment,
    Attachment,
    Award,
    Call,
    Disbursement,
    Milestone,
    Tool,
)
from forewarn.grants.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationState,
    AssignmentOut,
    AttachmentOut,
    AwardOut,
    CallIn,
    CallOut,
    CallState,
    ConflictIn,
    Criterion,
    DecisionIn,
    Detects,
    MilestoneDecisionIn,
    MilestoneOut,
    MilestonePlan,
    MilestoneReportIn,
    MilestoneState,
    Performance,
    RankRow,
    ReviewOut,
    ScoreIn,
    ToolIn,
    ToolOut,
    ToolRegistered,
)
from forewarn.ledger import service as ledger

_T = TypeVar("_T")

#: The normalisation and ranking rule, as written to the log with each decision.
RANKING_RULE = "weighted criteria 0-10; per-reviewer z-scores; rank by mean z; conflicted reviewers excluded"


def _digest(data: Any) -> str:
    raw = json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _org_of(actor: Principal) -> uuid.UUID:
    if actor.organisation_id is None:
        raise Forbidden("act for an organisation first")
    return actor.organisation_id


def _must(row: _T | None) -> _T:
    if row is None:  # pragma: no cover - foreign keys keep these rows
        raise NotFound("a linked record is missing")
    return row


async def _org_name(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    return (await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)).name


# --------------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------------


async def _call_out(session: AsyncSession, call: Call) -> CallOut:
    return CallOut(
        id=call.id,
        agency_organisation_id=call.agency_organisation_id,
        agency_name=await _org_name(session, call.agency_organisation_id),
        title=call.title,
        purpose=call.purpose,
        funding_pool=call.funding_pool,
        award_ceiling=call.award_ceiling,
        eligibility=call.eligibility,
        criteria=[Criterion.model_validate(c) for c in call.criteria],
        opens_at=call.opens_at,
        closes_at=call.closes_at,
        state=CallState(call.state),
        published_at=call.published_at,
    )


async def create_call(session: AsyncSession, *, data: CallIn, actor: Principal) -> CallOut:
    forbid_unless(policy.is_grants_officer(actor), "your role does not allow you to run calls for proposals")
    org_id = _org_of(actor)
    call = Call(
        agency_organisation_id=org_id,
        title=data.title,
        purpose=data.purpose,
        funding_pool=data.funding_pool,
        award_ceiling=data.award_ceiling,
        eligibility=data.eligibility,
        criteria=[c.model_dump() for c in data.criteria],
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        state=CallState.DRAFT.value,
    )
    session.add(call)
    await session.flush()
    return await _call_out(session, call)


async def _call(session: AsyncSession, call_id: uuid.UUID, actor: Principal | None) -> Call:
    call = await session.get(Call, call_id)
    if call is None or (
        call.state != CallState.PUBLISHED.value
        and not policy.can_run_call(actor, call.agency_organisation_id)
    ):
        raise NotFound("no such call for proposals")
    return call


async def publish_call(session: AsyncSession, *, call_id: uuid.UUID, actor: Principal) -> CallOut:
    call = await _call(session, call_id, actor)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to publish this call",
    )
    if call.state == CallState.PUBLISHED.value:
        raise Conflict("the call is already published")
    if call.closes_at <= utcnow():
        raise InvalidInput("the call closes in the past", problems=[Problem("closes_at", "is in the past")])
    call.state = CallState.PUBLISHED.value
    call.published_at = utcnow()
    await session.flush()
    await ledger.append(
        session,
        type="grants.call_published",
        actor_organisation_id=actor.organisation_id,
        subjects=[("grant_call", call.id)],
        reason=(
            f"call for proposals published; closes {call.closes_at.isoformat()}; "
            f"criteria {_weights(call.criteria)}; {RANKING_RULE}"
        )[:400],
        sealed_hashes={"call": _digest(_call_terms(call))},
    )
    return await _call_out(session, call)


def _weights(criteria: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['key']}={c['weight']}" for c in criteria)


def _call_terms(call: Call) -> dict[str, Any]:
    return {
        "title": call.title,
        "purpose": call.purpose,
        "funding_pool": call.funding_pool,
        "award_ceiling": call.award_ceiling,
        "eligibility": call.eligibility,
        "criteria": call.criteria,
        "opens_at": call.opens_at,
        "closes_at": call.closes_at,
    }


async def list_calls(session: AsyncSession, *, actor: Principal | None) -> list[CallOut]:
    """Published calls for everyone, plus the caller's agency's drafts for its officers."""
    query = select(Call).order_by(Call.closes_at.desc())
    rows = list((await session.scalars(query)).all())
    visible = [
        c
        for c in rows
        if c.state == CallState.PUBLISHED.value or policy.can_run_call(actor, c.agency_organisation_id)
    ]
    return [await _call_out(session, c) for c in visible]


async def get_call(session: AsyncSession, *, call_id: uuid.UUID, actor: Principal | None) -> CallOut:
    return await _call_out(session, await _call(session, call_id, actor))


# --------------------------------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------------------------------


async def _application_out(
    session: AsyncSession, app: Application, *, with_reviews: bool = False
) -> ApplicationOut:
    reviews = None
    if with_reviews and policy.reviews_visible_to_applicant(app.state):
        rows = (
            await session.scalars(
                select(Assignment).where(Assignment.application_id == app.id, Assignment.scores.is_not(None))
            )
        ).all()
        reviews = [ReviewOut(scores=r.scores or {}, comments=r.comments or {}) for r in rows]
    attached = await _attachments(session, app.id)
    return ApplicationOut(
        id=app.id,
        call_id=app.call_id,
        organisation_id=app.organisation_id,
        organisation_name=await _org_name(session, app.organisation_id),
        tool_name=app.tool_name,
        detects=[Detects(d) for d in app.detects],
        summary=app.summary,
        approach=app.approach,
        budget=app.budget,
        milestones=[MilestonePlan.model_validate(m) for m in app.milestones],
        team=app.team,
        state=ApplicationState(app.state),
        submitted_at=app.submitted_at,
        decided_at=app.decided_at,
        decision_rationale=app.decision_rationale if policy.reviews_visible_to_applicant(app.state) else None,
        reviews=reviews,
        attachments=[_attachment_out(a) for a in attached],
    )


def _check_against_call(data: ApplicationIn, call: Call) -> None:
    if data.budget > call.award_ceiling:
        raise InvalidInput(
            "the budget is over the award ceiling",
            problems=[Problem("budget", f"at most {call.award_ceiling} (the call's award ceiling)")],
        )


def _open(call: Call, what: str) -> None:
    now = utcnow()
    if call.state != CallState.PUBLISHED.value or now < call.opens_at:
        raise InvalidInput(f"the call is not open: cannot {what}", problems=[Problem("call", "not open yet")])
    if now >= call.closes_at:
        raise InvalidInput(
            f"the call closed at {call.closes_at.isoformat()}: cannot {what}",
            problems=[Problem("closes_at", f"the deadline {call.closes_at.isoformat()} has passed")],
        )


async def create_application(
    session: AsyncSession, *, call_id: uuid.UUID, data: ApplicationIn, actor: Principal
) -> ApplicationOut:
    """Start a draft application for the caller's grantee organisation."""
    forbid_unless(
        policy.is_applicant(actor), "your role does not allow you to apply (only grantee organisations apply)"
    )
    org_id = _org_of(actor)
    call = await _call(session, call_id, actor)
    _open(call, "start an application")
    _check_against_call(data, call)
    app = Application(
        call_id=call.id,
        organisation_id=org_id,
        created_by_person_id=actor.person_id,
        state=ApplicationState.DRAFT.value,
    )
    _fill(app, data)
    session.add(app)
    await session.flush()
    return await _application_out(session, app)


def _fill(app: Application, data: ApplicationIn) -> None:
    app.tool_name = data.tool_name
    app.detects = [d.value for d in data.detects]
    app.summary = data.summary
    app.approach = data.approach
    app.budget = data.budget
    app.milestones = [m.model_dump(mode="json") for m in data.milestones]
    app.team = data.team


async def _application(
    session: AsyncSession, application_id: uuid.UUID, actor: Principal | None
) -> Application:
    """The application if the caller may read it: its organisation, the call's officers, its reviewers."""
    app = await session.get(Application, application_id)
    if app is None or actor is None:
        raise NotFound("no such application")
    if policy.owns_application(actor, app.organisation_id):
        return app
    call = await session.get(Call, app.call_id)
    if call is not None and policy.can_run_call(actor, call.agency_organisation_id):
        if app.state == ApplicationState.DRAFT.value:
            raise NotFound("no such application")
        return app
    assigned = await session.scalar(
        select(Assignment.id).where(
            Assignment.application_id == app.id, Assignment.reviewer_person_id == actor.person_id
        )
    )
    if assigned is not None and app.state != ApplicationState.DRAFT.value:
        return app
    raise NotFound("no such application")


async def update_application(
    session: AsyncSession, *, application_id: uuid.UUID, data: ApplicationIn, actor: Principal
) -> ApplicationOut:
    app = await _application(session, application_id, actor)
    forbid_unless(
        policy.owns_application(actor, app.organisation_id),
        "your role does not allow you to edit this application",
    )
    if app.state != ApplicationState.DRAFT.value:
        raise Conflict(f"the application is {app.state}; only drafts can be edited")
    call = await _call(session, app.call_id, actor)
    _open(call, "edit the application")
    _check_against_call(data, call)
    _fill(app, data)
    await session.flush()
    return await _application_out(session, app)


async def submit_application(
    session: AsyncSession, *, application_id: uuid.UUID, actor: Principal
) -> ApplicationOut:
    app = await _application(session, application_id, actor)
    forbid_unless(
        policy.owns_application(actor, app.organisation_id),
        "your role does not allow you to submit this application",
    )
    if app.state != ApplicationState.DRAFT.value:
        raise Conflict(f"the application is already {app.state}")
    call = await _call(session, app.call_id, actor)
    _open(call, "submit")
    app.state = ApplicationState.SUBMITTED.value
    app.submitted_at = utcnow()
    await session.flush()
    return await _application_out(session, app)


async def withdraw_application(
    session: AsyncSession, *, application_id: uuid.UUID, actor: Principal
) -> ApplicationOut:
    app = await _application(session, application_id, actor)
    forbid_unless(
        policy.owns_application(actor, app.organisation_id),
        "your role does not allow you to withdraw this application",
    )
    if app.state not in (ApplicationState.DRAFT.value, ApplicationState.SUBMITTED.value):
        raise Conflict(f"the application is {app.state}; it can no longer be withdrawn")
    app.state = ApplicationState.WITHDRAWN.value
    await session.flush()
    return await _application_out(session, app)


async def get_application(
    session: AsyncSession, *, application_id: uuid.UUID, actor: Principal
) -> ApplicationOut:
    app = await _application(session, application_id, actor)
    return await _application_out(
        session, app, with_reviews=policy.owns_application(actor, app.organisation_id)
    )


async def my_applications(session: AsyncSession, *, actor: Principal) -> list[ApplicationOut]:
    forbid_unless(
        policy.is_applicant(actor), "your role does not allow you to list your organisation's applications"
    )
    rows = (
        await session.scalars(
            select(Application)
            .where(Application.organisation_id == actor.organisation_id)
            .order_by(Application.created_at.desc())
        )
    ).all()
    return [await _application_out(session, a, with_reviews=True) for a in rows]


async def call_applications(
    session: AsyncSession, *, call_id: uuid.UUID, actor: Principal
) -> list[ApplicationOut]:
    call = await _call(session, call_id, actor)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to see this call's applications",
    )
    rows = (
        await session.scalars(
            select(Application)
            .where(Application.call_id == call.id, Application.state != ApplicationState.DRAFT.value)
            .order_by(Application.submitted_at)
        )
    ).all()
    return [await _application_out(session, a) for a in rows]


# --------------------------------------------------------------------------------------------------
# Review
# --------------------------------------------------------------------------------------------------


def _assignment_out(a: Assignment) -> AssignmentOut:
    return AssignmentOut(
        id=a.id,
        application_id=a.application_id,
        reviewer_person_id=a.reviewer_person_id,
        conflict=a.conflict,
        scored=a.scores is not None,
    )


async def assign_reviewer(
    session: AsyncSession, *, application_id: uuid.UUID, reviewer_email: str, actor: Principal
) -> AssignmentOut:
    app = await _application(session, application_id, actor)
    call = await _call(session, app.call_id, actor)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to assign reviewers",
    )
    if app.state != ApplicationState.SUBMITTED.value:
        raise Conflict(f"the application is {app.state}; only submitted ones are reviewed")
    try:
        reviewer = await accounts.find_person(session, email=reviewer_email)
    except NotFound:
        raise InvalidInput(
            "no such person", problems=[Problem("reviewer_email", "nobody has this email")]
        ) from None
    if reviewer.id == actor.person_id:
        raise InvalidInput("officers do not review", problems=[Problem("reviewer_email", "is you")])
    if any(m.organisation_id == app.organisation_id for m in reviewer.memberships):
        raise InvalidInput(
            "a member of the applicant cannot review it",
            problems=[Problem("reviewer_email", "belongs to the applicant organisation")],
        )
    already = await session.scalar(
        select(Assignment.id).where(
            Assignment.application_id == app.id, Assignment.reviewer_person_id == reviewer.id
        )
    )
    if already is not None:
        raise Conflict("this reviewer is already assigned")
    assignment = Assignment(application_id=app.id, reviewer_person_id=reviewer.id)
    session.add(assignment)
    await session.flush()
    return _assignment_out(assignment)


async def _assignment(session: AsyncSession, application_id: uuid.UUID, actor: Principal) -> Assignment:
    assignment = await session.scalar(
        select(Assignment).where(
            Assignment.application_id == application_id, Assignment.reviewer_person_id == actor.person_id
        )
    )
    if assignment is None:
        raise NotFound("you are not assigned to review this application")
    return assignment


async def my_assignments(session: AsyncSession, *, actor: Principal) -> list[AssignmentOut]:
    rows = (
        await session.scalars(
            select(Assignment)
            .where(Assignment.reviewer_person_id == actor.person_id)
            .order_by(Assignment.created_at)
        )
    ).all()
    return [_assignment_out(a) for a in rows]


async def declare_conflict(
    session: AsyncSession, *, application_id: uuid.UUID, data: ConflictIn, actor: Principal
) -> AssignmentOut:
    assignment = await _assignment(session, application_id, actor)
    if assignment.scores is not None:
        raise Conflict("you have already scored this application")
    if data.conflict and not data.reason:
        raise InvalidInput("say why", problems=[Problem("reason", "needed when you declare a conflict")])
    assignment.conflict = data.conflict
    assignment.conflict_reason = data.reason or None
    await session.flush()
    if data.conflict:
        await ledger.append(
            session,
            type="grants.reviewer_recused",
            actor_organisation_id=actor.organisation_id,
            subjects=[("grant_application", application_id), ("person", actor.person_id)],
            reason="a reviewer declared a conflict of interest and will not score",
            sealed_hashes={"reason": _digest(data.reason)},
        )
    return _assignment_out(assignment)


async def score(
    session: AsyncSession, *, application_id: uuid.UUID, data: ScoreIn, actor: Principal
) -> AssignmentOut:
    assignment = await _assignment(session, application_id, actor)
    if not policy.can_score(assignment.conflict):
        raise Forbidden(
            "declare that you have no conflict of interest before scoring"
            if assignment.conflict is None
            else "you declared a conflict of interest: you cannot score this application"
        )
    app = _must(await session.get(Application, application_id))
    if app.state != ApplicationState.SUBMITTED.value:
        raise Conflict(f"the application is {app.state}; scoring is closed")
    call = _must(await session.get(Call, app.call_id))
    keys = {c["key"] for c in call.criteria}
    problems = [Problem(f"scores.{k}", "missing") for k in sorted(keys - set(data.scores))]
    problems += [
        Problem(f"scores.{k}", "not a criterion of this call") for k in sorted(set(data.scores) - keys)
    ]
    problems += [
        Problem(f"comments.{k}", "not a criterion of this call") for k in sorted(set(data.comments) - keys)
    ]
    if problems:
        raise InvalidInput("the scores do not match the call's criteria", problems=problems)
    assignment.scores = dict(data.scores)
    assignment.comments = {k: v for k, v in data.comments.items() if v}
    assignment.scored_at = utcnow()
    await session.flush()
    return _assignment_out(assignment)


def weighted(scores: dict[str, int], criteria: list[dict[str, Any]]) -> float:
    return sum(float(c["weight"]) * scores[c["key"]] for c in criteria)


def normalise(raw: dict[uuid.UUID, dict[uuid.UUID, float]]) -> dict[uuid.UUID, list[float]]:
    """Per-reviewer z-scores: reviewer → {application → weighted score} to application → [z].

    A reviewer who scored one application, or gave every application the same score, carries no
    information about order and contributes z = 0.
    """
    out: dict[uuid.UUID, list[float]] = defaultdict(list)
    for by_app in raw.values():
        values = list(by_app.values())
        mean = statistics.fmean(values)
        sd = statistics.pstdev(values) if len(values) > 1 else 0.0
        for app_id, value in by_app.items():
            out[app_id].append((value - mean) / sd if sd > 0 else 0.0)
    return out


async def ranking(session: AsyncSession, *, call_id: uuid.UUID, actor: Principal) -> list[RankRow]:
    call = await _call(session, call_id, actor)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to see the ranking",
    )
    apps = (
        await session.scalars(
            select(Application).where(
                Application.call_id == call.id,
                Application.state.in_(
                    [
                        ApplicationState.SUBMITTED.value,
                        ApplicationState.AWARDED.value,
                        ApplicationState.DECLINED.value,
                    ]
                ),
            )
        )
    ).all()
    ids = [a.id for a in apps]
    assignments = (
        await session.scalars(
            select(Assignment).where(
                Assignment.application_id.in_(ids),
                Assignment.scores.is_not(None),
                Assignment.conflict.is_(False),
            )
        )
    ).all()
    raw: dict[uuid.UUID, dict[uuid.UUID, float]] = defaultdict(dict)
    for a in assignments:
        raw[a.reviewer_person_id][a.application_id] = weighted(a.scores or {}, call.criteria)
    zs = normalise(raw)
    raws: dict[uuid.UUID, list[float]] = defaultdict(list)
    for by_app in raw.values():
        for app_id, value in by_app.items():
            raws[app_id].append(value)
    rows = [
        RankRow(
            application_id=a.id,
            organisation_name=await _org_name(session, a.organisation_id),
            tool_name=a.tool_name,
            budget=a.budget,
            state=ApplicationState(a.state),
            reviews=len(raws.get(a.id, [])),
            mean_raw=round(statistics.fmean(raws[a.id]), 3) if raws.get(a.id) else None,
            mean_z=round(statistics.fmean(zs[a.id]), 3) if zs.get(a.id) else None,
            rank=None,
        )
        for a in apps
    ]
    rows.sort(key=lambda r: (r.mean_z is None, -(r.mean_z or 0.0), -(r.mean_raw or 0.0)))
    for index, row in enumerate(r for r in rows if r.mean_z is not None):
        row.rank = index + 1
    return rows


async def decide(
    session: AsyncSession, *, application_id: uuid.UUID, data: DecisionIn, actor: Principal
) -> ApplicationOut:
    app = await _application(session, application_id, actor)
    call = await _call(session, app.call_id, actor)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to decide on applications",
    )
    if app.state != ApplicationState.SUBMITTED.value:
        raise Conflict(f"the application is {app.state}; only submitted ones are decided")
    if utcnow() < call.closes_at:
        raise Conflict("decisions are made after the call closes")
    rows = await ranking(session, call_id=call.id, actor=actor)
    row = next(r for r in rows if r.application_id == app.id)
    if row.reviews == 0:
        raise Conflict("the application has no scores yet")
    now = utcnow()
    app.state = (ApplicationState.AWARDED if data.award else ApplicationState.DECLINED).value
    app.decision_rationale = data.rationale
    app.decided_at = now
    amount = 0
    if data.award:
        amount = data.amount or app.budget
        problems = []
        if amount > call.award_ceiling:
            problems.append(Problem("amount", f"over the award ceiling {call.award_ceiling}"))
        committed = await session.scalar(
            select(func.coalesce(func.sum(Award.amount), 0))
            .join(Application, Application.id == Award.application_id)
            .where(Application.call_id == call.id)
        )
        if int(committed or 0) + amount > call.funding_pool:
            problems.append(Problem("amount", "the funding pool has not enough left"))
        if problems:
            raise InvalidInput("the award does not fit the call", problems=problems)
        award = Award(application_id=app.id, amount=amount, created_at=now)
        session.add(award)
        await session.flush()
        plans = [MilestonePlan.model_validate(m) for m in app.milestones]
        scale = amount / app.budget
        left = amount
        for i, plan in enumerate(plans, start=1):
            part = left if i == len(plans) else round(plan.amount * scale)
            left -= part
            session.add(
                Milestone(award_id=award.id, ordinal=i, title=plan.title, due_at=plan.due_at, amount=part)
            )
    await session.flush()
    await ledger.append(
        session,
        type="grants.award_decided",
        actor_organisation_id=actor.organisation_id,
        subjects=[
            ("grant_call", call.id),
            ("grant_application", app.id),
            ("organisation", app.organisation_id),
        ],
        reason=(
            f"{f'awarded {amount} USD' if data.award else 'declined'}; "
            f"rank {row.rank} of {sum(r.rank is not None for r in rows)}"
            f" by the call's published rule: {RANKING_RULE}"
        )[:400],
        sealed_hashes={
            "rationale": _digest(data.rationale),
            "application": _digest(_app_terms(app, await _attachments(session, app.id))),
        },
    )
    return await _application_out(session, app)


def _app_terms(app: Application, attached: list[Attachment]) -> dict[str, Any]:
    """What the decision was made on; logged as one hash (attachments by their own hashes)."""
    return {
        "attachments": [a.sha256 for a in attached],
        "tool_name": app.tool_name,
        "summary": app.summary,
        "approach": app.approach,
        "budget": app.budget,
        "milestones": app.milestones,
        "team": app.team,
    }


# --------------------------------------------------------------------------------------------------
# Awards, milestones, disbursements, funded tools
# --------------------------------------------------------------------------------------------------


async def _award_out(session: AsyncSession, award: Award, *, performance: bool = True) -> AwardOut:
    app = _must(await session.get(Application, award.application_id))
    call = _must(await session.get(Call, app.call_id))
    milestones = (
        await session.scalars(
            select(Milestone).where(Milestone.award_id == award.id).order_by(Milestone.ordinal)
        )
    ).all()
    paid = {
        d.milestone_id: d.amount
        for d in (await session.scalars(select(Disbursement).where(Disbursement.award_id == award.id))).all()
    }
    tool = await session.scalar(select(Tool).where(Tool.award_id == award.id))
    perf = None
    if performance and tool is not None:
        stats = await advisories.reporter_statistics(
            session, organisation_id=app.organisation_id, since=tool.created_at
        )
        published = await advisories.reporter_publications(
            session, organisation_id=app.organisation_id, since=tool.created_at
        )
        reached = await matching.organisations_matched(session, advisory_ids=published)
        perf = Performance.model_validate(
            {**stats, "advisories_published": len(published), "operators_matched": reached}
        )
    return AwardOut(
        id=award.id,
        application_id=app.id,
        call_id=call.id,
        call_title=call.title,
        organisation_id=app.organisation_id,
        organisation_name=await _org_name(session, app.organisation_id),
        tool_name=app.tool_name,
        detects=[Detects(d) for d in app.detects],
        summary=app.summary,
        amount=award.amount,
        disbursed=sum(paid.values()),
        awarded_at=award.created_at,
        milestones=[
            MilestoneOut(
                id=m.id,
                ordinal=m.ordinal,
                title=m.title,
                due_at=m.due_at,
                amount=m.amount,
                state=MilestoneState(m.state),
                report=m.report,
                officer_note=m.officer_note,
                disbursed=m.id in paid,
            )
            for m in milestones
        ],
        tool=ToolOut(id=tool.id, name=tool.name, registered_at=tool.created_at, token_id=tool.token_id)
        if tool
        else None,
        performance=perf,
    )


def _public(out: AwardOut) -> AwardOut:
    """The public view: who, how much, for what; milestone reports and notes stay private."""
    return out.model_copy(
        update={
            "milestones": [
                m.model_copy(update={"report": None, "officer_note": None}) for m in out.milestones
            ]
        }
    )


async def list_awards(session: AsyncSession) -> list[AwardOut]:
    """Every award, public view."""
    rows = (await session.scalars(select(Award).order_by(Award.created_at.desc()))).all()
    return [_public(await _award_out(session, a)) for a in rows]


async def _award(session: AsyncSession, award_id: uuid.UUID) -> tuple[Award, Application, Call]:
    award = await session.get(Award, award_id)
    if award is None:
        raise NotFound("no such award")
    app = _must(await session.get(Application, award.application_id))
    call = _must(await session.get(Call, app.call_id))
    return award, app, call


async def get_award(session: AsyncSession, *, award_id: uuid.UUID, actor: Principal | None) -> AwardOut:
    award, app, call = await _award(session, award_id)
    out = await _award_out(session, award)
    insider = policy.owns_application(actor, app.organisation_id) or policy.can_run_call(
        actor, call.agency_organisation_id
    )
    return out if insider else _public(out)


async def _milestone(
    session: AsyncSession, milestone_id: uuid.UUID
) -> tuple[Milestone, Award, Application, Call]:
    milestone = await session.get(Milestone, milestone_id)
    if milestone is None:
        raise NotFound("no such milestone")
    award, app, call = await _award(session, milestone.award_id)
    return milestone, award, app, call


async def report_milestone(
    session: AsyncSession, *, milestone_id: uuid.UUID, data: MilestoneReportIn, actor: Principal
) -> AwardOut:
    milestone, award, app, _ = await _milestone(session, milestone_id)
    if not policy.owns_application(actor, app.organisation_id):
        raise NotFound("no such milestone")
    if milestone.state not in (MilestoneState.PENDING.value, MilestoneState.RETURNED.value):
        raise Conflict(f"the milestone is {milestone.state}")
    milestone.report = data.report
    milestone.reported_at = utcnow()
    milestone.state = MilestoneState.REPORTED.value
    await session.flush()
    return await _award_out(session, award)


async def decide_milestone(
    session: AsyncSession, *, milestone_id: uuid.UUID, data: MilestoneDecisionIn, actor: Principal
) -> AwardOut:
    milestone, award, _, call = await _milestone(session, milestone_id)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to accept milestone reports",
    )
    if milestone.state != MilestoneState.REPORTED.value:
        raise Conflict(f"the milestone is {milestone.state}; only reported ones are decided")
    if not data.accept and not data.note:
        raise InvalidInput("say what is missing", problems=[Problem("note", "needed to return a report")])
    milestone.state = (MilestoneState.ACCEPTED if data.accept else MilestoneState.RETURNED).value
    milestone.officer_note = data.note or None
    milestone.decided_at = utcnow()
    await session.flush()
    await ledger.append(
        session,
        type="grants.milestone_" + ("accepted" if data.accept else "returned"),
        actor_organisation_id=actor.organisation_id,
        subjects=[("grant_award", award.id), ("grant_milestone", milestone.id)],
        reason=f"milestone {milestone.ordinal} report "
        + ("accepted" if data.accept else "returned for changes"),
        sealed_hashes={"report": _digest(milestone.report)},
    )
    return await _award_out(session, award)


async def disburse(session: AsyncSession, *, milestone_id: uuid.UUID, actor: Principal) -> AwardOut:
    milestone, award, _, call = await _milestone(session, milestone_id)
    forbid_unless(
        policy.can_run_call(actor, call.agency_organisation_id),
        "your role does not allow you to record disbursements",
    )
    if milestone.state != MilestoneState.ACCEPTED.value:
        raise Conflict("only an accepted milestone is paid")
    if await session.scalar(select(Disbursement.id).where(Disbursement.milestone_id == milestone.id)):
        raise Conflict("this milestone is already paid")
    session.add(Disbursement(award_id=award.id, milestone_id=milestone.id, amount=milestone.amount))
    await session.flush()
    await ledger.append(
        session,
        type="grants.disbursed",
        actor_organisation_id=actor.organisation_id,
        subjects=[("grant_award", award.id), ("grant_milestone", milestone.id)],
        reason=f"{milestone.amount} USD disbursed for accepted milestone {milestone.ordinal}",
    )
    return await _award_out(session, award)


async def register_tool(
    session: AsyncSession, *, award_id: uuid.UUID, data: ToolIn, actor: Principal
) -> ToolRegistered:
    """Register the awarded tool as a clearinghouse scanner: an API token for the grantee's
    organisation (never any other), held by the person who registers it."""
    award, app, _ = await _award(session, award_id)
    if not policy.owns_application(actor, app.organisation_id):
        raise NotFound("no such award")
    if not accounts_policy.can_use_tokens(actor):
        # As for every token: a token never mints another; a person does it, signed in.
        raise Forbidden("sign in (not with an API token) to register the tool and get its token")
    if await session.scalar(select(Tool.id).where(Tool.award_id == award.id)):
        raise Conflict("a tool is already registered for this award")
    token = await accounts.create_token(
        session,
        data=TokenIn(name=f"scanner: {data.name}"[:100], days=data.days),
        person_id=actor.person_id,
        organisation_id=app.organisation_id,
        actor=None,  # the grant policy above decided; a scanner token is scoped to the grantee
    )
    tool = Tool(award_id=award.id, name=data.name, token_id=token.id)
    session.add(tool)
    await session.flush()
    await ledger.append(
        session,
        type="grants.tool_registered",
        actor_organisation_id=actor.organisation_id,
        subjects=[("grant_award", award.id), ("organisation", app.organisation_id)],
        reason="a funded detection tool was registered as a clearinghouse scanner",
    )
    return ToolRegistered(
        id=tool.id, name=tool.name, registered_at=tool.created_at, token_id=tool.token_id, token=token.token
    )


async def awards_of(session: AsyncSession, *, actor: Principal) -> list[AwardOut]:
    """The caller's grantee organisation's awards (full view)."""
    rows = (
        await session.scalars(
            select(Award)
            .join(Application, Application.id == Award.application_id)
            .where(Application.organisation_id == actor.organisation_id)
        )
    ).all()
    return [await _award_out(session, a) for a in rows] if policy.is_applicant(actor) else []


async def award_for_application(session: AsyncSession, *, application_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(Award.id).where(Award.application_id == application_id)
    )
    return found


def deadline_left(closes_at: datetime) -> float:
    return (closes_at - utcnow()).total_seconds()


# --------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------


def _attachment_aad(attachment_id: uuid.UUID, application_id: uuid.UUID) -> bytes:
    return b"forewarn grants attachment v1\n" + attachment_id.bytes + application_id.bytes


def _attachment_out(a: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=a.id, name=a.name, media_type=a.media_type, size=a.size, sha256=a.sha256, uploaded_at=a.created_at
    )


async def _attachments(session: AsyncSession, application_id: uuid.UUID) -> list[Attachment]:
    query = (
        select(Attachment)
        .where(Attachment.application_id == application_id)
        .order_by(Attachment.created_at, Attachment.name)
    )
    return list((await session.scalars(query)).all())


async def add_attachment(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    raw: bytes,
    filename: str,
    declared_type: str | None,
    actor: Principal,
    key: DataKey,
    max_bytes: int,
    max_count: int,
) -> AttachmentOut:
    """Attach a file to a draft application while the call is open; checked before anything is written."""
    app = await _application(session, application_id, actor)
    forbid_unless(
        policy.owns_application(actor, app.organisation_id),
        "your role does not allow you to attach files to this application",
    )
    if app.state != ApplicationState.DRAFT.value:
        raise Conflict(f"the application is {app.state}; attach files to drafts only")
    _open(await _call(session, app.call_id, actor), "attach files")
    if not raw:
        raise InvalidInput("empty file", problems=[Problem("file", "is empty")])
    if len(raw) > max_bytes:
        raise TooLarge("the file is too large", problems=[Problem("file", f"at most {max_bytes} bytes")])
    count = await session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.application_id == app.id)
    )
    if int(count or 0) >= max_count:
        raise InvalidInput(
            "too many attachments", problems=[Problem("file", f"at most {max_count} files per application")]
        )
    name, media_type = files.check(raw, filename=filename, declared_type=declared_type)
    attachment_id = new_id()
    row = Attachment(
        id=attachment_id,
        application_id=app.id,
        uploaded_by_person_id=actor.person_id,
        name=name,
        media_type=media_type,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        content_sealed=key.seal(raw, aad=_attachment_aad(attachment_id, app.id)),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _attachment_out(row)


async def get_attachment(
    session: AsyncSession, *, attachment_id: uuid.UUID, actor: Principal, key: DataKey
) -> tuple[bytes, AttachmentOut]:
    """The file and its description, for those who may read the application (else "not found")."""
    row = await session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound("no such attachment")
    try:
        await _application(session, row.application_id, actor)
    except NotFound:
        raise NotFound("no such attachment") from None
    raw = key.open(row.content_sealed, aad=_attachment_aad(row.id, row.application_id))
    if hashlib.sha256(raw).hexdigest() != row.sha256:  # pragma: no cover - AES-GCM already authenticates
        raise Conflict("the stored attachment does not match its hash")
    return raw, _attachment_out(row)


async def delete_attachment(
    session: AsyncSession, *, application_id: uuid.UUID, attachment_id: uuid.UUID, actor: Principal
) -> None:
    """The applicant removes a file from a draft application."""
    row = await session.get(Attachment, attachment_id)
    if row is None or row.application_id != application_id:
        raise NotFound("no such attachment")
    try:
        app = await _application(session, row.application_id, actor)
    except NotFound:
        raise NotFound("no such attachment") from None
    forbid_unless(
        policy.owns_application(actor, app.organisation_id),
        "your role does not allow you to remove files from this application",
    )
    if app.state != ApplicationState.DRAFT.value:
        raise Conflict(f"the application is {app.state}; its files can no longer change")
    await session.delete(row)
    await session.flush()
