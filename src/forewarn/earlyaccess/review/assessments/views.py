"""Pages of assessments: each window's assessment page (workstreams, findings, the finding form,
imports), a finding's page (evidence, triage, merge, forwarding) and the report (page, JSON, PDF).

Forms post back and redirect (303) on success; a refused or invalid form re-renders its page with
an error that names the field. Everything works without JavaScript.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from forewarn.accounts import service as accounts
from forewarn.accounts.http import require
from forewarn.accounts.policy import Rule
from forewarn.accounts.schemas import OrgKind, Principal
from forewarn.core.errors import ForewarnError, InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import add_nav, render
from forewarn.earlyaccess.review import _pages as pages
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.assessments import api, policy, service
from forewarn.earlyaccess.review.assessments.schemas import (
    AREA_LABELS,
    Area,
    FindingIn,
    FindingStatus,
    MergeIn,
    Severity,
    Tlp,
    TriageIn,
    WorkstreamIn,
    WorkstreamStatus,
    WorkstreamUpdate,
)

router = APIRouter(include_in_schema=False)
add_nav("Assessments", "/assessments", show=policy.can_use_assessments)

Participant = Annotated[Principal, Depends(require(policy.can_use_assessments))]
Planner = Annotated[Principal, Depends(require(policy.can_plan_workstreams))]
Filer = Annotated[Principal, Depends(require(policy.can_file_findings))]
Triager = Annotated[Principal, Depends(require(policy.can_triage))]
ReportReader = Annotated[Principal, Depends(require(policy.can_read_reports))]


async def _form(request: Request) -> tuple[dict[str, str], list[UploadFile]]:
    form = await request.form()
    fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    files = [f for f in form.getlist("evidence") if isinstance(f, UploadFile) and f.filename]
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        files.insert(0, file)
    return fields, files


# --- the list of windows -----------------------------------------------------------------------------


@router.get("/assessments", name="assessments")
async def windows_page(request: Request, session: Session, actor: Participant) -> Response:
    """The windows you take part in; coordinators also see what waits to be forwarded."""
    windows = await service.list_windows(session, actor=actor)
    return render(
        request,
        "assessments/windows.html",
        windows=windows,
        to_forward=await service.to_forward(session, actor=actor),
        is_coordinator=policy.is_coordinator(actor),
    )


# --- a window's assessment page --------------------------------------------------------------------------


async def _window_page(
    request: Request,
    session: Session,
    actor: Principal,
    window_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    window, facts = await service.window_facts(session, window_id=window_id, actor=actor)
    findings = await service.list_findings(session, window_id=window_id, actor=actor)
    workstreams = await service.list_workstreams(session, window_id=window_id, actor=actor)
    names = service.OrgNames(session)
    assessors: dict[uuid.UUID, str] = {}
    if policy.can_plan_workstreams(actor):
        for org in await accounts.list_organisations(session, actor=None, kind=OrgKind.AGENCY):
            assessors[org.id] = org.name
        for org_id in sorted(facts.participants - {facts.lab_organisation_id}):
            assessors[org_id] = await names.name(org_id)
    return render(
        request,
        "assessments/window.html",
        status_code=status_code,
        window=window,
        state=facts.state,
        lab_name=await names.name(facts.lab_organisation_id),
        findings=findings,
        counts=service.summary_counts(findings),
        workstreams=workstreams,
        workstream_titles={w.id: w.title for w in workstreams},
        assessors=assessors,
        can_plan=policy.can_plan_workstreams(actor) and facts.state != "closed",
        can_file=policy.can_file_in_window(actor, facts),
        can_report=policy.can_read_report(actor, facts),
        can_issue=policy.can_triage(actor),
        channel=await review.can_use_channel(session, model_id=window.model_id, actor=actor),
        areas=list(Area),
        area_labels=AREA_LABELS,
        severities=list(Severity),
        tlps=list(Tlp),
        workstream_statuses=list(WorkstreamStatus),
        done=pages.notice(request),
        error=error,
        values=values or {},
    )


@router.get("/assessments/windows/{window_id}", name="assessment_window")
async def window_page(
    window_id: uuid.UUID, request: Request, session: Session, actor: Participant
) -> Response:
    """Workstreams, findings (under TLP), the finding form and imports of one window."""
    return await _window_page(request, session, actor, window_id)


@router.post("/assessments/windows/{window_id}/workstreams", name="assessment_plan_workstream")
async def plan_from_page(
    window_id: uuid.UUID, request: Request, session: Session, actor: Planner
) -> Response:
    fields, _ = await _form(request)
    form = await request.form()
    members = [m for m in form.getlist("member_organisation_ids") if isinstance(m, str) and m]
    try:
        data = WorkstreamIn.model_validate(
            {
                "title": fields.get("title", ""),
                "area": fields.get("area", ""),
                "lead_organisation_id": fields.get("lead_organisation_id", ""),
                "member_organisation_ids": members,
                "due_date": fields.get("due_date", ""),
                "notes": fields.get("notes", ""),
            }
        )
    except ValidationError as exc:
        return await _window_page(
            request, session, actor, window_id, error=pages.field_errors(exc), status_code=422
        )
    try:
        await service.plan_workstream(session, window_id=window_id, data=data, actor=actor)
    except ForewarnError as exc:
        if exc.status_code == 404:
            raise
        return await _window_page(
            request, session, actor, window_id, error=str(exc), status_code=exc.status_code
        )
    return pages.done(f"/assessments/windows/{window_id}", "workstream-planned")


@router.post("/assessments/workstreams/{workstream_id}", name="assessment_update_workstream")
async def update_workstream_from_page(
    workstream_id: uuid.UUID, request: Request, session: Session, actor: Planner
) -> Response:
    fields, _ = await _form(request)
    try:
        data = WorkstreamUpdate.model_validate({"status": fields.get("status", "")})
    except ValidationError as exc:
        raise InvalidInput(
            "invalid workstream status", problems=[Problem("status", pages.field_errors(exc))]
        ) from None
    out = await service.update_workstream(session, workstream_id=workstream_id, data=data, actor=actor)
    return pages.done(f"/assessments/windows/{out.window_id}", "workstream-updated")


@router.post("/assessments/windows/{window_id}/findings", name="assessment_file_finding")
async def file_from_page(
    window_id: uuid.UUID, request: Request, session: Session, runtime: RuntimeDep, actor: Filer
) -> Response:
    """File a finding with optional evidence files (multipart field ``evidence``)."""
    fields, files = await _form(request)
    values = {
        k: fields.get(k, "")
        for k in ("title", "severity", "area", "tlp", "workstream_id", "description", "reproduction")
    }
    try:
        data = FindingIn.model_validate(
            {
                "title": fields.get("title", ""),
                "severity": fields.get("severity", ""),
                "area": fields.get("area", ""),
                "tlp": fields.get("tlp") or Tlp.AMBER.value,
                "workstream_id": fields.get("workstream_id") or None,
                "description": fields.get("description", ""),
                "reproduction": fields.get("reproduction", ""),
                "release_to_lab": fields.get("release_to_lab") == "yes",
            }
        )
    except ValidationError as exc:
        return await _window_page(
            request, session, actor, window_id, error=pages.field_errors(exc), status_code=422, values=values
        )
    limit = runtime.settings.assessment_max_evidence_bytes
    try:
        attachments = [(f.filename, await api.read_upload(f, limit, "evidence")) for f in files]
        out = await service.file_finding(
            session,
            window_id=window_id,
            data=data,
            actor=actor,
            key=runtime.keys.data,
            attachments=attachments,
            max_evidence_bytes=limit,
        )
    except ForewarnError as exc:
        if exc.status_code == 404:
            raise
        return await _window_page(
            request,
            session,
            actor,
            window_id,
            error=str(exc),
            status_code=exc.status_code,
            values=values,
        )
    return pages.done(f"/assessments/findings/{out.id}", "finding-filed")


@router.post("/assessments/windows/{window_id}/imports/{kind}", name="assessment_import")
async def import_from_page(
    window_id: uuid.UUID, kind: str, request: Request, session: Session, runtime: RuntimeDep, actor: Filer
) -> Response:
    """Import a garak report or an Inspect eval log as findings."""
    fields, files = await _form(request)
    if kind not in ("garak", "inspect"):
        return await _window_page(
            request, session, actor, window_id, error="kind: garak or inspect", status_code=404
        )
    if not files:
        return await _window_page(
            request, session, actor, window_id, error="file: choose a file", status_code=422
        )
    lim = api.limits(runtime)
    try:
        tlp = Tlp(fields.get("tlp") or Tlp.AMBER.value)
        workstream_id = uuid.UUID(fields["workstream_id"]) if fields.get("workstream_id") else None
        severity = Severity(fields.get("severity") or Severity.INFORMATIONAL.value)
        area = Area(fields.get("area") or Area.OTHER.value)
    except ValueError:
        return await _window_page(
            request,
            session,
            actor,
            window_id,
            error="tlp, severity, area or workstream_id: not a valid choice",
            status_code=422,
        )
    try:
        blob = await api.read_upload(files[0], lim.max_bytes)
        if kind == "garak":
            await service.import_garak(
                session,
                window_id=window_id,
                blob=blob,
                tlp=tlp,
                workstream_id=workstream_id,
                actor=actor,
                key=runtime.keys.data,
                limits=lim,
            )
        else:
            await service.import_inspect(
                session,
                window_id=window_id,
                blob=blob,
                filename=files[0].filename or "inspect-log",
                tlp=tlp,
                severity=severity,
                area=area,
                workstream_id=workstream_id,
                actor=actor,
                key=runtime.keys.data,
                limits=lim,
            )
    except ForewarnError as exc:
        if exc.status_code == 404:
            raise
        return await _window_page(
            request,
            session,
            actor,
            window_id,
            error=f"{kind}: {exc!s}",
            status_code=exc.status_code,
        )
    return pages.done(f"/assessments/windows/{window_id}", "imported")


# --- a finding ---------------------------------------------------------------------------------------------


async def _finding_page(
    request: Request,
    session: Session,
    actor: Principal,
    finding_id: uuid.UUID,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    finding = await service.get_finding(session, finding_id=finding_id, actor=actor)
    window, facts = await service.window_facts(session, window_id=finding.window_id, actor=actor)
    others: list[Any] = []
    if finding.can_triage and finding.duplicate_of_id is None:
        others = [
            f
            for f in await service.list_findings(session, window_id=finding.window_id, actor=actor)
            if f.id != finding.id and f.duplicate_of_id is None
        ]
    return render(
        request,
        "assessments/finding.html",
        status_code=status_code,
        finding=finding,
        window=window,
        state=facts.state,
        others=others,
        statuses=[s for s in FindingStatus if s is not FindingStatus.DUPLICATE],
        area_labels=AREA_LABELS,
        can_release=finding.tlp is Tlp.RED
        and not finding.release_to_lab
        and policy.can_release_to_lab(
            actor, policy.FindingFacts(tlp=finding.tlp, filer_organisation_id=finding.filer_organisation_id)
        ),
        done=pages.notice(request),
        error=error,
    )


@router.get("/assessments/findings/{finding_id}", name="assessment_finding")
async def finding_page(
    finding_id: uuid.UUID, request: Request, session: Session, actor: Participant
) -> Response:
    return await _finding_page(request, session, actor, finding_id)


async def _act(
    request: Request,
    session: Session,
    actor: Principal,
    finding_id: uuid.UUID,
    code: str,
    action: Awaitable[object],
) -> Response:
    """A finding form's service call: back to the finding with the notice ``code``, or its page with
    the refusal."""
    return await pages.attempt(
        action,
        then=pages.done(f"/assessments/findings/{finding_id}", code),
        refused=lambda exc: _finding_page(
            request, session, actor, finding_id, error=str(exc), status_code=exc.status_code
        ),
    )


@router.post("/assessments/findings/{finding_id}/triage", name="assessment_triage")
async def triage_from_page(
    finding_id: uuid.UUID, request: Request, session: Session, actor: Triager
) -> Response:
    fields, _ = await _form(request)
    try:
        data = TriageIn.model_validate({"status": fields.get("status", ""), "note": fields.get("note", "")})
    except ValidationError as exc:
        return await _finding_page(
            request, session, actor, finding_id, error=pages.field_errors(exc), status_code=422
        )
    return await _act(
        request,
        session,
        actor,
        finding_id,
        "triaged",
        service.triage(session, finding_id=finding_id, data=data, actor=actor),
    )


@router.post("/assessments/findings/{finding_id}/merge", name="assessment_merge")
async def merge_from_page(
    finding_id: uuid.UUID, request: Request, session: Session, actor: Triager
) -> Response:
    """Merge another finding into this one (this one is the primary)."""
    fields, _ = await _form(request)
    try:
        duplicate = MergeIn.model_validate({"primary_id": fields.get("duplicate_id", "")}).primary_id
    except ValidationError:
        return await _finding_page(
            request, session, actor, finding_id, error="duplicate_id: choose a finding", status_code=422
        )
    return await _act(
        request,
        session,
        actor,
        finding_id,
        "merged",
        service.merge(session, finding_id=duplicate, primary_id=finding_id, actor=actor),
    )


#: One-click steps on a finding's page: (path under the finding, route name, who may, notice, service call).
_STEPS: tuple[tuple[str, str, Rule, str, Callable[..., Awaitable[object]]], ...] = (
    (
        "critical-infrastructure",
        "assessment_critical",
        policy.can_triage,
        "critical",
        service.mark_critical_infrastructure,
    ),
    ("forward", "assessment_forward", policy.can_triage, "forwarded", service.forward),
    (
        "release-to-lab",
        "assessment_release",
        policy.can_file_findings,
        "finding-released",
        service.release_to_lab,
    ),
)


def _step_route(rule: Rule, code: str, step: Callable[..., Awaitable[object]]) -> Callable[..., Any]:
    """The page route of a one-click step: ``step(session, finding_id=..., actor=...)``, then back."""
    allowed = Depends(require(rule))

    async def route(
        finding_id: uuid.UUID, request: Request, session: Session, actor: Principal = allowed
    ) -> Response:
        work = step(session, finding_id=finding_id, actor=actor)
        return await _act(request, session, actor, finding_id, code, work)

    return route


for _path, _name, _rule, _code, _step in _STEPS:
    router.add_api_route(
        f"/assessments/findings/{{finding_id}}/{_path}",
        _step_route(_rule, _code, _step),
        methods=["POST"],
        name=_name,
    )


@router.post("/assessments/findings/{finding_id}/evidence", name="assessment_add_evidence")
async def evidence_from_page(
    finding_id: uuid.UUID, request: Request, session: Session, runtime: RuntimeDep, actor: Filer
) -> Response:
    _, files = await _form(request)
    if not files:
        return await _finding_page(
            request, session, actor, finding_id, error="file: choose a file", status_code=422
        )
    limit = runtime.settings.assessment_max_evidence_bytes

    async def add() -> None:
        blob = await api.read_upload(files[0], limit)
        await service.add_evidence(
            session,
            finding_id=finding_id,
            filename=files[0].filename,
            data=blob,
            actor=actor,
            key=runtime.keys.data,
            max_bytes=limit,
        )

    return await _act(request, session, actor, finding_id, "evidence-added", add())


@router.get("/assessments/findings/{finding_id}/evidence/{evidence_id}", name="assessment_evidence")
async def evidence_download(
    finding_id: uuid.UUID, evidence_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Participant
) -> Response:
    return await api.get_evidence(finding_id, evidence_id, session, runtime, actor)


# --- the report --------------------------------------------------------------------------------------------


@router.get("/assessments/windows/{window_id}/report", name="assessment_report")
async def report_page(
    window_id: uuid.UUID, request: Request, session: Session, actor: ReportReader
) -> Response:
    """Findings by severity and area, workstream coverage and model use; JSON and PDF downloads."""
    out = await service.build_report(session, window_id=window_id, actor=actor)
    return render(
        request,
        "assessments/report.html",
        report=out,
        severities=list(Severity),
        areas=list(Area),
        area_labels=AREA_LABELS,
        counts={(c.severity, c.area): c.count for c in out.by_severity_and_area},
        can_issue=policy.can_triage(actor),
        done=pages.notice(request),
    )


@router.get("/assessments/windows/{window_id}/report.json", name="assessment_report_json")
async def report_json(window_id: uuid.UUID, session: Session, actor: ReportReader) -> Response:
    out = await service.build_report(session, window_id=window_id, actor=actor)
    return Response(
        out.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="assessment-report-{window_id}.json"'},
    )


@router.get("/assessments/windows/{window_id}/report.pdf", name="assessment_report_pdf")
async def report_pdf(window_id: uuid.UUID, session: Session, actor: ReportReader) -> Response:
    return api.pdf_response(await service.build_report(session, window_id=window_id, actor=actor))


@router.post("/assessments/windows/{window_id}/report", name="assessment_issue_report")
async def issue_from_page(window_id: uuid.UUID, session: Session, actor: Triager) -> Response:
    await service.issue_report(session, window_id=window_id, actor=actor)
    return pages.done(f"/assessments/windows/{window_id}/report", "report-issued")
