"""The clearinghouse's advisory side: intake, triage, coordinated disclosure, publication.

The workflow follows CERT/CC's VINCE: a **report** comes in (any format, or a plain-language
form) → an analyst triages it → it becomes a vulnerability of a **case** (validated), or is
rejected, or is a duplicate of a case's vulnerability (its aliases merged in) → the analyst adds
**vendors**, each gets a notice and states, per vulnerability, affected / not affected / under
investigation → under an **embargo** with a target publication date (default 45 days, 7 when the
flaw is known exploited) → **publication**: TLP:CLEAR, a CSAF 2.0 document in the provider
directory, one OSV record per vulnerability, a transparency-log entry → **revisions** keep the
history and say what changed.

Invariants:

- every read and every action is decided by :mod:`.policy` (TLP 2.0, roles, vendor membership);
  a case or report the caller may not read is "not found", never "forbidden" (no existence leak);
- every document is validated completely before anything is written; a refused one leaves
  nothing behind (the caller's transaction rolls back);
- every state change writes an audit event; governance decisions (validated, rejected, embargo
  set, published, revised) are appended to the transparency log with ids, public reasons and
  hashes only: never advisory text, reporter identity or analyst notes before publication;
- vendor notices are work handed to a job in the same transaction (``advisories:notify``);
- every CSAF document stored passes CSAF 2.0 validation and every OSV record the OSV schema
  (the codecs refuse to produce anything else).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import dedupe, exports, policy
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.clearinghouse.advisories.intake import Limits, Parsed, advisory_from_form, parse_document
from forewarn.clearinghouse.advisories.kev import KevCatalog
from forewarn.clearinghouse.advisories.models import (
    Case,
    CaseVendor,
    CsafDocument,
    Event,
    KevEntry,
    Notice,
    PublicAdvisory,
    Report,
    VendorStatus,
    Vulnerability,
)
from forewarn.clearinghouse.advisories.records import (
    OPEN_REPORT_STATES,
    CaseDetail,
    CaseOut,
    CaseState,
    EventOut,
    HowBad,
    KevImportOut,
    NoticeOut,
    PublicAdvisoryOut,
    PublicationOut,
    PublicImportOut,
    ReportDetail,
    ReportForm,
    ReportOut,
    ReportState,
    SourceFormat,
    Suggestion,
    VendorOut,
    VendorStatusOut,
    VendorStatusValue,
    VulnerabilityOut,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, forbid_unless
from forewarn.core.jobs import enqueue
from forewarn.ledger import service as ledger
from forewarn.ledger.schemas import EntryIn, SubjectRef

NOTIFY_TASK = "advisories:notify"
CASE_PREFIX = "FW"
_NUMBER_LOCK = int.from_bytes(
    hashlib.sha256(b"forewarn.clearinghouse.case_number").digest()[:8], "big", signed=True
)
#: Ids forewarn makes for reports it cannot name otherwise; they are not aliases anyone else uses.
_PRIVATE_ID_PREFIXES = ("x_FWR-", "x_SARIF-", "x_GARAK-")


@dataclass(frozen=True)
class Config:
    """What the service takes from settings (the entry point builds it: :func:`config_from`)."""

    base_url: str = "http://127.0.0.1:8000"
    publisher_name: str = "AI Cybersecurity Clearinghouse (Department of the Treasury)"
    publisher_namespace: str | None = None
    embargo_days: int = 45
    exploited_days: int = 7
    limits: Limits = field(default_factory=Limits)

    @property
    def publisher(self) -> s.Publisher:
        return s.Publisher(
            category=s.PublisherCategory.COORDINATOR,
            name=self.publisher_name,
            namespace=self.publisher_namespace or self.base_url.rstrip("/"),
        )


def config_from(settings: Any) -> Config:
    return Config(
        base_url=settings.public_base_url,
        publisher_name=settings.advisory_publisher_name,
        publisher_namespace=settings.advisory_publisher_namespace,
        embargo_days=settings.advisory_embargo_days,
        exploited_days=settings.advisory_embargo_exploited_days,
        limits=Limits(
            max_bytes=settings.advisory_max_document_bytes,
            max_advisories=settings.advisory_max_per_document,
            max_lines=settings.advisory_max_jsonl_lines,
        ),
    )


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _dump(advisory: s.Advisory) -> dict[str, Any]:
    return advisory.model_dump(mode="json", exclude_none=True)


def _load(data: dict[str, Any]) -> s.Advisory:
    return s.Advisory.model_validate(data)


def _digest(data: Any) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _public_ids(ids: Iterable[str]) -> list[str]:
    return [i for i in ids if not i.startswith(_PRIVATE_ID_PREFIXES) and "#" not in i]


def _title(advisory: s.Advisory) -> str:
    text_ = advisory.summary or (advisory.details or "").strip().split("\n", 1)[0] or advisory.id
    return text_[:300]


def _severity(advisory: s.Advisory) -> tuple[float | None, str | None]:
    scored = [sev for sev in advisory.severities if sev.base_score is not None]
    scored += [sev for a in advisory.affected for sev in a.severities if sev.base_score is not None]
    if scored:
        best = max(scored, key=lambda sev: sev.base_score or 0.0)
        return best.base_score, best.rating.value if best.rating else None
    rated = [sev.rating for sev in advisory.severities if sev.rating is not None]
    return None, (max(rated, key=list(s.Rating).index).value if rated else None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forewarn")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0"


async def _event(
    session: AsyncSession,
    action: str,
    actor: Principal | None,
    *,
    report_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    **detail: Any,
) -> None:
    session.add(
        Event(
            at=utcnow(),
            report_id=report_id,
            case_id=case_id,
            actor_person_id=actor.person_id if actor else None,
            actor_organisation_id=actor.organisation_id if actor else None,
            action=action,
            detail=json.loads(json.dumps(detail, default=str)),
        )
    )


async def _org_name(session: AsyncSession, organisation_id: uuid.UUID, cache: dict[uuid.UUID, str]) -> str:
    if organisation_id not in cache:
        try:
            cache[organisation_id] = (
                await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)
            ).name
        except NotFound:
            cache[organisation_id] = "(removed organisation)"
    return cache[organisation_id]


async def _known_exploited(session: AsyncSession, ids: Sequence[str]) -> bool:
    cves = [i for i in ids if i.startswith("CVE-")]
    if not cves:
        return False
    found = await session.scalar(select(func.count()).select_from(KevEntry).where(KevEntry.cve_id.in_(cves)))
    return bool(found)


# --------------------------------------------------------------------------------------------------
# Intake
# --------------------------------------------------------------------------------------------------


def _report_out(report: Report, case_number: str | None = None) -> ReportOut:
    return ReportOut(
        id=report.id,
        state=ReportState(report.state),
        title=report.title,
        advisory_id=report.advisory_id,
        tlp=s.Tlp(report.tlp),
        source_format=SourceFormat(report.source_format),
        source_name=report.source_name,
        document_sha256=report.document_sha256,
        reporter_organisation_id=report.reporter_organisation_id,
        assignee_person_id=report.assignee_person_id,
        case_id=report.case_id,
        case_number=case_number,
        created_at=report.created_at,
        updated_at=report.updated_at,
    )


async def submit_advisories(
    session: AsyncSession,
    *,
    advisories: Sequence[s.Advisory],
    source_format: SourceFormat,
    document_sha256: str,
    tlp: s.Tlp,
    actor: Principal | None,
    source_name: str | None = None,
    form: dict[str, Any] | None = None,
) -> list[ReportOut]:
    """Store validated advisories as reports (one each). ``actor=None`` is the system (CLI import).

    Other domains use this too: a review finding that affects critical infrastructure becomes a
    report with ``source_format=finding`` (DESIGN §3).
    """
    if actor is not None:
        forbid_unless(policy.can_report(actor), "you may not file reports")
    if not advisories:
        raise InvalidInput("nothing to report", problems=[Problem("", "the document holds no vulnerability")])
    clash = await session.scalar(select(Report.id).where(Report.document_sha256 == document_sha256).limit(1))
    if clash is not None:
        raise Conflict(
            "this document was already reported",
            problems=[Problem("", f"the same document (sha256 {document_sha256[:12]}…) is report {clash}")],
        )
    now = utcnow()
    out = []
    for index, advisory in enumerate(advisories):
        report = Report(
            reporter_organisation_id=actor.organisation_id if actor else None,
            reporter_person_id=actor.person_id if actor else None,
            tlp=(advisory.tlp or tlp).value if source_format is not SourceFormat.FORM else tlp.value,
            source_format=source_format.value,
            source_name=(source_name or "")[:255] or None,
            document_sha256=document_sha256,
            document_index=index,
            advisory_id=advisory.id,
            title=_title(advisory),
            advisory=_dump(advisory),
            ids=list(advisory.all_ids()),
            packages=dedupe.package_keys(advisory),
            form=form,
            state=ReportState.RECEIVED.value,
            created_at=now,
            updated_at=now,
        )
        # The reporter's label wins only when it is stricter than what the document says.
        report.tlp = (s.most_restrictive_tlp([s.Tlp(report.tlp), tlp]) or tlp).value
        session.add(report)
        await session.flush()
        await _event(session, "received", actor, report_id=report.id, format=source_format.value)
        out.append(_report_out(report))
    return out


async def submit_document(
    session: AsyncSession,
    *,
    raw: bytes,
    filename: str | None,
    tlp: s.Tlp,
    actor: Principal | None,
    declared: SourceFormat | None = None,
    config: Config | None = None,
) -> list[ReportOut]:
    """Parse, validate and store one document (OSV, CSAF, CVE 5, SARIF, garak) as reports."""
    config = config or Config()
    if actor is not None:
        forbid_unless(policy.can_report(actor), "you may not file reports")
    parsed = parse_document(raw, filename=filename, declared=declared, limits=config.limits)
    return await submit_parsed(session, parsed=parsed, filename=filename, tlp=tlp, actor=actor)


async def submit_parsed(
    session: AsyncSession, *, parsed: Parsed, filename: str | None, tlp: s.Tlp, actor: Principal | None
) -> list[ReportOut]:
    return await submit_advisories(
        session,
        advisories=parsed.advisories,
        source_format=parsed.format,
        document_sha256=parsed.sha256,
        tlp=tlp,
        actor=actor,
        source_name=filename,
    )


async def submit_form(session: AsyncSession, *, data: ReportForm, actor: Principal) -> ReportOut:
    """Store a plain-language report."""
    forbid_unless(policy.can_report(actor), "you may not file reports")
    token = uuid.uuid4().hex[:16]
    advisory = advisory_from_form(data, received=utcnow(), token=token)
    extras = {
        "how_bad": data.how_bad.value,
        "reported_rating": data.how_bad.rating.value,
        "exploited": data.how_bad is HowBad.EXPLOITED,
        "who_knows": data.who_knows,
        "vendor": data.vendor,
        "versions": data.versions,
    }
    sha = hashlib.sha256(data.model_dump_json().encode() + token.encode()).hexdigest()
    (report,) = await submit_advisories(
        session,
        advisories=[advisory],
        source_format=SourceFormat.FORM,
        document_sha256=sha,
        tlp=data.tlp,
        actor=actor,
        source_name="web form",
        form={k: v for k, v in extras.items() if v is not None},
    )
    return report


# --------------------------------------------------------------------------------------------------
# Reports: reading and triage
# --------------------------------------------------------------------------------------------------


async def _report(session: AsyncSession, report_id: uuid.UUID, actor: Principal) -> Report:
    report = await session.get(Report, report_id)
    if report is None or not policy.can_read_report(
        actor, policy.ReportAccess(report.tlp, report.reporter_organisation_id)
    ):
        raise NotFound("no such report")
    return report


async def _case_numbers(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Case.id, Case.number).where(Case.id.in_(wanted)))
    return dict(rows.all())


async def list_reports(
    session: AsyncSession, *, actor: Principal, states: Sequence[ReportState] | None = None, limit: int = 500
) -> list[ReportOut]:
    """Analysts: every report (the queue); anyone else: their organisation's reports."""
    query = select(Report).order_by(Report.created_at.desc()).limit(limit)
    if states:
        query = query.where(Report.state.in_([st.value for st in states]))
    if not policy.is_analyst(actor):
        if actor.organisation_id is None:
            return []
        query = query.where(Report.reporter_organisation_id == actor.organisation_id)
    reports = list(await session.scalars(query))
    numbers = await _case_numbers(session, (r.case_id for r in reports))
    return [_report_out(r, numbers.get(r.case_id) if r.case_id else None) for r in reports]


async def _events(
    session: AsyncSession, *, report_id: uuid.UUID | None = None, case_id: uuid.UUID | None = None
) -> list[EventOut]:
    query = select(Event).order_by(Event.at, Event.id)
    query = query.where(Event.report_id == report_id) if report_id else query.where(Event.case_id == case_id)
    return [
        EventOut(
            at=e.at,
            action=e.action,
            actor_person_id=e.actor_person_id,
            actor_organisation_id=e.actor_organisation_id,
            detail=e.detail,
        )
        for e in await session.scalars(query)
    ]


async def get_report(session: AsyncSession, *, report_id: uuid.UUID, actor: Principal) -> ReportDetail:
    report = await _report(session, report_id, actor)
    analyst = policy.is_analyst(actor)
    numbers = await _case_numbers(session, [report.case_id])
    base = _report_out(report, numbers.get(report.case_id) if report.case_id else None)
    return ReportDetail(
        **base.model_dump(),
        advisory=report.advisory,
        form=report.form,
        reproduction=report.reproduction if analyst else None,
        decision_reason=report.decision_reason,
        events=await _events(session, report_id=report.id) if analyst else [],
    )


async def assign(
    session: AsyncSession, *, report_id: uuid.UUID, actor: Principal, person_id: uuid.UUID | None = None
) -> ReportOut:
    forbid_unless(policy.is_analyst(actor), "you may not triage reports")
    report = await _report(session, report_id, actor)
    if report.state not in OPEN_REPORT_STATES:
        raise Conflict(f"the report is {report.state}; only open reports are assigned")
    assignee = person_id or actor.person_id
    if person_id is not None and person_id != actor.person_id:
        if actor.organisation_id is None:
            raise Forbidden("act for your agency to assign reports")
        people = await accounts.list_people(session, organisation_id=actor.organisation_id, actor=None)
        if not any(
            p.id == person_id and any(m.role.value == "clearinghouse_analyst" for m in p.memberships)
            for p in people
        ):
            raise InvalidInput(
                "not an analyst of your agency", problems=[Problem("person_id", "not an analyst")]
            )
    report.assignee_person_id = assignee
    report.state = ReportState.TRIAGE.value
    await session.flush()
    await _event(session, "assigned", actor, report_id=report.id, assignee=str(assignee))
    return _report_out(report)


async def add_reproduction(
    session: AsyncSession, *, report_id: uuid.UUID, notes: str, actor: Principal
) -> ReportOut:
    """Reproduction notes (analysts only; they may describe how to exploit the flaw)."""
    forbid_unless(policy.is_analyst(actor), "you may not triage reports")
    report = await _report(session, report_id, actor)
    stamp = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    entry = f"[{stamp}, {actor.name}] {notes.strip()}"
    report.reproduction = f"{report.reproduction}\n\n{entry}" if report.reproduction else entry
    if report.state == ReportState.RECEIVED.value:
        report.state = ReportState.TRIAGE.value
    await session.flush()
    await _event(session, "reproduction_noted", actor, report_id=report.id)
    return _report_out(report)


async def _next_number(session: AsyncSession) -> str:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _NUMBER_LOCK})
    year = utcnow().year
    prefix = f"{CASE_PREFIX}-{year}-"
    count = await session.scalar(select(func.count()).select_from(Case).where(Case.number.like(prefix + "%")))
    return f"{prefix}{int(count or 0) + 1:04d}"


def _case_advisory(source: s.Advisory, vuln_id: str, tlp: s.Tlp, *, keep: Iterable[str] = ()) -> s.Advisory:
    """The case's own advisory for a vulnerability: forewarn's id, every public id as an alias."""
    aliases = _public_ids([*keep, *source.all_ids()])
    data = source.model_dump()
    data.update(id=vuln_id, aliases=[a for a in dict.fromkeys(aliases) if a != vuln_id], tlp=tlp)
    data.update(modified=utcnow(), published=None, withdrawn=None)
    return s.Advisory.model_validate(data)


async def _access(session: AsyncSession, case: Case) -> policy.CaseAccess:
    vendors = await session.scalars(select(CaseVendor.organisation_id).where(CaseVendor.case_id == case.id))
    return policy.CaseAccess(
        tlp=case.tlp,
        state=case.state,
        reporter_organisation_id=case.reporter_organisation_id,
        vendor_organisation_ids=frozenset(vendors),
    )


async def _case(
    session: AsyncSession, case_id: uuid.UUID, actor: Principal | None
) -> tuple[Case, policy.CaseAccess]:
    case = await session.get(Case, case_id)
    if case is None:
        raise NotFound("no such case")
    access = await _access(session, case)
    if not policy.can_read_case(actor, access):
        raise NotFound("no such case")
    return case, access


async def _vulnerabilities(session: AsyncSession, case_id: uuid.UUID) -> list[Vulnerability]:
    return list(
        await session.scalars(
            select(Vulnerability).where(Vulnerability.case_id == case_id).order_by(Vulnerability.ordinal)
        )
    )


def _store_advisory(vuln: Vulnerability, advisory: s.Advisory) -> None:
    vuln.advisory = _dump(advisory)
    vuln.ids = list(advisory.all_ids())
    vuln.packages = dedupe.package_keys(advisory)
    vuln.base_score, vuln.rating = _severity(advisory)


async def validate(
    session: AsyncSession,
    *,
    report_id: uuid.UUID,
    actor: Principal,
    case_id: uuid.UUID | None = None,
    tlp: s.Tlp | None = None,
    embargo_until: datetime | None = None,
    config: Config | None = None,
) -> CaseOut:
    """Validate a report: it becomes a vulnerability of a new case, or of the open case given."""
    config = config or Config()
    forbid_unless(policy.is_analyst(actor), "you may not validate reports")
    report = await _report(session, report_id, actor)
    if report.state not in OPEN_REPORT_STATES:
        raise Conflict(f"the report is already {report.state}")
    now = utcnow()
    source = _load(report.advisory)
    exploited = await _known_exploited(session, source.all_ids()) or bool(
        (report.form or {}).get("exploited")
    )
    if case_id is not None:
        case, _ = await _case(session, case_id, actor)
        if case.state != CaseState.OPEN.value:
            raise Conflict(f"case {case.number} is {case.state}; add vulnerabilities to open cases only")
        if tlp is not None and tlp.value != case.tlp:
            raise InvalidInput("the case has its own TLP", problems=[Problem("tlp", "change it on the case")])
        ordinal = (
            int(
                await session.scalar(
                    select(func.max(Vulnerability.ordinal)).where(Vulnerability.case_id == case.id)
                )
                or 0
            )
            + 1
        )
        new_case = False
    else:
        label = tlp or s.Tlp(report.tlp)
        case = Case(
            number=await _next_number(session),
            title=report.title,
            tlp=label.value,
            state=CaseState.OPEN.value,
            analyst_person_id=actor.person_id,
            reporter_organisation_id=report.reporter_organisation_id,
            revision=0,
            revision_history=[],
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        await session.flush()
        ordinal = 1
        new_case = True
    vuln_id = f"x_{case.number}-{ordinal}"
    advisory = _case_advisory(source, vuln_id, s.Tlp(case.tlp))
    vuln = Vulnerability(case_id=case.id, ordinal=ordinal, advisory_id=vuln_id, known_exploited=exploited)
    _store_advisory(vuln, advisory)
    vuln.known_exploited = exploited or await _known_exploited(session, advisory.all_ids())
    session.add(vuln)
    report.state = ReportState.VALIDATED.value
    report.case_id = case.id
    report.assignee_person_id = report.assignee_person_id or actor.person_id
    days = config.exploited_days if vuln.known_exploited else config.embargo_days
    target = embargo_until or (now + timedelta(days=days))
    if new_case:
        case.embargo_until = target
    elif (
        vuln.known_exploited
        and case.embargo_until
        and case.embargo_until > now + timedelta(days=config.exploited_days)
    ):
        case.embargo_until = now + timedelta(days=config.exploited_days)
        await _event(
            session,
            "embargo_shortened",
            actor,
            case_id=case.id,
            until=case.embargo_until,
            why="known exploited",
        )
    await session.flush()
    await _event(session, "validated", actor, report_id=report.id, case=case.number, ordinal=ordinal)
    await _event(
        session,
        "case_opened" if new_case else "vulnerability_added",
        actor,
        case_id=case.id,
        report=str(report.id),
        ordinal=ordinal,
    )
    entries = [
        EntryIn(
            type="clearinghouse.report_validated",
            actor_organisation_id=actor.organisation_id,
            subjects=[SubjectRef(type="report", id=str(report.id)), SubjectRef(type="case", id=case.number)],
            reason="a vulnerability report was validated and opened for coordinated disclosure",
            sealed_hashes={"advisory": _digest(report.advisory)},
        )
    ]
    if new_case:
        entries.append(
            _embargo_entry(
                case, actor, "default embargo" + (" (known exploited)" if vuln.known_exploited else "")
            )
        )
    await ledger.append_many(session, entries)
    return await _case_out(session, case)


def _embargo_entry(case: Case, actor: Principal | None, why: str) -> EntryIn:
    until = case.embargo_until.date().isoformat() if case.embargo_until else "none"
    return EntryIn(
        type="clearinghouse.embargo_set",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=[SubjectRef(type="case", id=case.number)],
        reason=f"target publication date {until}: {why}"[:400],
    )


async def reject(session: AsyncSession, *, report_id: uuid.UUID, reason: str, actor: Principal) -> ReportOut:
    forbid_unless(policy.is_analyst(actor), "you may not reject reports")
    report = await _report(session, report_id, actor)
    if report.state not in OPEN_REPORT_STATES:
        raise Conflict(f"the report is already {report.state}")
    report.state = ReportState.REJECTED.value
    report.decision_reason = reason.strip()
    report.assignee_person_id = report.assignee_person_id or actor.person_id
    await session.flush()
    await _event(session, "rejected", actor, report_id=report.id)
    await ledger.append(
        session,
        type="clearinghouse.report_rejected",
        actor_organisation_id=actor.organisation_id,
        subjects=[("report", report.id)],
        reason="a vulnerability report was rejected; the reporter was told why",
        sealed_hashes={"reason": _digest(report.decision_reason)},
    )
    return _report_out(report)


async def mark_duplicate(
    session: AsyncSession,
    *,
    report_id: uuid.UUID,
    case_id: uuid.UUID,
    actor: Principal,
    ordinal: int | None = None,
) -> ReportOut:
    """The report describes a vulnerability a case already has: merge its ids into that one."""
    forbid_unless(policy.is_analyst(actor), "you may not triage reports")
    report = await _report(session, report_id, actor)
    if report.state not in OPEN_REPORT_STATES:
        raise Conflict(f"the report is already {report.state}")
    case, _ = await _case(session, case_id, actor)
    if case.state == CaseState.MERGED.value:
        raise Conflict(f"case {case.number} was merged into another case")
    vuln = await session.scalar(
        select(Vulnerability).where(Vulnerability.case_id == case.id, Vulnerability.ordinal == (ordinal or 1))
    )
    if vuln is None:
        raise NotFound(f"case {case.number} has no vulnerability {ordinal or 1}")
    merged = _merge_ids(_load(vuln.advisory), _load(report.advisory))
    _store_advisory(vuln, merged)
    report.state = ReportState.DUPLICATE.value
    report.case_id = case.id
    await session.flush()
    await _event(session, "duplicate", actor, report_id=report.id, case=case.number, ordinal=vuln.ordinal)
    await _event(
        session, "duplicate_merged", actor, case_id=case.id, report=str(report.id), ordinal=vuln.ordinal
    )
    return _report_out(report, case.number)


def _merge_ids(primary: s.Advisory, *others: s.Advisory) -> s.Advisory:
    merged = s.merge_aliases(primary, *others)
    return merged.model_copy(update={"aliases": tuple(_public_ids(merged.aliases))})


async def suggestions(session: AsyncSession, *, report_id: uuid.UUID, actor: Principal) -> list[Suggestion]:
    """Possible duplicates of a report: shared ids, or the same package with overlapping ranges."""
    forbid_unless(policy.is_analyst(actor), "you may not triage reports")
    report = await _report(session, report_id, actor)
    advisory = _load(report.advisory)
    ids = _public_ids(report.ids)
    out: list[Suggestion] = []
    seen: set[tuple[str, str]] = set()

    def add(
        kind: str, ref: str, reason: str, detail: str, title: str | None, case_id: uuid.UUID | None = None
    ) -> None:
        if (kind, ref) not in seen:
            seen.add((kind, ref))
            out.append(
                Suggestion(kind=kind, ref=ref, reason=reason, detail=detail, title=title, case_id=case_id)
            )

    numbers: dict[uuid.UUID, str] = {}
    if ids:
        for other in await session.scalars(
            select(Report).where(Report.id != report.id, Report.ids.overlap(ids)).limit(20)
        ):
            add(
                "report",
                str(other.id),
                "same alias",
                ", ".join(dedupe.shared_ids(ids, other.ids)),
                other.title,
            )
        for vuln in await session.scalars(
            select(Vulnerability).where(Vulnerability.ids.overlap(ids)).limit(20)
        ):
            numbers |= await _case_numbers(session, [vuln.case_id])
            add(
                "case",
                numbers[vuln.case_id],
                "same alias",
                ", ".join(dedupe.shared_ids(ids, vuln.ids)),
                _title(_load(vuln.advisory)),
                vuln.case_id,
            )
        for pub in await session.scalars(
            select(PublicAdvisory).where(PublicAdvisory.ids.overlap(ids)).limit(20)
        ):
            add("public", pub.id, "same alias", ", ".join(dedupe.shared_ids(ids, pub.ids)), pub.summary)
    if report.packages:
        for other in await session.scalars(
            select(Report).where(Report.id != report.id, Report.packages.overlap(report.packages)).limit(100)
        ):
            found = dedupe.overlapping_packages(advisory, _load(other.advisory))
            if found:
                add(
                    "report", str(other.id), "same package, overlapping ranges", ", ".join(found), other.title
                )
        for vuln in await session.scalars(
            select(Vulnerability).where(Vulnerability.packages.overlap(report.packages)).limit(100)
        ):
            found = dedupe.overlapping_packages(advisory, _load(vuln.advisory))
            if found:
                numbers |= await _case_numbers(session, [vuln.case_id])
                add(
                    "case",
                    numbers[vuln.case_id],
                    "same package, overlapping ranges",
                    ", ".join(found),
                    _title(_load(vuln.advisory)),
                    vuln.case_id,
                )
        from forewarn.clearinghouse.advisories.osv import from_osv

        for pub in await session.scalars(
            select(PublicAdvisory).where(PublicAdvisory.packages.overlap(report.packages)).limit(50)
        ):
            try:
                found = dedupe.overlapping_packages(advisory, from_osv(pub.osv))
            except InvalidAdvisory:
                continue
            if found:
                add("public", pub.id, "same package, overlapping ranges", ", ".join(found), pub.summary)
    return out


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------


async def _case_out(session: AsyncSession, case: Case) -> CaseOut:
    vulns = await _vulnerabilities(session, case.id)
    ratings = [v.rating for v in vulns if v.rating]
    order = [r.value for r in s.Rating]
    return CaseOut(
        id=case.id,
        number=case.number,
        title=case.title,
        tlp=s.Tlp(case.tlp),
        state=CaseState(case.state),
        analyst_person_id=case.analyst_person_id,
        embargo_until=case.embargo_until,
        published_at=case.published_at,
        revision=case.revision,
        known_exploited=any(v.known_exploited for v in vulns),
        max_rating=max(ratings, key=order.index) if ratings else None,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


async def list_cases(
    session: AsyncSession,
    *,
    actor: Principal | None,
    states: Sequence[CaseState] | None = None,
    limit: int = 500,
) -> list[CaseOut]:
    """The cases the caller may read (analysts: all)."""
    query = select(Case).order_by(Case.created_at.desc()).limit(limit)
    if states:
        query = query.where(Case.state.in_([st.value for st in states]))
    out = []
    for case in await session.scalars(query):
        if policy.can_read_case(actor, await _access(session, case)):
            out.append(await _case_out(session, case))
    return out


async def get_case(session: AsyncSession, *, case_id: uuid.UUID, actor: Principal | None) -> CaseDetail:
    case, access = await _case(session, case_id, actor)
    return await _case_detail(session, case, access, actor)


async def get_case_by_number(session: AsyncSession, *, number: str, actor: Principal | None) -> CaseDetail:
    case_id = await session.scalar(select(Case.id).where(Case.number == number))
    if case_id is None:
        raise NotFound("no such case")
    return await get_case(session, case_id=case_id, actor=actor)


async def _case_detail(
    session: AsyncSession, case: Case, access: policy.CaseAccess, actor: Principal | None
) -> CaseDetail:
    names: dict[uuid.UUID, str] = {}
    vendors = list(
        await session.scalars(
            select(CaseVendor).where(CaseVendor.case_id == case.id).order_by(CaseVendor.created_at)
        )
    )
    visible = policy.vendor_statuses_visible(actor, access, [v.organisation_id for v in vendors])
    analyst = policy.is_analyst(actor)
    notified = set(
        await session.scalars(
            select(Notice.organisation_id).where(Notice.case_id == case.id, Notice.kind == "case_opened")
        )
    )
    vulns_out = []
    for vuln in await _vulnerabilities(session, case.id):
        statuses = []
        for st in await session.scalars(select(VendorStatus).where(VendorStatus.vulnerability_id == vuln.id)):
            if st.organisation_id in visible:
                statuses.append(
                    VendorStatusOut(
                        organisation_id=st.organisation_id,
                        organisation_name=await _org_name(session, st.organisation_id, names),
                        status=VendorStatusValue(st.status),
                        statement=st.statement,
                        updated_at=st.updated_at,
                    )
                )
        advisory = _load(vuln.advisory)
        vulns_out.append(
            VulnerabilityOut(
                ordinal=vuln.ordinal,
                advisory_id=vuln.advisory_id,
                aliases=list(advisory.aliases),
                title=advisory.summary,
                base_score=vuln.base_score,
                rating=vuln.rating,
                known_exploited=vuln.known_exploited,
                advisory=vuln.advisory,
                statuses=sorted(statuses, key=lambda x: x.organisation_name),
            )
        )
    shown_vendors = [
        v
        for v in vendors
        if analyst or case.state == CaseState.PUBLISHED.value or v.organisation_id in visible
    ]
    merged_into = None
    if case.merged_into_id:
        merged_into = (await _case_numbers(session, [case.merged_into_id])).get(case.merged_into_id)
    report_ids = (
        list(await session.scalars(select(Report.id).where(Report.case_id == case.id))) if analyst else []
    )
    return CaseDetail(
        **(await _case_out(session, case)).model_dump(),
        vulnerabilities=vulns_out,
        vendors=[
            VendorOut(
                organisation_id=v.organisation_id,
                organisation_name=await _org_name(session, v.organisation_id, names),
                added_at=v.created_at,
                notified=v.organisation_id in notified,
            )
            for v in shown_vendors
        ],
        revision_history=case.revision_history or [],
        merged_into=merged_into,
        events=await _events(session, case_id=case.id) if analyst else [],
        report_ids=report_ids,
    )


async def _vulnerability(session: AsyncSession, case: Case, ordinal: int) -> Vulnerability:
    vuln = await session.scalar(
        select(Vulnerability).where(Vulnerability.case_id == case.id, Vulnerability.ordinal == ordinal)
    )
    if vuln is None:
        raise NotFound(f"case {case.number} has no vulnerability {ordinal}")
    return vuln


def _editable(case: Case) -> None:
    if case.state == CaseState.MERGED.value:
        raise Conflict(f"case {case.number} was merged into another case")


async def score(
    session: AsyncSession, *, case_id: uuid.UUID, ordinal: int, vector: str, actor: Principal
) -> VulnerabilityOut:
    """Set a vulnerability's CVSS 3.1 or 4.0 base vector (scored with the ``cvss`` library)."""
    forbid_unless(policy.is_analyst(actor), "you may not score vulnerabilities")
    case, _ = await _case(session, case_id, actor)
    _editable(case)
    vuln = await _vulnerability(session, case, ordinal)
    vector = vector.strip()
    if vector.startswith("CVSS:3."):
        kind = s.SeverityType.CVSS_V3
    elif vector.startswith("CVSS:4.0/"):
        kind = s.SeverityType.CVSS_V4
    else:
        raise InvalidInput(
            "not a CVSS vector", problems=[Problem("vector", "starts with CVSS:3.1/ or CVSS:4.0/")]
        )
    advisory = _load(vuln.advisory)
    try:
        severity = s.Severity(type=kind, score=vector)
        kept = tuple(x for x in advisory.severities if x.type is not kind)
        advisory = s.Advisory.model_validate({**advisory.model_dump(), "severities": (*kept, severity)})
    except ValidationError as exc:
        problems = [
            Problem("vector", str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors(include_url=False)
        ]
        raise InvalidInput("the vector cannot be used", problems=problems) from None
    _store_advisory(vuln, advisory)
    await session.flush()
    await _event(
        session, "scored", actor, case_id=case.id, ordinal=ordinal, vector=vector, base_score=vuln.base_score
    )
    return (await get_case(session, case_id=case.id, actor=actor)).vulnerabilities[ordinal - 1]


async def update_vulnerability(
    session: AsyncSession, *, case_id: uuid.UUID, ordinal: int, advisory: s.Advisory, actor: Principal
) -> VulnerabilityOut:
    """Replace what a vulnerability says (from an OSV record); its id stays, every alias is kept."""
    forbid_unless(policy.is_analyst(actor), "you may not edit vulnerabilities")
    case, _ = await _case(session, case_id, actor)
    _editable(case)
    vuln = await _vulnerability(session, case, ordinal)
    old = _load(vuln.advisory)
    new = _case_advisory(advisory, vuln.advisory_id, s.Tlp(case.tlp), keep=old.aliases)
    _store_advisory(vuln, new.model_copy(update={"published": old.published}))
    vuln.known_exploited = vuln.known_exploited or await _known_exploited(session, new.all_ids())
    await session.flush()
    await _event(session, "vulnerability_edited", actor, case_id=case.id, ordinal=ordinal)
    return (await get_case(session, case_id=case.id, actor=actor)).vulnerabilities[ordinal - 1]


async def add_vendor(
    session: AsyncSession, *, case_id: uuid.UUID, organisation_id: uuid.UUID, actor: Principal
) -> VendorOut:
    """Ask a vendor to coordinate: it can read the case (per TLP) and gets a notice (a job)."""
    case, access = await _case(session, case_id, actor)
    if policy.is_analyst(actor) and s.Tlp(case.tlp) is s.Tlp.RED and case.state == CaseState.OPEN.value:
        raise Conflict(
            "a TLP:RED case has no recipients but the reporter",
            problems=[Problem("tlp", "lower the case to TLP:AMBER+STRICT or AMBER first")],
        )
    forbid_unless(policy.can_add_vendor(actor, access), "you may not add vendors to this case")
    org = await accounts.get_organisation(session, organisation_id=organisation_id, actor=None)
    if org.kind not in policy.VENDOR_KINDS:
        raise InvalidInput(
            "not a vendor",
            problems=[Problem("organisation_id", f"a {org.kind.value} organisation cannot be a vendor")],
        )
    if organisation_id in access.vendor_organisation_ids:
        raise Conflict(f"{org.name} is already a vendor on {case.number}")
    row = CaseVendor(
        case_id=case.id,
        organisation_id=organisation_id,
        added_by_person_id=actor.person_id,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await _event(session, "vendor_added", actor, case_id=case.id, organisation_id=str(organisation_id))
    await enqueue(
        session,
        NOTIFY_TASK,
        case_id=str(case.id),
        organisation_id=str(organisation_id),
        kind="case_opened",
        revision=0,
    )
    return VendorOut(
        organisation_id=org.id, organisation_name=org.name, added_at=row.created_at, notified=False
    )


async def set_vendor_status(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    ordinal: int,
    status: VendorStatusValue,
    actor: Principal,
    statement: str | None = None,
    organisation_id: uuid.UUID | None = None,
) -> VendorStatusOut:
    """A vendor states whether one vulnerability affects its products (analysts may record it for them)."""
    case, access = await _case(session, case_id, actor)
    _editable(case)
    if organisation_id is not None and organisation_id != actor.organisation_id:
        forbid_unless(policy.is_analyst(actor), "you may not state another organisation's status")
        if organisation_id not in access.vendor_organisation_ids:
            raise InvalidInput(
                "not a vendor on this case", problems=[Problem("organisation_id", "add the vendor first")]
            )
        org_id = organisation_id
    else:
        forbid_unless(
            policy.can_state_vendor_status(actor, access), "you may not state a vendor status on this case"
        )
        if actor.organisation_id is None:  # can_state_vendor_status refuses this already
            raise Forbidden("act for an organisation first")
        org_id = actor.organisation_id
    vuln = await _vulnerability(session, case, ordinal)
    now = utcnow()
    await session.execute(
        pg_insert(VendorStatus)
        .values(
            vulnerability_id=vuln.id,
            organisation_id=org_id,
            status=status.value,
            statement=(statement or "").strip() or None,
            updated_by_person_id=actor.person_id,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[VendorStatus.vulnerability_id, VendorStatus.organisation_id],
            set_={
                "status": status.value,
                "statement": (statement or "").strip() or None,
                "updated_by_person_id": actor.person_id,
                "updated_at": now,
            },
        )
    )
    await _event(
        session,
        "vendor_status",
        actor,
        case_id=case.id,
        ordinal=ordinal,
        organisation_id=str(org_id),
        status=status.value,
    )
    names: dict[uuid.UUID, str] = {}
    return VendorStatusOut(
        organisation_id=org_id,
        organisation_name=await _org_name(session, org_id, names),
        status=status,
        statement=(statement or "").strip() or None,
        updated_at=now,
    )


async def set_embargo(
    session: AsyncSession, *, case_id: uuid.UUID, until: datetime, actor: Principal, reason: str | None = None
) -> CaseOut:
    forbid_unless(policy.is_analyst(actor), "you may not set embargoes")
    case, _ = await _case(session, case_id, actor)
    if case.state != CaseState.OPEN.value:
        raise Conflict(f"case {case.number} is {case.state}; only open cases have an embargo")
    if until <= utcnow():
        raise InvalidInput(
            "the embargo must end in the future", problems=[Problem("until", "is in the past")]
        )
    case.embargo_until = until
    await session.flush()
    await _event(session, "embargo_set", actor, case_id=case.id, until=until, reason=reason)
    await ledger.append_many(session, [_embargo_entry(case, actor, "set by an analyst")])
    return await _case_out(session, case)


async def set_tlp(session: AsyncSession, *, case_id: uuid.UUID, tlp: s.Tlp, actor: Principal) -> CaseOut:
    forbid_unless(policy.is_analyst(actor), "you may not change a case's TLP")
    case, access = await _case(session, case_id, actor)
    if case.state != CaseState.OPEN.value:
        raise Conflict(f"case {case.number} is {case.state}; a published case is TLP:CLEAR")
    if tlp is s.Tlp.RED and access.vendor_organisation_ids:
        raise Conflict("a TLP:RED case has no vendors", problems=[Problem("tlp", "the case has vendors")])
    before = case.tlp
    case.tlp = tlp.value
    for vuln in await _vulnerabilities(session, case.id):
        _store_advisory(vuln, _load(vuln.advisory).model_copy(update={"tlp": tlp}))
    await session.flush()
    await _event(session, "tlp_changed", actor, case_id=case.id, before=before, after=tlp.value)
    return await _case_out(session, case)


async def merge_cases(
    session: AsyncSession, *, case_id: uuid.UUID, into_case_id: uuid.UUID, actor: Principal
) -> CaseOut:
    """Merge a duplicate case into another: its vulnerabilities (every id kept as an alias), vendors
    and reports move; the merged case stays, pointing at the other."""
    forbid_unless(policy.is_analyst(actor), "you may not merge cases")
    if case_id == into_case_id:
        raise InvalidInput(
            "a case cannot be merged into itself", problems=[Problem("into_case_id", "same case")]
        )
    case, access = await _case(session, case_id, actor)
    into, into_access = await _case(session, into_case_id, actor)
    if case.state != CaseState.OPEN.value or into.state != CaseState.OPEN.value:
        raise Conflict("only open cases are merged")
    targets = await _vulnerabilities(session, into.id)
    next_ordinal = max((v.ordinal for v in targets), default=0) + 1
    for vuln in await _vulnerabilities(session, case.id):
        advisory = _load(vuln.advisory)
        same = next((t for t in targets if set(_public_ids(t.ids)) & set(_public_ids(vuln.ids))), None)
        if same is not None:
            _store_advisory(same, _merge_ids(_load(same.advisory), advisory))
            same.known_exploited = same.known_exploited or vuln.known_exploited
            # The duplicate's vendor statements go with it; the vendors state again on the kept one
            # (their notice says so), since a statement about one description may not hold for both.
            await session.delete(vuln)
            continue
        new_id = f"x_{into.number}-{next_ordinal}"
        moved = _case_advisory(advisory, new_id, s.Tlp(into.tlp), keep=[vuln.advisory_id])
        vuln.case_id, vuln.ordinal, vuln.advisory_id = into.id, next_ordinal, new_id
        _store_advisory(vuln, moved)
        next_ordinal += 1
    for vendor_id in access.vendor_organisation_ids - into_access.vendor_organisation_ids:
        session.add(
            CaseVendor(
                case_id=into.id,
                organisation_id=vendor_id,
                added_by_person_id=actor.person_id,
                created_at=utcnow(),
            )
        )
    await session.execute(update(Report).where(Report.case_id == case.id).values(case_id=into.id))
    case.state = CaseState.MERGED.value
    case.merged_into_id = into.id
    if case.embargo_until and into.embargo_until and case.embargo_until < into.embargo_until:
        into.embargo_until = case.embargo_until  # the earlier target wins: never delay a disclosure
    await session.flush()
    await _event(session, "merged_into", actor, case_id=case.id, into=into.number)
    await _event(session, "merged_from", actor, case_id=into.id, source=case.number)
    return await _case_out(session, into)


# --------------------------------------------------------------------------------------------------
# Notices (the job's work) and the vendor view
# --------------------------------------------------------------------------------------------------


_NOTICE_TEXT = {
    "case_opened": (
        "Coordination request: {number}",
        'The AI Cybersecurity Clearinghouse asks {org} to coordinate on case {number}, "{title}", '
        "marked TLP:{tlp}. Target publication date: {embargo}. Sign in to read the case and state, for "
        "each vulnerability, whether your products are affected, not affected, or under investigation.",
    ),
    "published": (
        "Published: {number}",
        'Case {number}, "{title}", is now public (TLP:CLEAR, revision {revision}). The advisory is at {url}.',
    ),
}


async def record_notice(
    session: AsyncSession,
    *,
    case_id: uuid.UUID,
    organisation_id: uuid.UUID,
    kind: str,
    revision: int = 0,
    base_url: str = "",
) -> bool:
    """Write one notice (idempotent: once per case, organisation, kind and revision). Run by the job."""
    case = await session.get(Case, case_id)
    if case is None or kind not in _NOTICE_TEXT:
        return False
    names: dict[uuid.UUID, str] = {}
    subject, body = _NOTICE_TEXT[kind]
    values = {
        "number": case.number,
        "title": case.title,
        "tlp": case.tlp,
        "org": await _org_name(session, organisation_id, names),
        "embargo": case.embargo_until.date().isoformat() if case.embargo_until else "to be decided",
        "revision": case.revision,
        "url": f"{base_url.rstrip('/')}/advisories/{case.number}",
    }
    result = await session.execute(
        pg_insert(Notice)
        .values(
            id=uuid.uuid4(),
            case_id=case.id,
            organisation_id=organisation_id,
            kind=kind,
            revision=revision,
            subject=subject.format(**values)[:300],
            body=body.format(**values),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(constraint="uq_ch_notices_once")
        .returning(Notice.id)
    )
    return result.first() is not None


async def list_notices(session: AsyncSession, *, actor: Principal) -> list[NoticeOut]:
    if actor.organisation_id is None:
        return []
    rows = await session.execute(
        select(Notice, Case.number)
        .join(Case, Case.id == Notice.case_id)
        .where(Notice.organisation_id == actor.organisation_id)
        .order_by(Notice.created_at.desc())
        .limit(200)
    )
    return [
        NoticeOut(
            id=n.id,
            case_id=n.case_id,
            case_number=number,
            kind=n.kind,
            revision=n.revision,
            subject=n.subject,
            body=n.body,
            created_at=n.created_at,
            delivered_at=n.delivered_at,
        )
        for n, number in rows.all()
    ]


async def vendor_cases(session: AsyncSession, *, actor: Principal) -> list[CaseDetail]:
    """The cases the caller's organisation is a vendor on, with its own statuses."""
    if actor.organisation_id is None:
        return []
    ids = await session.scalars(
        select(CaseVendor.case_id).where(CaseVendor.organisation_id == actor.organisation_id)
    )
    out = []
    for case_id in ids:
        case = await session.get(Case, case_id)
        if case is None or case.state == CaseState.MERGED.value:
            continue
        access = await _access(session, case)
        if policy.can_read_case(actor, access):
            out.append(await _case_detail(session, case, access, actor))
    return sorted(out, key=lambda c: (c.state != CaseState.OPEN, c.embargo_until or c.created_at))


async def embargo_calendar(session: AsyncSession, *, actor: Principal) -> list[CaseOut]:
    """Open cases by target publication date (analysts)."""
    forbid_unless(policy.is_analyst(actor), "you may not see the embargo calendar")
    cases = await session.scalars(
        select(Case).where(Case.state == CaseState.OPEN.value).order_by(Case.embargo_until.asc().nulls_last())
    )
    return [await _case_out(session, c) for c in cases]


# --------------------------------------------------------------------------------------------------
# Publication and revisions
# --------------------------------------------------------------------------------------------------


_INVOLVEMENT = {
    VendorStatusValue.AFFECTED: (s.InvolvementStatus.COMPLETED, "affected"),
    VendorStatusValue.NOT_AFFECTED: (s.InvolvementStatus.COMPLETED, "not affected"),
    VendorStatusValue.UNDER_INVESTIGATION: (s.InvolvementStatus.IN_PROGRESS, "under investigation"),
}


async def _public_advisory(
    session: AsyncSession, case: Case, vuln: Vulnerability, now: datetime
) -> s.Advisory:
    """The advisory as published: TLP:CLEAR, dated, with every vendor's statement as an involvement."""
    names: dict[uuid.UUID, str] = {}
    advisory = _load(vuln.advisory)
    statuses = {
        st.organisation_id: st
        for st in await session.scalars(select(VendorStatus).where(VendorStatus.vulnerability_id == vuln.id))
    }
    vendors = list(
        await session.scalars(
            select(CaseVendor).where(CaseVendor.case_id == case.id).order_by(CaseVendor.created_at)
        )
    )
    # Vendor and coordinator involvements are rebuilt from the case each time (not accumulated).
    ours = (s.InvolvementParty.VENDOR, s.InvolvementParty.COORDINATOR)
    involvements = [i for i in advisory.involvements if i.party not in ours]
    for vendor in vendors:
        name = await _org_name(session, vendor.organisation_id, names)
        st = statuses.get(vendor.organisation_id)
        if st is None:
            involvements.append(
                s.Involvement(
                    party=s.InvolvementParty.VENDOR,
                    status=s.InvolvementStatus.CONTACT_ATTEMPTED,
                    summary=f"{name}: no statement",
                )
            )
            continue
        status, label = _INVOLVEMENT[VendorStatusValue(st.status)]
        summary = f"{name}: {label}." + (f" {st.statement}" if st.statement else "")
        involvements.append(
            s.Involvement(party=s.InvolvementParty.VENDOR, status=status, date=st.updated_at, summary=summary)
        )
    involvements.append(
        s.Involvement(
            party=s.InvolvementParty.COORDINATOR,
            status=s.InvolvementStatus.COMPLETED,
            date=case.published_at or now,
            summary="Coordinated by the AI Cybersecurity Clearinghouse.",
        )
    )
    return advisory.model_copy(
        update={
            "tlp": s.Tlp.CLEAR,
            "published": advisory.published or now,
            "modified": now,
            "involvements": tuple(involvements),
        }
    )


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    if before is None:
        return ["added"]
    skip = {"modified", "published"}
    keys = (set(before) | set(after)) - skip
    return sorted(k for k in keys if before.get(k) != after.get(k))


async def _write_publication(
    session: AsyncSession, case: Case, advisories: list[s.Advisory], now: datetime, config: Config
) -> tuple[str, str]:
    from forewarn.clearinghouse.advisories.csaf import to_csaf
    from forewarn.clearinghouse.advisories.osv import to_osv

    initial = case.published_at or now
    path = exports.csaf_path(case.number, initial)
    base = config.base_url.rstrip("/")
    history = [
        s.Revision(date=datetime.fromisoformat(r["date"]), number=r["number"], summary=r["summary"])
        for r in case.revision_history
    ]
    summary = advisories[0].summary or case.title
    publication = s.Publication(
        id=case.number,
        title=case.title,
        category="csaf_security_advisory",
        publisher=config.publisher,
        version=str(case.revision),
        status=s.DocumentStatus.FINAL,
        revision_history=tuple(history),
        initial_release_date=initial,
        current_release_date=now,
        generator_engine="forewarn",
        generator_engine_version=_version(),
        generator_date=now,
        lang="en",
        notes=(
            s.Note(category=s.NoteCategory.SUMMARY, title="Summary", text=summary),
            s.Note(
                category=s.NoteCategory.GENERAL,
                title="Coordination",
                text="Coordinated disclosure by the AI Cybersecurity Clearinghouse with the vendors named "
                "in each vulnerability's involvements.",
            ),
        ),
        references=(
            s.Reference(
                url=f"{base}/{exports.CSAF_DIRECTORY}/{path}",
                category=s.ReferenceCategory.SELF,
                summary="This CSAF document",
            ),
            s.Reference(
                url=f"{base}/advisories/{case.number}",
                category=s.ReferenceCategory.EXTERNAL,
                summary="The advisory's public page",
            ),
        ),
        tlp=s.Tlp.CLEAR,
    )
    doc = to_csaf(advisories, publication=publication)
    content = exports.dumps(doc)
    await session.execute(update(CsafDocument).where(CsafDocument.case_id == case.id).values(current=False))
    sha256 = hashlib.sha256(content).hexdigest()
    session.add(
        CsafDocument(
            case_id=case.id,
            revision=case.revision,
            path=path,
            content=content,
            sha256=sha256,
            sha512=hashlib.sha512(content).hexdigest(),
            current_release_date=now,
            current=True,
            created_at=now,
        )
    )
    for advisory in advisories:
        record = to_osv(advisory)
        values = _public_values(advisory, record, "forewarn")
        values["case_id"] = case.id
        await session.execute(
            pg_insert(PublicAdvisory)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[PublicAdvisory.id], set_={k: v for k, v in values.items() if k != "id"}
            )
        )
    return path, sha256


async def publish(
    session: AsyncSession, *, case_id: uuid.UUID, actor: Principal, config: Config | None = None
) -> PublicationOut:
    """Publish a case: TLP:CLEAR, CSAF document and OSV records, ledger entry, notices."""
    config = config or Config()
    case, access = await _case(session, case_id, actor)
    forbid_unless(policy.can_publish(actor, access), "you may not publish this case")
    vulns = await _vulnerabilities(session, case.id)
    if not vulns:
        raise Conflict(f"case {case.number} has no vulnerability to publish")
    now = utcnow()
    case.revision = 1
    case.revision_history = [
        {"date": s.format_timestamp(now), "number": "1", "summary": "Initial public release."}
    ]
    case.published_at = now
    advisories = [await _public_advisory(session, case, v, now) for v in vulns]
    path, sha256 = await _write_publication(session, case, advisories, now, config)
    for vuln, advisory in zip(vulns, advisories, strict=True):
        _store_advisory(vuln, advisory)
        vuln.published_advisory = vuln.advisory
    case.tlp = s.Tlp.CLEAR.value
    case.state = CaseState.PUBLISHED.value
    await session.flush()
    await _event(session, "published", actor, case_id=case.id, revision=1, csaf=path)
    entry = await ledger.append(
        session,
        type="clearinghouse.advisory_published",
        actor_organisation_id=actor.organisation_id,
        subjects=[("case", case.number), *[("advisory", a.id) for a in advisories[:30]]],
        reason=f"advisory {case.number} published (TLP:CLEAR), revision 1",
        sealed_hashes={"csaf": "sha256:" + sha256},
    )
    for advisory in advisories:  # hand work up to matching, by name, in this transaction (DESIGN §3)
        await enqueue(session, "matching:match_advisory", advisory_id=advisory.id)
        await enqueue(session, "feed:publish_advisory", advisory_id=advisory.id)  # signed feed
    for org in {
        *access.vendor_organisation_ids,
        *([case.reporter_organisation_id] if case.reporter_organisation_id else []),
    }:
        await enqueue(
            session, NOTIFY_TASK, case_id=str(case.id), organisation_id=str(org), kind="published", revision=1
        )
    return PublicationOut(
        case_id=case.id,
        number=case.number,
        revision=1,
        csaf_path=path,
        csaf_sha256=sha256,
        osv_ids=[a.id for a in advisories],
        ledger_entry=entry.index,
    )


async def revise(
    session: AsyncSession, *, case_id: uuid.UUID, summary: str, actor: Principal, config: Config | None = None
) -> PublicationOut:
    """Publish a new revision of a published case; the history says what changed (CSAF §3.2.1.12.6)."""
    config = config or Config()
    case, access = await _case(session, case_id, actor)
    forbid_unless(policy.can_revise(actor, access), "you may not revise this case")
    vulns = await _vulnerabilities(session, case.id)
    now = utcnow()
    advisories = [await _public_advisory(session, case, v, now) for v in vulns]
    changed: list[str] = []
    for vuln, advisory in zip(vulns, advisories, strict=True):
        fields = _changes(vuln.published_advisory, _dump(advisory))
        if fields:
            changed.append(f"{vuln.advisory_id}: {', '.join(fields)}")
    if not changed:
        raise Conflict(
            f"nothing changed since revision {case.revision}", problems=[Problem("", "edit the case first")]
        )
    case.revision += 1
    text_ = f"{summary.strip()} (changed {'; '.join(changed)})"[:1000]
    case.revision_history = [
        *case.revision_history,
        {"date": s.format_timestamp(now), "number": str(case.revision), "summary": text_},
    ]
    path, sha256 = await _write_publication(session, case, advisories, now, config)
    for vuln, advisory in zip(vulns, advisories, strict=True):
        _store_advisory(vuln, advisory)
        vuln.published_advisory = vuln.advisory
    await session.flush()
    await _event(session, "revised", actor, case_id=case.id, revision=case.revision, changed=changed)
    entry = await ledger.append(
        session,
        type="clearinghouse.advisory_revised",
        actor_organisation_id=actor.organisation_id,
        subjects=[("case", case.number)],
        reason=f"advisory {case.number} revised to revision {case.revision}",
        sealed_hashes={"csaf": "sha256:" + sha256},
    )
    for advisory in advisories:  # hand work up to matching, by name, in this transaction (DESIGN §3)
        await enqueue(session, "matching:match_advisory", advisory_id=advisory.id)
        await enqueue(session, "feed:publish_advisory", advisory_id=advisory.id)  # signed feed
    for org in access.vendor_organisation_ids:
        await enqueue(
            session,
            NOTIFY_TASK,
            case_id=str(case.id),
            organisation_id=str(org),
            kind="published",
            revision=case.revision,
        )
    return PublicationOut(
        case_id=case.id,
        number=case.number,
        revision=case.revision,
        csaf_path=path,
        csaf_sha256=sha256,
        osv_ids=[a.id for a in advisories],
        ledger_entry=entry.index,
    )


# --------------------------------------------------------------------------------------------------
# KEV and public advisories (imports, exports, public pages)
# --------------------------------------------------------------------------------------------------


async def import_kev(
    session: AsyncSession, *, catalog: KevCatalog, actor: Principal | None, config: Config | None = None
) -> KevImportOut:
    """Replace the KEV catalogue; flag case vulnerabilities it names and bring their embargo forward."""
    config = config or Config()
    if actor is not None:
        forbid_unless(policy.is_analyst(actor), "you may not import the KEV catalogue")
    await session.execute(delete(KevEntry))
    rows = [
        {
            "cve_id": e.cve_id,
            "vendor_project": e.vendor_project,
            "product": e.product,
            "name": e.vulnerability_name,
            "date_added": datetime(
                e.date_added.year, e.date_added.month, e.date_added.day, tzinfo=utcnow().tzinfo
            ),
            "due_date": datetime(e.due_date.year, e.due_date.month, e.due_date.day, tzinfo=utcnow().tzinfo)
            if e.due_date
            else None,
            "ransomware": e.known_ransomware_campaign_use.value == "Known",
            "catalog_version": catalog.catalog_version,
        }
        for e in catalog.entries.values()
    ]
    for start in range(0, len(rows), 1000):
        await session.execute(pg_insert(KevEntry).values(rows[start : start + 1000]))
    cves = list(catalog.entries)
    newly: list[str] = []
    now = utcnow()
    if cves:
        vulns = await session.scalars(
            select(Vulnerability).where(
                Vulnerability.ids.overlap(cves), Vulnerability.known_exploited.is_(False)
            )
        )
        for vuln in vulns:
            vuln.known_exploited = True
            case = await session.get(Case, vuln.case_id)
            if case is None:
                continue
            newly.append(case.number)
            await _event(session, "known_exploited", actor, case_id=case.id, ordinal=vuln.ordinal)
            soon = now + timedelta(days=config.exploited_days)
            if case.state == CaseState.OPEN.value and (
                case.embargo_until is None or case.embargo_until > soon
            ):
                case.embargo_until = soon
                await _event(
                    session, "embargo_shortened", actor, case_id=case.id, until=soon, why="known exploited"
                )
                await ledger.append_many(session, [_embargo_entry(case, actor, "known exploited (KEV)")])
    await session.flush()
    return KevImportOut(
        catalog_version=catalog.catalog_version, entries=len(rows), newly_exploited=sorted(set(newly))
    )


def _public_values(advisory: s.Advisory, record: dict[str, Any], source: str) -> dict[str, Any]:
    ecosystems = list(
        dict.fromkeys(a.package.base_ecosystem for a in advisory.affected if a.package is not None)
    )
    return {
        "id": advisory.id,
        "modified": advisory.modified,
        "published": advisory.published,
        "withdrawn": advisory.withdrawn,
        "source": source,
        "ids": list(advisory.all_ids()),
        "packages": dedupe.package_keys(advisory),
        "ecosystems": ecosystems,
        "summary": advisory.summary,
        "osv": record,
        "imported_at": utcnow(),
    }


async def import_public(
    session: AsyncSession, *, records: Sequence[tuple[dict[str, Any], s.Advisory]], actor: Principal | None
) -> PublicImportOut:
    """Store already-public OSV records (e.g. an OSV database export) for matching and de-duplication.

    One batch, validated by the caller (:func:`.osv.from_osv`). A record replaces a stored one only
    when its ``modified`` is newer (OSV §modified); the clearinghouse's own records are never replaced.
    """
    if actor is not None:
        forbid_unless(policy.is_analyst(actor), "you may not import public advisories")
    if not records:
        return PublicImportOut(received=0, stored=0, skipped_older=0)
    values = [_public_values(adv, rec, "import") for rec, adv in records]
    stored = await _copy_upsert(session, values)
    return PublicImportOut(received=len(values), stored=stored, skipped_older=len(values) - stored)


async def import_public_stream(
    session: AsyncSession,
    *,
    documents: Iterator[tuple[str, bytes]],
    actor: Principal | None,
    batch: int = 1000,
) -> PublicImportOut:
    """Parse, validate and store a stream of public OSV records (name, bytes), in bounded batches.

    Memory holds one batch; the first bad record stops the import with an error naming it, and the
    caller's transaction then stores nothing. (Parsing the next batch in a thread while PostgreSQL
    stores the previous one measured no faster on two cores: the GIL serialises the Python side.)
    """
    import itertools

    from forewarn.clearinghouse.advisories.intake import named
    from forewarn.clearinghouse.advisories.jsondoc import parse_json
    from forewarn.clearinghouse.advisories.osv import from_osv

    if actor is not None:
        forbid_unless(policy.is_analyst(actor), "you may not import public advisories")
    received = stored = skipped = 0
    while True:
        ready: list[tuple[dict[str, Any], s.Advisory]] = []
        for name, raw in itertools.islice(documents, batch):
            try:
                doc = parse_json(raw, max_bytes=s.MAX_DOCUMENT_BYTES, what="OSV record")
                ready.append((doc, from_osv(doc)))
            except InvalidAdvisory as exc:
                raise named(exc, name) from None
        if not ready:
            return PublicImportOut(received=received, stored=stored, skipped_older=skipped)
        done = await import_public(session, records=ready, actor=None)
        received, stored, skipped = (
            received + done.received,
            stored + done.stored,
            skipped + done.skipped_older,
        )


_PUBLIC_COLUMNS = (
    "id",
    "modified",
    "published",
    "withdrawn",
    "source",
    "ids",
    "packages",
    "ecosystems",
    "summary",
    "osv",
    "imported_at",
)


async def _copy_upsert(session: AsyncSession, values: list[dict[str, Any]]) -> int:
    """Upsert public advisories through COPY into a temporary table (one round trip per batch).

    A record replaces a stored one only when newer (OSV §modified), and never one forewarn published.
    Returns how many rows were written.
    """
    from psycopg.types.json import Jsonb

    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    columns = ", ".join(_PUBLIC_COLUMNS)
    async with driver.cursor() as cursor:
        await cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS ch_public_stage"
            " (LIKE ch_public_advisories INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        await cursor.execute("TRUNCATE ch_public_stage")
        async with cursor.copy(f"COPY ch_public_stage ({columns}) FROM STDIN") as copy:
            for row in values:
                await copy.write_row([Jsonb(row[c]) if c == "osv" else row[c] for c in _PUBLIC_COLUMNS])
        updates = ", ".join(f"{c} = excluded.{c}" for c in _PUBLIC_COLUMNS if c not in ("id", "source"))
        await cursor.execute(
            f"INSERT INTO ch_public_advisories ({columns}) SELECT {columns} FROM ch_public_stage"  # noqa: S608 -- fixed names
            f" ON CONFLICT (id) DO UPDATE SET {updates}"
            " WHERE ch_public_advisories.modified < excluded.modified"
            " AND ch_public_advisories.source = 'import'"
        )
        return int(cursor.rowcount)


async def list_public(session: AsyncSession, *, limit: int = 200, offset: int = 0) -> list[PublicAdvisoryOut]:
    """Advisories the clearinghouse published, newest first."""
    rows = await session.execute(
        select(PublicAdvisory, Case.number)
        .outerjoin(Case, Case.id == PublicAdvisory.case_id)
        .where(PublicAdvisory.source == "forewarn")
        .order_by(PublicAdvisory.modified.desc(), PublicAdvisory.id)
        .limit(limit)
        .offset(offset)
    )
    return [
        PublicAdvisoryOut(
            id=p.id,
            summary=p.summary,
            modified=p.modified,
            published=p.published,
            withdrawn=p.withdrawn,
            source=p.source,
            ecosystems=p.ecosystems,
            case_number=number,
        )
        for p, number in rows.all()
    ]


async def public_osv(session: AsyncSession, *, advisory_id: str) -> dict[str, Any]:
    """One OSV record the clearinghouse published."""
    row = await session.get(PublicAdvisory, advisory_id)
    if row is None or row.source != "forewarn":
        raise NotFound(f"no published advisory {advisory_id}")
    return row.osv


async def published_csaf(session: AsyncSession) -> list[exports.PublishedCsaf]:
    docs = await session.scalars(select(CsafDocument).where(CsafDocument.current.is_(True)))
    return [exports.PublishedCsaf(d.path, d.content, d.current_release_date) for d in docs]


async def csaf_file(session: AsyncSession, *, path: str, config: Config | None = None) -> bytes:
    """One file of the CSAF provider layout (path relative to the web root)."""
    config = config or Config()
    docs = await published_csaf(session)
    if path == exports.PROVIDER_METADATA:
        return exports.dumps(await provider_metadata(session, config=config, docs=docs))
    tree = exports.csaf_tree(docs, metadata={})
    if path not in tree or path == exports.PROVIDER_METADATA:
        raise NotFound(f"there is nothing at /{path}")
    return tree[path]


async def provider_metadata(
    session: AsyncSession, *, config: Config, docs: list[exports.PublishedCsaf] | None = None
) -> dict[str, Any]:
    docs = docs if docs is not None else await published_csaf(session)
    last = max((d.current_release_date for d in docs), default=None)
    if last is None:
        last = await session.scalar(select(func.min(Case.created_at))) or utcnow()
    return exports.provider_metadata(
        base_url=config.base_url,
        publisher=config.publisher.model_dump(mode="json", exclude_none=True),
        last_updated=last,
    )


async def osv_records(session: AsyncSession) -> list[dict[str, Any]]:
    return list(await session.scalars(select(PublicAdvisory.osv).where(PublicAdvisory.source == "forewarn")))


async def export_trees(session: AsyncSession, *, config: Config) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The whole CSAF provider layout and OSV export, for writing to a static site or a mirror."""
    docs = await published_csaf(session)
    csaf = exports.csaf_tree(docs, metadata=await provider_metadata(session, config=config, docs=docs))
    return csaf, exports.osv_tree(await osv_records(session))


async def public_page(session: AsyncSession, *, ref: str) -> tuple[CaseDetail, list[dict[str, Any]]]:
    """A published case (by number, or by one of its advisory ids) and its OSV records."""
    number = ref
    if ref.startswith("x_"):
        case_id = await session.scalar(select(PublicAdvisory.case_id).where(PublicAdvisory.id == ref))
        found = await _case_numbers(session, [case_id]) if case_id else {}
        number = found.get(case_id, "") if case_id else ""
    case_id = await session.scalar(
        select(Case.id).where(Case.number == number, Case.state == CaseState.PUBLISHED.value)
    )
    if case_id is None:
        raise NotFound(f"no published advisory {ref}")
    detail = await get_case(session, case_id=case_id, actor=None)
    records = list(
        await session.scalars(
            select(PublicAdvisory.osv).where(PublicAdvisory.case_id == case_id).order_by(PublicAdvisory.id)
        )
    )
    return detail, records


async def reporter_statistics(
    session: AsyncSession, *, organisation_id: uuid.UUID, since: datetime
) -> dict[str, int | float | None]:
    """Aggregate outcomes of the reports one organisation filed since ``since`` (read-only).

    Counts only, never report content: grants uses it to measure a funded tool's value. Time to
    validation is from receipt to the report's ``validated`` audit event, in hours (median).
    """
    rows = (
        await session.execute(
            select(Report.state, func.count())
            .where(Report.reporter_organisation_id == organisation_id, Report.created_at >= since)
            .group_by(Report.state)
        )
    ).all()
    counts = {str(state): int(n) for state, n in rows}
    median = await session.scalar(
        select(
            func.percentile_cont(0.5).within_group(
                func.extract("epoch", Event.at - Report.created_at) / 3600.0
            )
        )
        .select_from(Report)
        .join(Event, Event.report_id == Report.id)
        .where(
            Report.reporter_organisation_id == organisation_id,
            Report.created_at >= since,
            Event.action == "validated",
        )
    )
    return {
        "submitted": sum(counts.values()),
        "validated": counts.get(ReportState.VALIDATED.value, 0),
        "duplicates": counts.get(ReportState.DUPLICATE.value, 0),
        "rejected": counts.get(ReportState.REJECTED.value, 0),
        "open": sum(counts.get(s.value, 0) for s in OPEN_REPORT_STATES),
        "median_hours_to_validation": float(median) if median is not None else None,
    }


async def reporter_publications(
    session: AsyncSession, *, organisation_id: uuid.UUID, since: datetime
) -> list[str]:
    """OSV ids of the advisories published from the reports one organisation filed since ``since``.

    Read-only; grants uses it to follow a funded tool's findings to the operators they reached. Only
    validated reports count (a duplicate's vulnerability was already known). A report is credited
    with the published advisories of its case that share one of its ids; when none does (a report
    with no public id), with every published advisory of its case.
    """
    reports = (
        await session.execute(
            select(Report.case_id, Report.ids).where(
                Report.reporter_organisation_id == organisation_id,
                Report.created_at >= since,
                Report.state == ReportState.VALIDATED.value,
                Report.case_id.is_not(None),
            )
        )
    ).all()
    if not reports:
        return []
    published = (
        await session.execute(
            select(PublicAdvisory.id, PublicAdvisory.case_id, PublicAdvisory.ids).where(
                PublicAdvisory.source == "forewarn",
                PublicAdvisory.withdrawn.is_(None),
                PublicAdvisory.case_id.in_({case_id for case_id, _ in reports}),
            )
        )
    ).all()
    by_case: dict[uuid.UUID | None, list[tuple[str, set[str]]]] = {}
    for advisory_id, case_id, ids in published:
        by_case.setdefault(case_id, []).append((advisory_id, set(ids)))
    found: set[str] = set()
    for case_id, report_ids in reports:
        candidates = by_case.get(case_id, [])
        sharing = [a for a, ids in candidates if ids & set(_public_ids(report_ids))]
        found.update(sharing or [a for a, _ in candidates])
    return sorted(found)


async def csaf_document(session: AsyncSession, *, path: str) -> bytes:
    """One current CSAF document, byte for byte as the distribution directory serves it, by its path
    in that directory (``2026/fw-2026-0001.json``); read alone (one indexed row), for callers that
    need one document and not the provider layout (the signed feed). NotFound unless published."""
    content = await session.scalar(
        select(CsafDocument.content).where(CsafDocument.path == path, CsafDocument.current.is_(True))
    )
    if content is None:
        raise NotFound(f"there is no published CSAF document {path[:300]}")
    return bytes(content)
