"""Tech Force hiring: pathways (published constants), postings by agencies, applications by people.

Invariants:

- an application's personal data (name, email, statement, experience, reasons) is returned only to
  the applicant and to hiring officers of the posting's agency; anyone else gets "not found";
- personal data never goes to the ledger or to logs; public metrics are counts and medians only;
- deleting an application removes its row (nothing is kept "soft-deleted");
- a résumé is sealed at rest under associated data naming its application and person: it opens for
  that row only;
- the pipeline moves one stage forward at a time, or ends as "not selected" with a reason.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import Principal
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, TooLarge
from forewarn.core.keys import DataKey
from forewarn.ledger import service as ledger
from forewarn.workforce import assessment, policy
from forewarn.workforce.models import Assessment, JobApplication, Posting
from forewarn.workforce.schemas import (
    FINAL,
    PATHWAYS,
    PIPELINE,
    AssessmentIn,
    AssessmentOut,
    AssessmentTaskOut,
    Clearance,
    JobApplicationIn,
    JobApplicationOut,
    PathwayMetrics,
    PostingIn,
    PostingOut,
    Route,
    Stage,
    StageIn,
)


async def _posting_out(session: AsyncSession, p: Posting) -> PostingOut:
    org = await accounts.get_organisation(session, organisation_id=p.agency_organisation_id, actor=None)
    return PostingOut(
        id=p.id,
        agency_organisation_id=p.agency_organisation_id,
        agency_name=org.name,
        pathway=p.pathway,
        title=p.title,
        location=p.location,
        clearance=Clearance(p.clearance),
        grade_low=p.grade_low,
        grade_high=p.grade_high,
        closes_at=p.closes_at,
        open=p.closes_at > utcnow(),
    )


async def create_posting(session: AsyncSession, *, data: PostingIn, actor: Principal) -> PostingOut:
    if not policy.is_hiring_officer(actor) or actor.organisation_id is None:
        raise Forbidden("only an agency's hiring officers post jobs")
    if data.closes_at <= utcnow():
        raise InvalidInput("the closing date is past", problems=[Problem("closes_at", "is in the past")])
    posting = Posting(
        agency_organisation_id=actor.organisation_id,
        pathway=data.pathway,
        title=data.title,
        location=data.location,
        clearance=data.clearance.value,
        grade_low=data.grade_low,
        grade_high=data.grade_high,
        closes_at=data.closes_at,
    )
    session.add(posting)
    await session.flush()
    await ledger.append(
        session,
        type="workforce.posting_opened",
        actor_organisation_id=actor.organisation_id,
        subjects=[("job_posting", posting.id)],
        reason=f"Tech Force posting on the {data.pathway} pathway, closes {data.closes_at.date()}",
    )
    return await _posting_out(session, posting)


async def list_postings(session: AsyncSession, *, pathway: str | None = None) -> list[PostingOut]:
    query = select(Posting).order_by(Posting.closes_at)
    if pathway is not None:
        query = query.where(Posting.pathway == pathway)
    return [await _posting_out(session, p) for p in (await session.scalars(query)).all()]


async def get_posting(session: AsyncSession, *, posting_id: uuid.UUID) -> PostingOut:
    posting = await session.get(Posting, posting_id)
    if posting is None:
        raise NotFound("no such posting")
    return await _posting_out(session, posting)


async def _out(session: AsyncSession, a: JobApplication) -> JobApplicationOut:
    person = await accounts.get_person(session, person_id=a.person_id)
    posting = await session.get(Posting, a.posting_id)
    return JobApplicationOut(
        id=a.id,
        posting_id=a.posting_id,
        posting_title=posting.title if posting else "",
        person_id=a.person_id,
        name=person.name,
        email=person.email,
        route=Route(a.route),
        statement=a.statement,
        experience=a.experience,
        state=Stage(a.state),
        reason=a.reason,
        created_at=a.created_at,
        updated_at=a.updated_at,
        assessment=_assessment_out(shared) if (shared := await _shared(session, a)) else None,
        resume_name=a.resume_name,
    )


async def _shared(session: AsyncSession, a: JobApplication) -> Assessment | None:
    return await session.get(Assessment, a.assessment_id) if a.assessment_id else None


def _assessment_out(x: Assessment) -> AssessmentOut:
    return AssessmentOut(
        id=x.id, pathway=x.pathway, correct=x.correct, total=x.total, passed=x.passed, created_at=x.created_at
    )


def assessment_tasks(pathway: str) -> list[AssessmentTaskOut]:
    """The pathway's tasks, without their answers."""
    if pathway not in PATHWAYS:
        raise NotFound("no such pathway")
    return [
        AssessmentTaskOut(id=t.id, input=t.input, choices=list(t.choices), scorer=t.scorer)
        for t in assessment.tasks().get(pathway, [])
    ]


async def take_assessment(
    session: AsyncSession, *, pathway: str, data: AssessmentIn, actor: Principal
) -> AssessmentOut:
    """Score the candidate's answers and keep the result for them alone."""
    tasks = assessment_tasks(pathway)
    unknown = sorted(set(data.answers) - {t.id for t in tasks})
    if unknown:
        raise InvalidInput(
            "answers to tasks this assessment does not have",
            problems=[Problem(f"answers.{k[:40]}", "not a task of this pathway") for k in unknown],
        )
    correct, total = assessment.grade(pathway, data.answers)
    result = Assessment(
        person_id=actor.person_id,
        pathway=pathway,
        correct=correct,
        total=total,
        passed=total > 0 and correct / total >= assessment.PASS_MARK,
    )
    session.add(result)
    await session.flush()
    return _assessment_out(result)


async def my_assessments(session: AsyncSession, *, actor: Principal) -> list[AssessmentOut]:
    rows = (
        await session.scalars(
            select(Assessment)
            .where(Assessment.person_id == actor.person_id)
            .order_by(Assessment.created_at.desc())
        )
    ).all()
    return [_assessment_out(x) for x in rows]


async def apply(
    session: AsyncSession, *, posting_id: uuid.UUID, data: JobApplicationIn, actor: Principal
) -> JobApplicationOut:
    if not policy.can_apply(actor):
        raise Forbidden("sign in to apply")
    posting = await session.get(Posting, posting_id)
    if posting is None:
        raise NotFound("no such posting")
    if posting.closes_at <= utcnow():
        raise InvalidInput(
            "the posting is closed",
            problems=[Problem("closes_at", f"closed at {posting.closes_at.isoformat()}")],
        )
    if data.route not in PATHWAYS[posting.pathway].routes:
        raise InvalidInput(
            "this pathway does not take that route",
            problems=[
                Problem("route", f"one of {', '.join(r.value for r in PATHWAYS[posting.pathway].routes)}")
            ],
        )
    shared = None
    if data.share_assessment:
        shared = await session.scalar(
            select(Assessment)
            .where(Assessment.person_id == actor.person_id, Assessment.pathway == posting.pathway)
            .order_by(Assessment.created_at.desc())
            .limit(1)
        )
        if shared is None:
            raise InvalidInput(
                "no assessment to share",
                problems=[Problem("share_assessment", f"take the {posting.pathway} skills assessment first")],
            )
    if data.route is Route.SKILLS_ASSESSMENT and (shared is None or not shared.passed):
        raise InvalidInput(
            "this route needs a passed skills assessment, shared with the agency",
            problems=[Problem("route", "pass the pathway's skills assessment and share it")],
        )
    already = await session.scalar(
        select(JobApplication.id).where(
            JobApplication.posting_id == posting.id, JobApplication.person_id == actor.person_id
        )
    )
    if already is not None:
        raise Conflict("you have already applied to this posting")
    application = JobApplication(
        posting_id=posting.id,
        person_id=actor.person_id,
        route=data.route.value,
        statement=data.statement,
        experience=data.experience,
        state=Stage.APPLIED.value,
        assessment_id=shared.id if shared else None,
    )
    session.add(application)
    await session.flush()
    return await _out(session, application)


async def _application(session: AsyncSession, application_id: uuid.UUID, actor: Principal) -> JobApplication:
    a = await session.get(JobApplication, application_id)
    if a is None:
        raise NotFound("no such application")
    if a.person_id == actor.person_id:
        return a
    posting = await session.get(Posting, a.posting_id)
    if posting is not None and policy.runs_posting(actor, posting.agency_organisation_id):
        return a
    raise NotFound("no such application")


async def get_application(
    session: AsyncSession, *, application_id: uuid.UUID, actor: Principal
) -> JobApplicationOut:
    return await _out(session, await _application(session, application_id, actor))


async def my_applications(session: AsyncSession, *, actor: Principal) -> list[JobApplicationOut]:
    rows = (
        await session.scalars(select(JobApplication).where(JobApplication.person_id == actor.person_id))
    ).all()
    return [await _out(session, a) for a in rows]


async def posting_applications(
    session: AsyncSession, *, posting_id: uuid.UUID, actor: Principal
) -> list[JobApplicationOut]:
    posting = await session.get(Posting, posting_id)
    if posting is None or not policy.runs_posting(actor, posting.agency_organisation_id):
        raise NotFound("no such posting, or it is not yours")
    rows = (
        await session.scalars(
            select(JobApplication)
            .where(JobApplication.posting_id == posting.id)
            .order_by(JobApplication.created_at)
        )
    ).all()
    return [await _out(session, a) for a in rows]


async def move(
    session: AsyncSession, *, application_id: uuid.UUID, data: StageIn, actor: Principal
) -> JobApplicationOut:
    a = await _application(session, application_id, actor)
    posting = await session.get(Posting, a.posting_id)
    if posting is None or not policy.runs_posting(actor, posting.agency_organisation_id):
        raise NotFound("no such application")
    current = Stage(a.state)
    if current in FINAL:
        raise Conflict(f"the application is already {current.value}")
    if data.state is Stage.NOT_SELECTED:
        if not data.reason:
            raise InvalidInput(
                "say why", problems=[Problem("reason", "needed when a candidate is not selected")]
            )
    elif data.state not in PIPELINE or PIPELINE.index(data.state) != PIPELINE.index(current) + 1:
        nxt = PIPELINE[PIPELINE.index(current) + 1].value
        raise InvalidInput(
            "one stage at a time", problems=[Problem("state", f"next is {nxt} (or not_selected)")]
        )
    a.state = data.state.value
    a.reason = data.reason or a.reason
    if data.state is Stage.HIRED:
        a.hired_at = utcnow()
    await session.flush()
    return await _out(session, a)


async def delete_application(session: AsyncSession, *, application_id: uuid.UUID, actor: Principal) -> None:
    """The applicant's right to erasure: the row goes, with everything personal in it."""
    a = await _application(session, application_id, actor)
    if a.person_id != actor.person_id:
        raise NotFound("no such application")
    await session.execute(delete(JobApplication).where(JobApplication.id == a.id))


async def metrics(session: AsyncSession) -> list[PathwayMetrics]:
    """Public aggregates per pathway: postings, applicants, hires, median days to hire, routes."""
    counted = await session.execute(select(Posting.pathway, func.count()).group_by(Posting.pathway))
    postings: Counter[str] = Counter({pathway: int(n) for pathway, n in counted.all()})
    rows = (
        await session.execute(
            select(
                Posting.pathway, JobApplication.route, JobApplication.created_at, JobApplication.hired_at
            ).join(Posting, Posting.id == JobApplication.posting_id)
        )
    ).all()
    applicants: Counter[str] = Counter()
    routes: dict[str, Counter[str]] = defaultdict(Counter)
    days: dict[str, list[float]] = defaultdict(list)
    for pathway, route, created, hired in rows:
        applicants[pathway] += 1
        routes[pathway][route] += 1
        if hired is not None:
            days[pathway].append((hired - created).total_seconds() / 86400)
    return [
        PathwayMetrics(
            pathway=key,
            title=p.title,
            postings=postings.get(key, 0),
            applicants=applicants.get(key, 0),
            hired=len(days.get(key, [])),
            median_days_to_hire=round(statistics.median(days[key]), 1) if days.get(key) else None,
            routes=dict(routes.get(key, {})),
        )
        for key, p in PATHWAYS.items()
    ]


async def delete_my_data(session: AsyncSession, *, actor: Principal) -> int:
    """Erase every application and assessment of the caller; returns how many rows went."""
    gone = await session.execute(delete(JobApplication).where(JobApplication.person_id == actor.person_id))
    gone2 = await session.execute(delete(Assessment).where(Assessment.person_id == actor.person_id))
    return int(getattr(gone, "rowcount", 0) or 0) + int(getattr(gone2, "rowcount", 0) or 0)


#: Résumé types: what the bytes must start with (PDF) or be (UTF-8 text), by file extension.
RESUME_TYPES = {".pdf": "application/pdf", ".txt": "text/plain"}


def _resume_type(raw: bytes, filename: str) -> str:
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    wanted = RESUME_TYPES.get(suffix)
    if wanted is None:
        raise InvalidInput("wrong file type", problems=[Problem("resume", "only .pdf or .txt files")])
    if wanted == "application/pdf" and not raw.startswith(b"%PDF-"):
        raise InvalidInput("not a PDF", problems=[Problem("resume", "the file is not a PDF")])
    if wanted == "text/plain":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                "not text", problems=[Problem("resume", "the file is not UTF-8 text")]
            ) from None
        if "\x00" in text:
            raise InvalidInput("not text", problems=[Problem("resume", "the file is not plain text")])
    return wanted


def _resume_aad(a: JobApplication) -> bytes:
    return b"forewarn workforce resume v1\n" + a.id.bytes + a.person_id.bytes


async def attach_resume(
    session: AsyncSession,
    *,
    application_id: uuid.UUID,
    raw: bytes,
    filename: str,
    actor: Principal,
    max_bytes: int,
    key: DataKey,
) -> JobApplicationOut:
    """The applicant attaches (or replaces) their résumé; checked before anything is written."""
    a = await _application(session, application_id, actor)
    if a.person_id != actor.person_id:
        raise NotFound("no such application")
    if not raw:
        raise InvalidInput("empty file", problems=[Problem("resume", "is empty")])
    if len(raw) > max_bytes:
        raise TooLarge("the résumé is too large", problems=[Problem("resume", f"at most {max_bytes} bytes")])
    a.resume_type = _resume_type(raw, filename)
    a.resume_sealed = key.seal(raw, aad=_resume_aad(a))
    a.resume_name = filename.replace("/", "_").replace("\\", "_")[-200:]
    await session.flush()
    return await _out(session, a)


async def get_resume(
    session: AsyncSession, *, application_id: uuid.UUID, actor: Principal, key: DataKey
) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) for the applicant or the posting agency's hiring officers."""
    a = await _application(session, application_id, actor)
    if a.resume_sealed is None or a.resume_type is None:
        raise NotFound("no résumé on this application")
    return key.open(a.resume_sealed, aad=_resume_aad(a)), a.resume_type, a.resume_name or "resume"
