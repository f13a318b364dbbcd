"""Assessments of a review window: workstreams, findings, evidence, triage, merges, forwarding, reports.

Invariants:

- every read and write is decided by :mod:`.policy` on the window's facts (its lab, the
  organisations taking part: ``review.service.window_organisations``, its state); a window or a
  finding the caller may not read is "not found", never "forbidden" (no existence leak);
- evidence is sealed with the programme data key (AES-GCM), its associated data binding it to its
  own row and its finding, so a sealed blob cannot be moved to another finding; its size and type
  are checked before anything is written, and it leaves the service only to readers of its finding;
- imports (garak, Inspect) are parsed and validated completely before the first row is written;
- ledger entries carry ids, severities, areas, states and hashes, never a finding's text;
- a finding that affects critical infrastructure goes to the clearinghouse through
  ``clearinghouse.advisories.service`` as a report at the finding's TLP, with its title and
  description only (no evidence, no reproduction); when that is not possible it stays visibly
  "to forward" with the reason, and the coordinator can try again.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.clearinghouse.advisories import schemas as advisory_schemas
from forewarn.clearinghouse.advisories import service as advisories
from forewarn.clearinghouse.advisories.records import SourceFormat
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, ForewarnError, InvalidInput, NotFound, Problem, TooLarge
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.gateway import service as gateway
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.assessments import imports, policy
from forewarn.earlyaccess.review.assessments.models import Evidence, Finding, IssuedReport, Workstream
from forewarn.earlyaccess.review.assessments.schemas import (
    Area,
    EvidenceOut,
    FindingDetail,
    FindingIn,
    FindingOut,
    FindingSource,
    FindingStatus,
    ForwardState,
    ImportOut,
    OrganisationUsage,
    Reporter,
    ReportFinding,
    ReportOut,
    Severity,
    SeverityCount,
    Tlp,
    TriageIn,
    UsageReport,
    WorkstreamCoverage,
    WorkstreamIn,
    WorkstreamOut,
    WorkstreamStatus,
    WorkstreamUpdate,
)
from forewarn.earlyaccess.review.schemas import WindowOut
from forewarn.ledger import service as ledger

#: Evidence types accepted, by file extension: (content type, leading bytes it must start with).
EVIDENCE_TYPES: dict[str, tuple[str, bytes | None]] = {
    ".txt": ("text/plain", None),
    ".log": ("text/plain", None),
    ".md": ("text/markdown", None),
    ".csv": ("text/csv", None),
    ".json": ("application/json", None),
    ".jsonl": ("application/jsonl", None),
    ".eval": ("application/zip", b"PK\x03\x04"),
    ".zip": ("application/zip", b"PK\x03\x04"),
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
}
_TEXT_TYPES = {"text/plain", "text/markdown", "text/csv", "application/json", "application/jsonl"}
_FILENAME = re.compile(r"[^A-Za-z0-9._ -]")
MAX_EVIDENCE_PER_FINDING = 50


class OrgNames:
    """Organisation names, looked up once per call."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.cache: dict[uuid.UUID, str] = {}
        self.kinds: dict[uuid.UUID, OrgKind] = {}

    async def name(self, organisation_id: uuid.UUID) -> str:
        if organisation_id not in self.cache:
            try:
                org = await accounts.get_organisation(
                    self.session, organisation_id=organisation_id, actor=None
                )
            except NotFound:
                self.cache[organisation_id] = "(unknown organisation)"
            else:
                self.cache[organisation_id] = org.name
                self.kinds[organisation_id] = org.kind
        return self.cache[organisation_id]

    async def kind(self, organisation_id: uuid.UUID) -> OrgKind | None:
        await self.name(organisation_id)
        return self.kinds.get(organisation_id)


# --- windows ---------------------------------------------------------------------------------------------


async def window_facts(
    session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None
) -> tuple[WindowOut, policy.WindowFacts]:
    """The window (``review.service.WindowOut``) and its facts; NotFound for those who may not see it."""
    window = await review.get_window(session, window_id=window_id, actor=None)
    participants = await review.window_organisations(session, window_id=window_id)
    facts = policy.WindowFacts(
        lab_organisation_id=window.lab_organisation_id,
        participants=frozenset(participants) | {window.lab_organisation_id},
        state=window.state.value,
    )
    if actor is not None and not policy.can_see_window(actor, facts):
        raise NotFound("no such window")
    return window, facts


async def list_windows(session: AsyncSession, *, actor: Principal) -> list[WindowOut]:
    """The windows the actor takes part in (every window for coordinators)."""
    out = []
    for window in await review.list_windows(session, actor=actor):
        _, facts = await window_facts(session, window_id=window.id, actor=None)
        if policy.can_see_window(actor, facts):
            out.append(window)
    return out


# --- workstreams ---------------------------------------------------------------------------------------


async def _workstream_out(session: AsyncSession, row: Workstream, names: OrgNames) -> WorkstreamOut:
    return WorkstreamOut(
        id=row.id,
        window_id=row.window_id,
        title=row.title,
        area=Area(row.area),
        lead_organisation_id=row.lead_organisation_id,
        lead_organisation_name=await names.name(row.lead_organisation_id),
        member_organisation_ids=list(row.member_organisation_ids),
        member_organisation_names=[await names.name(m) for m in row.member_organisation_ids],
        due_date=row.due_date,
        status=WorkstreamStatus(row.status),
        notes=row.notes,
        created_at=row.created_at,
    )


async def _check_assessors(
    names: OrgNames, facts: policy.WindowFacts, ids: Iterable[tuple[str, uuid.UUID]]
) -> None:
    """A workstream is led and staffed by agencies or by organisations granted access (not the lab)."""
    problems = []
    for where, organisation_id in ids:
        kind = await names.kind(organisation_id)
        if kind is None:
            problems.append(Problem(where, "no such organisation"))
        elif organisation_id == facts.lab_organisation_id:
            problems.append(Problem(where, "the lab does not assess its own model"))
        elif kind != OrgKind.AGENCY and organisation_id not in facts.participants:
            problems.append(
                Problem(where, "must be an agency or an organisation granted access to the window")
            )
    if problems:
        raise InvalidInput("the workstream cannot be planned", problems=problems)


async def plan_workstream(
    session: AsyncSession, *, window_id: uuid.UUID, data: WorkstreamIn, actor: Principal
) -> WorkstreamOut:
    """Plan a workstream of a window (assessment coordinators; not after the window closed)."""
    if not policy.can_plan_workstreams(actor):
        raise NotFound("no such window")
    _, facts = await window_facts(session, window_id=window_id, actor=actor)
    if facts.state == "closed":
        raise Conflict("the window is closed: no new workstream")
    names = OrgNames(session)
    members = list(dict.fromkeys(data.member_organisation_ids))
    await _check_assessors(
        names,
        facts,
        [("lead_organisation_id", data.lead_organisation_id)]
        + [(f"member_organisation_ids.{i}", m) for i, m in enumerate(members)],
    )
    row = Workstream(
        window_id=window_id,
        title=data.title,
        area=data.area.value,
        lead_organisation_id=data.lead_organisation_id,
        member_organisation_ids=members,
        due_date=data.due_date,
        status=WorkstreamStatus.PLANNED.value,
        notes=data.notes,
        planned_by=actor.person_id,
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="assessments.workstream_planned",
        actor_organisation_id=actor.organisation_id,
        subjects=[("window", window_id), ("workstream", row.id), ("organisation", data.lead_organisation_id)],
        reason=f"A workstream was planned (area {data.area.value}, due {data.due_date.isoformat()})",
    )
    return await _workstream_out(session, row, names)


async def list_workstreams(
    session: AsyncSession, *, window_id: uuid.UUID, actor: Principal
) -> list[WorkstreamOut]:
    await window_facts(session, window_id=window_id, actor=actor)
    rows = await session.scalars(
        select(Workstream)
        .where(Workstream.window_id == window_id)
        .order_by(Workstream.due_date, Workstream.title)
    )
    names = OrgNames(session)
    return [await _workstream_out(session, row, names) for row in rows]


async def update_workstream(
    session: AsyncSession, *, workstream_id: uuid.UUID, data: WorkstreamUpdate, actor: Principal
) -> WorkstreamOut:
    """Move a workstream along (coordinators)."""
    row = await session.get(Workstream, workstream_id, with_for_update=True)
    if row is None or not policy.can_plan_workstreams(actor):
        raise NotFound("no such workstream")
    await window_facts(session, window_id=row.window_id, actor=actor)
    row.status = data.status.value
    row.updated_at = utcnow()
    await session.flush()
    return await _workstream_out(session, row, OrgNames(session))


# --- findings --------------------------------------------------------------------------------------------


def _facts(row: Finding) -> policy.FindingFacts:
    return policy.FindingFacts(
        tlp=Tlp(row.tlp), filer_organisation_id=row.filer_organisation_id, release_to_lab=row.release_to_lab
    )


async def _finding_out(row: Finding, names: OrgNames) -> FindingOut:
    return FindingOut(
        id=row.id,
        window_id=row.window_id,
        workstream_id=row.workstream_id,
        title=row.title,
        severity=Severity(row.severity),
        area=Area(row.area),
        tlp=Tlp(row.tlp),
        status=FindingStatus(row.status),
        source=FindingSource(row.source),
        filer_organisation_id=row.filer_organisation_id,
        filer_organisation_name=await names.name(row.filer_organisation_id),
        duplicate_of_id=row.duplicate_of_id,
        affects_critical_infrastructure=row.affects_critical_infrastructure,
        forward_state=ForwardState(row.forward_state),
        forward_reason=row.forward_reason,
        advisory_report_id=row.advisory_report_id,
        release_to_lab=row.release_to_lab,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _evidence_out(row: Evidence) -> EvidenceOut:
    return EvidenceOut(
        id=row.id,
        finding_id=row.finding_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        created_at=row.created_at,
    )


async def _detail(
    session: AsyncSession, row: Finding, actor: Principal, facts: policy.WindowFacts, names: OrgNames
) -> FindingDetail:
    evidence = await session.scalars(
        select(Evidence).where(Evidence.finding_id == row.id).order_by(Evidence.created_at, Evidence.id)
    )
    duplicates = list(
        await session.scalars(
            select(Finding).where(Finding.duplicate_of_id == row.id).order_by(Finding.created_at)
        )
    )
    reporters = [
        Reporter(
            finding_id=row.id,
            organisation_id=row.filer_organisation_id,
            organisation_name=await names.name(row.filer_organisation_id),
        )
    ]
    hidden = 0
    for dup in duplicates:
        if policy.can_view_finding(actor, _facts(dup), facts):
            reporters.append(
                Reporter(
                    finding_id=dup.id,
                    organisation_id=dup.filer_organisation_id,
                    organisation_name=await names.name(dup.filer_organisation_id),
                )
            )
        else:
            hidden += 1
    base = await _finding_out(row, names)
    return FindingDetail(
        **base.model_dump(),
        description=row.description,
        reproduction=row.reproduction,
        triage_note=row.triage_note,
        evidence=[_evidence_out(e) for e in evidence],
        reporters=reporters,
        hidden_duplicates=hidden,
        can_triage=policy.can_triage(actor),
        can_add_evidence=policy.can_add_evidence(actor, _facts(row), facts),
    )


async def _finding(
    session: AsyncSession, finding_id: uuid.UUID, actor: Principal | None, *, lock: bool = False
) -> tuple[Finding, policy.WindowFacts]:
    row = await session.get(Finding, finding_id, with_for_update=lock or None)
    if row is None:
        raise NotFound("no such finding")
    try:
        _, facts = await window_facts(session, window_id=row.window_id, actor=actor)
    except NotFound:
        raise NotFound("no such finding") from None
    if actor is not None and not policy.can_view_finding(actor, _facts(row), facts):
        raise NotFound("no such finding")
    return row, facts


def _clean_filename(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = _FILENAME.sub("_", name)[-200:].lstrip(".")
    return name or "evidence"


def check_evidence(
    filename: str | None, data: bytes, *, max_bytes: int, where: str = "file"
) -> tuple[str, str]:
    """The stored file name and content type of an attachment; refused when too large or not what it says."""
    if len(data) > max_bytes:
        raise TooLarge(
            "the evidence file is too large", problems=[Problem(where, f"more than {max_bytes} bytes")]
        )
    if not data:
        raise InvalidInput("the evidence file is empty", problems=[Problem(where, "is empty")])
    name = _clean_filename(filename)
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix not in EVIDENCE_TYPES:
        allowed = ", ".join(sorted(EVIDENCE_TYPES))
        raise InvalidInput(
            "this kind of file is not accepted as evidence",
            problems=[Problem(where, f"use one of {allowed}")],
        )
    content_type, magic = EVIDENCE_TYPES[suffix]
    if magic is not None and not data.startswith(magic):
        raise InvalidInput(
            "the evidence file is not what its name says",
            problems=[Problem(where, f"not a {content_type} file")],
        )
    if content_type in _TEXT_TYPES:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                "the evidence file is not what its name says", problems=[Problem(where, "not UTF-8 text")]
            ) from None
    return name, content_type


def _aad(evidence_id: uuid.UUID, finding_id: uuid.UUID) -> bytes:
    return b"forewarn assessment evidence\n" + str(evidence_id).encode() + b"\n" + str(finding_id).encode()


async def _store_evidence(
    session: AsyncSession,
    *,
    finding: Finding,
    name: str,
    content_type: str,
    data: bytes,
    actor: Principal,
    key: DataKey,
) -> Evidence:
    evidence_id = uuid.uuid4()
    row = Evidence(
        id=evidence_id,
        finding_id=finding.id,
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        sealed=key.seal(data, aad=_aad(evidence_id, finding.id)),
        uploaded_by=actor.person_id,
    )
    session.add(row)
    return row


async def _check_workstream(
    session: AsyncSession, window_id: uuid.UUID, workstream_id: uuid.UUID | None
) -> None:
    if workstream_id is None:
        return
    found = await session.scalar(
        select(Workstream.id).where(Workstream.id == workstream_id, Workstream.window_id == window_id)
    )
    if found is None:
        raise InvalidInput(
            "no such workstream", problems=[Problem("workstream_id", "not a workstream of this window")]
        )


async def _new_finding(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    data: FindingIn,
    actor: Principal,
    source: FindingSource,
    source_sha256: str | None,
) -> Finding:
    if actor.organisation_id is None:
        raise NotFound("no such window")
    row = Finding(
        window_id=window_id,
        workstream_id=data.workstream_id,
        title=data.title,
        severity=data.severity.value,
        area=data.area.value,
        tlp=data.tlp.value,
        description=data.description,
        reproduction=data.reproduction,
        status=FindingStatus.NEW.value,
        source=source.value,
        source_sha256=source_sha256,
        filer_person_id=actor.person_id,
        filer_organisation_id=actor.organisation_id,
        release_to_lab=data.release_to_lab and data.tlp is Tlp.RED,
        forward_state=ForwardState.NONE.value,
    )
    session.add(row)
    await session.flush()
    await ledger.append(
        session,
        type="assessments.finding_filed",
        actor_organisation_id=actor.organisation_id,
        subjects=[("window", window_id), ("finding", row.id), ("organisation", actor.organisation_id)],
        reason=(
            f"A finding was filed (severity {data.severity.value}, area {data.area.value}, "
            f"source {source.value})"
        ),
    )
    return row


async def _filing_window(session: AsyncSession, window_id: uuid.UUID, actor: Principal) -> policy.WindowFacts:
    if not policy.can_file_findings(actor):
        raise NotFound("no such window")
    _, facts = await window_facts(session, window_id=window_id, actor=actor)
    if not policy.can_file_in_window(actor, facts):
        if facts.state != "open":
            raise Conflict(
                f"findings are filed while the window is open (it is {facts.state.replace('_', ' ')})"
            )
        raise NotFound("no such window")
    return facts


async def file_finding(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    data: FindingIn,
    actor: Principal,
    key: DataKey,
    attachments: Sequence[tuple[str | None, bytes]] = (),
    max_evidence_bytes: int = 26_214_400,
) -> FindingDetail:
    """File a finding (reviewers of a participating organisation; coordinators), with evidence files."""
    facts = await _filing_window(session, window_id, actor)
    await _check_workstream(session, window_id, data.workstream_id)
    if len(attachments) > MAX_EVIDENCE_PER_FINDING:
        raise InvalidInput(
            "too many evidence files", problems=[Problem("evidence", f"at most {MAX_EVIDENCE_PER_FINDING}")]
        )
    checked = [
        (*check_evidence(name, blob, max_bytes=max_evidence_bytes, where=f"evidence.{i}"), blob)
        for i, (name, blob) in enumerate(attachments)
    ]
    row = await _new_finding(
        session, window_id=window_id, data=data, actor=actor, source=FindingSource.MANUAL, source_sha256=None
    )
    for name, content_type, blob in checked:
        await _store_evidence(
            session, finding=row, name=name, content_type=content_type, data=blob, actor=actor, key=key
        )
    await session.flush()
    return await _detail(session, row, actor, facts, OrgNames(session))


async def list_findings(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal) -> list[FindingOut]:
    """The window's findings the actor may read under their TLP labels."""
    _, facts = await window_facts(session, window_id=window_id, actor=actor)
    rows = await session.scalars(
        select(Finding).where(Finding.window_id == window_id).order_by(Finding.created_at.desc()).limit(5000)
    )
    names = OrgNames(session)
    return [await _finding_out(r, names) for r in rows if policy.can_view_finding(actor, _facts(r), facts)]


async def get_finding(session: AsyncSession, *, finding_id: uuid.UUID, actor: Principal) -> FindingDetail:
    row, facts = await _finding(session, finding_id, actor)
    return await _detail(session, row, actor, facts, OrgNames(session))


async def add_evidence(
    session: AsyncSession,
    *,
    finding_id: uuid.UUID,
    filename: str | None,
    data: bytes,
    actor: Principal,
    key: DataKey,
    max_bytes: int,
) -> EvidenceOut:
    """Attach a file to a finding (the filer's organisation, coordinators; while the window is open)."""
    row, facts = await _finding(session, finding_id, actor)
    if not policy.can_add_evidence(actor, _facts(row), facts):
        if facts.state != "open":
            raise Conflict("evidence is added while the window is open")
        raise NotFound("no such finding")
    count = await session.scalar(
        select(func.count()).select_from(Evidence).where(Evidence.finding_id == row.id)
    )
    if (count or 0) >= MAX_EVIDENCE_PER_FINDING:
        raise Conflict(f"a finding holds at most {MAX_EVIDENCE_PER_FINDING} evidence files")
    name, content_type = check_evidence(filename, data, max_bytes=max_bytes)
    evidence = await _store_evidence(
        session, finding=row, name=name, content_type=content_type, data=data, actor=actor, key=key
    )
    await session.flush()
    return _evidence_out(evidence)


async def read_evidence(
    session: AsyncSession, *, finding_id: uuid.UUID, evidence_id: uuid.UUID, actor: Principal, key: DataKey
) -> tuple[EvidenceOut, bytes]:
    """An evidence file, opened, for a reader of its finding."""
    row, _ = await _finding(session, finding_id, actor)
    evidence = await session.get(Evidence, evidence_id)
    if evidence is None or evidence.finding_id != row.id:
        raise NotFound("no such evidence")
    return _evidence_out(evidence), key.open(evidence.sealed, aad=_aad(evidence.id, row.id))


async def release_to_lab(session: AsyncSession, *, finding_id: uuid.UUID, actor: Principal) -> FindingDetail:
    """The filer's organisation lets the lab read its TLP:RED finding (it is otherwise only counted)."""
    row, facts = await _finding(session, finding_id, actor, lock=True)
    if not policy.can_release_to_lab(actor, _facts(row)):
        raise NotFound("no such finding")
    if Tlp(row.tlp) is not Tlp.RED:
        raise Conflict("only TLP:RED findings are withheld from the lab")
    row.release_to_lab = True
    row.updated_at = utcnow()
    await session.flush()
    return await _detail(session, row, actor, facts, OrgNames(session))


# --- triage ------------------------------------------------------------------------------------------------


async def triage(
    session: AsyncSession, *, finding_id: uuid.UUID, data: TriageIn, actor: Principal
) -> FindingDetail:
    """Set a finding's status and note (coordinators). A merged duplicate stays a duplicate."""
    if not policy.can_triage(actor):
        raise NotFound("no such finding")
    row, facts = await _finding(session, finding_id, actor, lock=True)
    if row.duplicate_of_id is not None:
        raise Conflict("this finding is a merged duplicate: triage its primary finding")
    row.status = data.status.value
    if data.note:
        row.triage_note = data.note
    row.updated_at = utcnow()
    await session.flush()
    await ledger.append(
        session,
        type="assessments.finding_triaged",
        actor_organisation_id=actor.organisation_id,
        subjects=[("window", row.window_id), ("finding", row.id)],
        reason=f"A finding was triaged (status {data.status.value}, severity {row.severity})",
    )
    return await _detail(session, row, actor, facts, OrgNames(session))


async def merge(
    session: AsyncSession, *, finding_id: uuid.UUID, primary_id: uuid.UUID, actor: Principal
) -> FindingDetail:
    """Mark ``finding_id`` a duplicate of ``primary_id`` (same window; coordinators). Returns the primary."""
    if not policy.can_triage(actor):
        raise NotFound("no such finding")
    if finding_id == primary_id:
        raise InvalidInput(
            "a finding cannot duplicate itself", problems=[Problem("primary_id", "is this finding")]
        )
    duplicate, facts = await _finding(session, finding_id, actor, lock=True)
    try:
        primary, _ = await _finding(session, primary_id, actor, lock=True)
    except NotFound:
        raise InvalidInput(
            "no such primary finding", problems=[Problem("primary_id", "no such finding")]
        ) from None
    if primary.window_id != duplicate.window_id:
        raise InvalidInput(
            "findings merge within one window", problems=[Problem("primary_id", "another window")]
        )
    if primary.duplicate_of_id is not None:
        raise Conflict("the primary finding is itself a duplicate: merge into its primary")
    if duplicate.duplicate_of_id is not None:
        raise Conflict("this finding is already merged")
    now = utcnow()
    # Duplicates of the duplicate follow it to the new primary: one level, always.
    for child in await session.scalars(select(Finding).where(Finding.duplicate_of_id == duplicate.id)):
        child.duplicate_of_id = primary.id
        child.updated_at = now
    duplicate.duplicate_of_id = primary.id
    duplicate.status = FindingStatus.DUPLICATE.value
    duplicate.updated_at = now
    # The primary is at least as severe as what was merged into it.
    if Severity(duplicate.severity).rank < Severity(primary.severity).rank:
        primary.severity = duplicate.severity
    primary.updated_at = now
    await session.flush()
    await ledger.append(
        session,
        type="assessments.findings_merged",
        actor_organisation_id=actor.organisation_id,
        subjects=[("window", primary.window_id), ("finding", primary.id), ("finding", duplicate.id)],
        reason="A finding was merged into another as its duplicate",
    )
    return await _detail(session, primary, actor, facts, OrgNames(session))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._:+-]+", "-", text).strip("-")[:200] or "model"


async def _forward(session: AsyncSession, row: Finding, actor: Principal) -> None:
    """Hand the finding to the clearinghouse, or leave it "to forward" with the reason."""
    reason: str | None = None
    if row.duplicate_of_id is not None:
        reason = "this finding is a merged duplicate: its primary finding is the one forwarded"
    elif row.status in (FindingStatus.NOT_REPRODUCIBLE.value, FindingStatus.CLOSED.value):
        reason = f"the finding is {row.status.replace('_', ' ')}: confirm it before forwarding"
    if reason is None:
        window = await review.get_window(session, window_id=row.window_id, actor=None)
        model = _slug(f"{window.model_name}-{window.model_version}")
        details = (
            f"Pre-release assessment finding (severity {row.severity}, area {row.area}) about "
            f"{window.model_name} {window.model_version}, forwarded because it affects critical "
            f"infrastructure.\n\n{row.description}"
        )[:60_000]
        try:
            advisory = advisory_schemas.Advisory(
                id=f"x_FWR-finding-{row.id}",
                summary=row.title[:200],
                details=details,
                modified=utcnow(),
                ai=advisory_schemas.ModelVulnerability(
                    attack_class=advisory_schemas.AttackClass.OTHER, affected_models=(model,)
                ),
                tlp=Tlp(row.tlp),
            )
            async with session.begin_nested():
                (report,) = await advisories.submit_advisories(
                    session,
                    advisories=[advisory],
                    source_format=SourceFormat.FINDING,
                    document_sha256=hashlib.sha256(
                        f"forewarn assessment finding\n{row.id}".encode()
                    ).hexdigest(),
                    tlp=Tlp(row.tlp),
                    actor=actor,
                    source_name=f"assessment finding {row.id}",
                )
        except ForewarnError as exc:
            reason = f"the clearinghouse refused it: {exc.message}"[:1000]
        except ValueError as exc:  # pydantic: the advisory cannot be made from this finding
            reason = f"it cannot be made into an advisory: {str(exc).splitlines()[0][:300]}"
        else:
            row.forward_state = ForwardState.FORWARDED.value
            row.forward_reason = None
            row.advisory_report_id = report.id
            row.updated_at = utcnow()
            await session.flush()
            await ledger.append(
                session,
                type="assessments.finding_forwarded",
                actor_organisation_id=actor.organisation_id,
                subjects=[("window", row.window_id), ("finding", row.id), ("report", report.id)],
                reason=f"A finding affecting critical infrastructure was forwarded (TLP:{row.tlp})",
            )
            return
    row.forward_state = ForwardState.TO_FORWARD.value
    row.forward_reason = reason
    row.updated_at = utcnow()
    await session.flush()


async def mark_critical_infrastructure(
    session: AsyncSession, *, finding_id: uuid.UUID, actor: Principal
) -> FindingDetail:
    """Mark a finding as affecting critical infrastructure and forward it (coordinators)."""
    if not policy.can_triage(actor):
        raise NotFound("no such finding")
    row, facts = await _finding(session, finding_id, actor, lock=True)
    if row.forward_state == ForwardState.FORWARDED.value:
        raise Conflict("this finding is already with the clearinghouse")
    row.affects_critical_infrastructure = True
    await _forward(session, row, actor)
    return await _detail(session, row, actor, facts, OrgNames(session))


async def forward(session: AsyncSession, *, finding_id: uuid.UUID, actor: Principal) -> FindingDetail:
    """Try again to forward a finding waiting "to forward" (coordinators)."""
    if not policy.can_triage(actor):
        raise NotFound("no such finding")
    row, facts = await _finding(session, finding_id, actor, lock=True)
    if row.forward_state != ForwardState.TO_FORWARD.value:
        raise Conflict("only findings waiting to be forwarded can be forwarded")
    await _forward(session, row, actor)
    return await _detail(session, row, actor, facts, OrgNames(session))


async def to_forward(session: AsyncSession, *, actor: Principal) -> list[FindingOut]:
    """Every finding waiting to be forwarded, across windows (coordinators)."""
    if not policy.can_triage(actor):
        return []
    rows = await session.scalars(
        select(Finding)
        .where(Finding.forward_state == ForwardState.TO_FORWARD.value)
        .order_by(Finding.updated_at)
    )
    names = OrgNames(session)
    return [await _finding_out(r, names) for r in rows]


# --- imports -----------------------------------------------------------------------------------------------


async def _store_import(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    result: imports.ImportResult,
    source: FindingSource,
    tlp: Tlp,
    workstream_id: uuid.UUID | None,
    actor: Principal,
    key: DataKey,
    max_evidence_bytes: int,
) -> ImportOut:
    clash = await session.scalar(
        select(Finding.id)
        .where(Finding.window_id == window_id, Finding.source_sha256 == result.sha256)
        .limit(1)
    )
    if clash is not None:
        raise Conflict(
            "this file was already imported into this window", problems=[Problem("file", f"finding {clash}")]
        )
    prepared = []
    for i, item in enumerate(result.findings):
        data = FindingIn(
            title=item.title,
            severity=item.severity,
            area=item.area,
            tlp=tlp,
            workstream_id=workstream_id,
            description=item.description[:20_000],
            reproduction=item.reproduction[:20_000],
        )
        attachments = [
            (
                *check_evidence(
                    a.filename, a.data, max_bytes=max_evidence_bytes, where=f"findings.{i}.evidence"
                ),
                a.data,
            )
            for a in item.evidence
        ]
        prepared.append((data, attachments))
    out = []
    names = OrgNames(session)
    for data, attachments in prepared:
        row = await _new_finding(
            session, window_id=window_id, data=data, actor=actor, source=source, source_sha256=result.sha256
        )
        for name, content_type, blob in attachments:
            await _store_evidence(
                session, finding=row, name=name, content_type=content_type, data=blob, actor=actor, key=key
            )
        out.append(await _finding_out(row, names))
    await session.flush()
    return ImportOut(source=source, findings=out, passed_probes=result.passed_probes, sha256=result.sha256)


@dataclass(frozen=True)
class _ImportTarget:
    """Where an imported file's findings go, and the evidence size they may carry."""

    window_id: uuid.UUID
    workstream_id: uuid.UUID | None
    tlp: Tlp
    max_evidence_bytes: int


async def _import_file(
    session: AsyncSession,
    where: _ImportTarget,
    source: FindingSource,
    read: Callable[[], imports.ImportResult],
    *,
    actor: Principal,
    key: DataKey,
) -> ImportOut:
    """Check the caller may file in the window (and the workstream is the window's), then parse the
    file with ``read`` and store its findings: a refused caller's file is never parsed."""
    await _filing_window(session, where.window_id, actor)
    await _check_workstream(session, where.window_id, where.workstream_id)
    return await _store_import(
        session,
        window_id=where.window_id,
        result=read(),
        source=source,
        tlp=where.tlp,
        workstream_id=where.workstream_id,
        actor=actor,
        key=key,
        max_evidence_bytes=where.max_evidence_bytes,
    )


async def import_garak(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    blob: bytes,
    tlp: Tlp,
    workstream_id: uuid.UUID | None,
    actor: Principal,
    key: DataKey,
    limits: imports.Limits,
) -> ImportOut:
    """Findings from a garak report: one per probe with a failed output (nothing stored on any error)."""
    where = _ImportTarget(window_id, workstream_id, tlp, limits.max_bytes)
    read = partial(imports.read_garak, blob, limits=limits)
    return await _import_file(session, where, FindingSource.GARAK, read, actor=actor, key=key)


async def import_inspect(
    session: AsyncSession,
    *,
    window_id: uuid.UUID,
    blob: bytes,
    filename: str,
    tlp: Tlp,
    severity: Severity,
    area: Area,
    workstream_id: uuid.UUID | None,
    actor: Principal,
    key: DataKey,
    limits: imports.Limits,
) -> ImportOut:
    """One finding from an Inspect eval log (``.eval`` or ``.json``), the log attached as evidence."""

    def read() -> imports.ImportResult:
        result = imports.read_inspect(blob, filename=filename, severity=severity, area=area, limits=limits)
        # The log is evidence: stored under the name of its format, whatever the upload was called.
        for item in result.findings:
            item.evidence = [
                imports.Attachment(_evidence_name(a), a.content_type, a.data) for a in item.evidence
            ]
        return result

    where = _ImportTarget(window_id, workstream_id, tlp, limits.max_bytes)
    return await _import_file(session, where, FindingSource.INSPECT, read, actor=actor, key=key)


def _evidence_name(attachment: imports.Attachment) -> str:
    stem = attachment.filename.rsplit(".", 1)[0] if "." in attachment.filename else attachment.filename
    return f"{stem or 'inspect-log'}{'.eval' if attachment.content_type == 'application/zip' else '.json'}"


# --- reports -----------------------------------------------------------------------------------------------


async def _usage(session: AsyncSession, window_id: uuid.UUID, names: OrgNames) -> UsageReport:
    summary = await gateway.usage_summary(session, window_id=window_id)
    per_org = await gateway.usage_by_organisation(session, window_id=window_id)
    return UsageReport(
        calls=summary.calls,
        prompt_tokens=summary.prompt_tokens,
        completion_tokens=summary.completion_tokens,
        errors=summary.errors,
        organisations=summary.organisations,
        p50_latency_ms=summary.p50_latency_ms,
        p99_latency_ms=summary.p99_latency_ms,
        by_organisation=[
            OrganisationUsage(
                organisation_id=u.organisation_id,
                organisation_name=await names.name(u.organisation_id),
                calls=u.calls,
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                errors=u.errors,
            )
            for u in per_org
        ],
    )


async def build_report(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None) -> ReportOut:
    """The window's report as ``actor`` may read it (``None``: the programme's full view)."""
    window, facts = await window_facts(session, window_id=window_id, actor=actor)
    if actor is not None and not policy.can_read_report(actor, facts):
        if policy.is_lab_lead(actor) and actor.organisation_id == facts.lab_organisation_id:
            raise Conflict("the final report is ready when the window closes")
        raise NotFound("no such window")
    names = OrgNames(session)
    rows = list(
        await session.scalars(
            select(Finding).where(Finding.window_id == window_id).order_by(Finding.created_at)
        )
    )
    workstreams = list(
        await session.scalars(
            select(Workstream).where(Workstream.window_id == window_id).order_by(Workstream.due_date)
        )
    )
    ws_titles = {w.id: w.title for w in workstreams}
    primaries = [r for r in rows if r.duplicate_of_id is None]
    counted = [r for r in primaries if r.status != FindingStatus.NOT_REPRODUCIBLE.value]
    duplicates: dict[uuid.UUID, list[Finding]] = {}
    for r in rows:
        if r.duplicate_of_id is not None:
            duplicates.setdefault(r.duplicate_of_id, []).append(r)
    by_pair = Counter((Severity(r.severity), Area(r.area)) for r in counted)
    withheld: Counter[str] = Counter()
    findings: list[ReportFinding] = []
    for r in sorted(primaries, key=lambda r: (Severity(r.severity).rank, r.area, r.created_at)):
        if actor is not None and not policy.can_view_finding(actor, _facts(r), facts):
            if r in counted:
                withheld[r.severity] += 1
            continue
        reporters = [await names.name(r.filer_organisation_id)]
        for dup in duplicates.get(r.id, []):
            if actor is None or policy.can_view_finding(actor, _facts(dup), facts):
                name = await names.name(dup.filer_organisation_id)
                if name not in reporters:
                    reporters.append(name)
        findings.append(
            ReportFinding(
                id=r.id,
                title=r.title,
                severity=Severity(r.severity),
                area=Area(r.area),
                tlp=Tlp(r.tlp),
                status=FindingStatus(r.status),
                reporters=reporters,
                workstream=ws_titles.get(r.workstream_id) if r.workstream_id else None,
                affects_critical_infrastructure=r.affects_critical_infrastructure,
                forward_state=ForwardState(r.forward_state),
                description=r.description,
            )
        )
    per_workstream = Counter(r.workstream_id for r in counted if r.workstream_id is not None)
    issued = await session.scalar(
        select(IssuedReport.created_at)
        .where(IssuedReport.window_id == window_id)
        .order_by(IssuedReport.created_at.desc())
        .limit(1)
    )
    planned_areas = {Area(w.area) for w in workstreams if w.status != WorkstreamStatus.DROPPED.value}
    return ReportOut(
        window_id=window.id,
        model_name=window.model_name,
        model_version=window.model_version,
        lab_organisation_name=await names.name(window.lab_organisation_id),
        window_state=facts.state,
        opened_at=window.access_starts_at or window.opened_at,
        closes_at=window.closes_at,
        closed_at=window.closed_at,
        final=facts.state == "closed",
        generated_at=utcnow(),
        issued_at=issued,
        totals_by_severity={s.value: sum(n for (sv, _), n in by_pair.items() if sv is s) for s in Severity},
        totals_by_area={a.value: sum(n for (_, av), n in by_pair.items() if av is a) for a in Area},
        by_severity_and_area=[
            SeverityCount(severity=s, area=a, count=by_pair[(s, a)])
            for s in Severity
            for a in Area
            if by_pair[(s, a)]
        ],
        findings=findings,
        withheld=dict(withheld),
        duplicates_merged=sum(len(v) for v in duplicates.values()),
        workstreams=[
            WorkstreamCoverage(
                id=w.id,
                title=w.title,
                area=Area(w.area),
                lead_organisation_name=await names.name(w.lead_organisation_id),
                due_date=w.due_date,
                status=WorkstreamStatus(w.status),
                findings=per_workstream.get(w.id, 0),
            )
            for w in workstreams
        ],
        areas_without_workstream=[a for a in Area if a not in planned_areas and a is not Area.OTHER],
        usage=await _usage(session, window_id, names),
    )


def report_sha256(report: ReportOut) -> str:
    """The hash the ledger carries: of the report without its generation time."""
    body = report.model_dump_json(exclude={"generated_at", "issued_at"})
    return hashlib.sha256(body.encode()).hexdigest()


async def issue_report(session: AsyncSession, *, window_id: uuid.UUID, actor: Principal | None) -> ReportOut:
    """Issue the window's report (the final one once closed): recorded with its hash in the ledger.

    ``actor=None`` is the programme (at window close). Issuing the final report twice is harmless:
    the second time returns it without a new entry.
    """
    if actor is not None and not policy.can_triage(actor):
        raise NotFound("no such window")
    full = await build_report(session, window_id=window_id, actor=None)
    if actor is not None:
        await window_facts(session, window_id=window_id, actor=actor)
    if full.final:
        already = await session.scalar(
            select(IssuedReport.id)
            .where(IssuedReport.window_id == window_id, IssuedReport.final.is_(True))
            .limit(1)
        )
        if already is not None:
            return await build_report(session, window_id=window_id, actor=actor)
    sha = report_sha256(full)
    session.add(
        IssuedReport(
            window_id=window_id, final=full.final, sha256=sha, issued_by=actor.person_id if actor else None
        )
    )
    await session.flush()
    await ledger.append(
        session,
        type="assessments.report_issued",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=[("window", window_id)],
        reason=(
            f"The {'final' if full.final else 'interim'} assessment report of a window was issued "
            f"({sum(full.totals_by_severity.values())} findings)"
        ),
        sealed_hashes={"report": f"sha256:{sha}"},
    )
    return await build_report(session, window_id=window_id, actor=actor)


async def issue_final_reports(session: AsyncSession) -> int:
    """Issue the final report of every closed window that has none yet (the programme, at close)."""
    issued = 0
    for window in await review.list_windows(session, actor=None):
        if window.state.value != "closed":
            continue
        exists = await session.scalar(
            select(IssuedReport.id)
            .where(IssuedReport.window_id == window.id, IssuedReport.final.is_(True))
            .limit(1)
        )
        if exists is None:
            await issue_report(session, window_id=window.id, actor=None)
            issued += 1
    return issued


def summary_counts(findings: Iterable[FindingOut]) -> dict[str, int]:
    """Findings per severity (pages' headline counts)."""
    counts = Counter(f.severity.value for f in findings if f.duplicate_of_id is None)
    return {s.value: counts.get(s.value, 0) for s in Severity}


__all__ = [
    "EVIDENCE_TYPES",
    "add_evidence",
    "build_report",
    "check_evidence",
    "file_finding",
    "forward",
    "get_finding",
    "import_garak",
    "import_inspect",
    "issue_final_reports",
    "issue_report",
    "list_findings",
    "list_windows",
    "list_workstreams",
    "mark_critical_infrastructure",
    "merge",
    "plan_workstream",
    "read_evidence",
    "release_to_lab",
    "report_sha256",
    "summary_counts",
    "to_forward",
    "triage",
    "update_workstream",
    "window_facts",
]
