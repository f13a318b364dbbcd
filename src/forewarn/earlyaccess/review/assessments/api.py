"""JSON API of assessments, under ``/api/v1/assessments``.

Coordinators plan workstreams, triage, merge, forward and issue reports; reviewers file findings,
attach evidence and import garak reports and Inspect logs; labs read the final report. Which
window and which finding a caller may touch is decided by the service (TLP and the window).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from fastapi.responses import Response
from starlette.datastructures import UploadFile as StarletteUploadFile

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import InvalidInput, Problem, TooLarge
from forewarn.core.http import RuntimeDep, Session
from forewarn.earlyaccess.review.assessments import imports, policy, report, service
from forewarn.earlyaccess.review.assessments.schemas import (
    Area,
    EvidenceOut,
    FindingDetail,
    FindingIn,
    FindingOut,
    ImportOut,
    MergeIn,
    ReportOut,
    Severity,
    Tlp,
    TriageIn,
    WorkstreamIn,
    WorkstreamOut,
    WorkstreamUpdate,
)
from forewarn.earlyaccess.review.schemas import WindowOut

router = APIRouter(prefix="/assessments", tags=["assessments"])

Participant = Annotated[Principal, Depends(require(policy.can_use_assessments))]
Planner = Annotated[Principal, Depends(require(policy.can_plan_workstreams))]
Filer = Annotated[Principal, Depends(require(policy.can_file_findings))]
Triager = Annotated[Principal, Depends(require(policy.can_triage))]
ReportReader = Annotated[Principal, Depends(require(policy.can_read_reports))]


async def read_upload(upload: StarletteUploadFile, limit: int, what: str = "file") -> bytes:
    """The uploaded file's bytes, refused (413) beyond ``limit``."""
    blob = await upload.read(limit + 1)
    if len(blob) > limit:
        raise TooLarge(
            f"the {what} is larger than the upload limit",
            problems=[Problem(what, f"more than {limit} bytes")],
        )
    if not blob:
        raise InvalidInput(f"the {what} is empty", problems=[Problem(what, "choose a file")])
    return blob


def limits(runtime: Any) -> imports.Limits:
    return imports.Limits(
        max_bytes=runtime.settings.assessment_max_evidence_bytes,
        max_lines=runtime.settings.assessment_max_import_lines,
    )


def pdf_response(out: ReportOut) -> Response:
    name = f"assessment-report-{out.window_id}.pdf"
    return Response(
        report.render_pdf(out),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/windows", response_model=list[WindowOut])
async def list_windows(session: Session, actor: Participant) -> list[WindowOut]:
    """Review windows you take part in (every window for coordinators)."""
    return await service.list_windows(session, actor=actor)


@router.get("/windows/{window_id}/workstreams", response_model=list[WorkstreamOut])
async def list_workstreams(window_id: uuid.UUID, session: Session, actor: Participant) -> list[WorkstreamOut]:
    return await service.list_workstreams(session, window_id=window_id, actor=actor)


@router.post(
    "/windows/{window_id}/workstreams", response_model=WorkstreamOut, status_code=status.HTTP_201_CREATED
)
async def plan_workstream(
    window_id: uuid.UUID, data: WorkstreamIn, session: Session, actor: Planner
) -> WorkstreamOut:
    """Plan a workstream: area, lead organisation, members, due date (assessment coordinators)."""
    return await service.plan_workstream(session, window_id=window_id, data=data, actor=actor)


@router.post("/workstreams/{workstream_id}", response_model=WorkstreamOut)
async def update_workstream(
    workstream_id: uuid.UUID, data: WorkstreamUpdate, session: Session, actor: Planner
) -> WorkstreamOut:
    return await service.update_workstream(session, workstream_id=workstream_id, data=data, actor=actor)


@router.get("/windows/{window_id}/findings", response_model=list[FindingOut])
async def list_findings(window_id: uuid.UUID, session: Session, actor: Participant) -> list[FindingOut]:
    """The window's findings you may read under their TLP labels."""
    return await service.list_findings(session, window_id=window_id, actor=actor)


@router.post(
    "/windows/{window_id}/findings", response_model=FindingDetail, status_code=status.HTTP_201_CREATED
)
async def file_finding(
    window_id: uuid.UUID, data: FindingIn, session: Session, runtime: RuntimeDep, actor: Filer
) -> FindingDetail:
    """File a finding (reviewers of an organisation taking part; coordinators). Add evidence after."""
    return await service.file_finding(
        session, window_id=window_id, data=data, actor=actor, key=runtime.keys.data
    )


@router.post(
    "/windows/{window_id}/imports/garak", response_model=ImportOut, status_code=status.HTTP_201_CREATED
)
async def import_garak(
    window_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: Filer,
    file: Annotated[UploadFile, File(description="a garak report (garak.<run>.report.jsonl)")],
    tlp: Annotated[Tlp, Form()] = Tlp.AMBER,
    workstream_id: Annotated[uuid.UUID | None, Form()] = None,
) -> ImportOut:
    """One finding per garak probe with failed outputs, with pass rates; failing attempts as evidence."""
    lim = limits(runtime)
    blob = await read_upload(file, lim.max_bytes)
    return await service.import_garak(
        session,
        window_id=window_id,
        blob=blob,
        tlp=tlp,
        workstream_id=workstream_id,
        actor=actor,
        key=runtime.keys.data,
        limits=lim,
    )


@router.post(
    "/windows/{window_id}/imports/inspect", response_model=ImportOut, status_code=status.HTTP_201_CREATED
)
async def import_inspect(
    window_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: Filer,
    file: Annotated[UploadFile, File(description="an Inspect eval log (.eval or .json)")],
    tlp: Annotated[Tlp, Form()] = Tlp.AMBER,
    severity: Annotated[Severity, Form()] = Severity.INFORMATIONAL,
    area: Annotated[Area, Form()] = Area.OTHER,
    workstream_id: Annotated[uuid.UUID | None, Form()] = None,
) -> ImportOut:
    """One finding summarising an Inspect eval log (task, model, scores); the log is its evidence."""
    lim = limits(runtime)
    blob = await read_upload(file, lim.max_bytes)
    return await service.import_inspect(
        session,
        window_id=window_id,
        blob=blob,
        filename=file.filename or "inspect-log",
        tlp=tlp,
        severity=severity,
        area=area,
        workstream_id=workstream_id,
        actor=actor,
        key=runtime.keys.data,
        limits=lim,
    )


@router.get("/findings/to-forward", response_model=list[FindingOut])
async def to_forward(session: Session, actor: Triager) -> list[FindingOut]:
    """Findings affecting critical infrastructure that wait to be forwarded, with the reason."""
    return await service.to_forward(session, actor=actor)


@router.get("/findings/{finding_id}", response_model=FindingDetail)
async def get_finding(finding_id: uuid.UUID, session: Session, actor: Participant) -> FindingDetail:
    return await service.get_finding(session, finding_id=finding_id, actor=actor)


@router.post(
    "/findings/{finding_id}/evidence", response_model=EvidenceOut, status_code=status.HTTP_201_CREATED
)
async def add_evidence(
    finding_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: Filer,
    file: Annotated[UploadFile, File(description="evidence: text, JSON(L), CSV, PDF, PNG, JPEG, zip, .eval")],
) -> EvidenceOut:
    """Attach an evidence file (sealed at rest)."""
    limit = runtime.settings.assessment_max_evidence_bytes
    blob = await read_upload(file, limit)
    return await service.add_evidence(
        session,
        finding_id=finding_id,
        filename=file.filename,
        data=blob,
        actor=actor,
        key=runtime.keys.data,
        max_bytes=limit,
    )


@router.get("/findings/{finding_id}/evidence/{evidence_id}")
async def get_evidence(
    finding_id: uuid.UUID, evidence_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Participant
) -> Response:
    """Download an evidence file (readers of its finding)."""
    meta, data = await service.read_evidence(
        session, finding_id=finding_id, evidence_id=evidence_id, actor=actor, key=runtime.keys.data
    )
    return Response(
        data,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{meta.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/findings/{finding_id}/triage", response_model=FindingDetail)
async def triage(finding_id: uuid.UUID, data: TriageIn, session: Session, actor: Triager) -> FindingDetail:
    return await service.triage(session, finding_id=finding_id, data=data, actor=actor)


@router.post("/findings/{finding_id}/merge", response_model=FindingDetail)
async def merge(finding_id: uuid.UUID, data: MergeIn, session: Session, actor: Triager) -> FindingDetail:
    """Merge this finding into ``primary_id`` as its duplicate; returns the primary with both reporters."""
    return await service.merge(session, finding_id=finding_id, primary_id=data.primary_id, actor=actor)


@router.post("/findings/{finding_id}/critical-infrastructure", response_model=FindingDetail)
async def mark_critical_infrastructure(
    finding_id: uuid.UUID, session: Session, actor: Triager
) -> FindingDetail:
    """Mark as affecting critical infrastructure: forwarded to the clearinghouse, or left "to forward"."""
    return await service.mark_critical_infrastructure(session, finding_id=finding_id, actor=actor)


@router.post("/findings/{finding_id}/forward", response_model=FindingDetail)
async def forward(finding_id: uuid.UUID, session: Session, actor: Triager) -> FindingDetail:
    """Try again to forward a finding waiting "to forward"."""
    return await service.forward(session, finding_id=finding_id, actor=actor)


@router.post("/findings/{finding_id}/release-to-lab", response_model=FindingDetail)
async def release_to_lab(finding_id: uuid.UUID, session: Session, actor: Filer) -> FindingDetail:
    """Let the lab read your organisation's TLP:RED finding (otherwise its report only counts it)."""
    return await service.release_to_lab(session, finding_id=finding_id, actor=actor)


@router.get("/windows/{window_id}/report", response_model=ReportOut)
async def get_report(
    window_id: uuid.UUID,
    session: Session,
    actor: ReportReader,
    format: Annotated[str, Query(pattern="^(json|pdf)$")] = "json",
) -> Any:
    """The window's report (coordinators any time; the lab once the window closed); ``?format=pdf``."""
    out = await service.build_report(session, window_id=window_id, actor=actor)
    return pdf_response(out) if format == "pdf" else out


@router.get("/windows/{window_id}/report.pdf")
async def get_report_pdf(window_id: uuid.UUID, session: Session, actor: ReportReader) -> Response:
    return pdf_response(await service.build_report(session, window_id=window_id, actor=actor))


@router.post("/windows/{window_id}/report", response_model=ReportOut, status_code=status.HTTP_201_CREATED)
async def issue_report(window_id: uuid.UUID, session: Session, actor: Triager) -> ReportOut:
    """Issue the report now (coordinators): recorded in the transparency log with its hash."""
    return await service.issue_report(session, window_id=window_id, actor=actor)
