"""JSON API of the clearinghouse's advisory side, under ``/api/v1/clearinghouse`` and ``/api/v1/advisories``.

Documents (OSV, CSAF 2.0, CVE JSON 5, SARIF 2.1.0, garak JSONL) are sent as the request body itself
(or as multipart files): forewarn hashes and parses the exact bytes it received.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status

from forewarn.accounts.http import public, require
from forewarn.accounts.policy import signed_in
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories import policy, service
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory
from forewarn.clearinghouse.advisories.intake import named, parse_document
from forewarn.clearinghouse.advisories.jsondoc import parse_json
from forewarn.clearinghouse.advisories.records import (
    AssignIn,
    CaseDetail,
    CaseOut,
    CaseState,
    DuplicateIn,
    EmbargoIn,
    KevImportOut,
    MergeIn,
    NoticeOut,
    PublicAdvisoryOut,
    PublicationOut,
    RejectIn,
    ReportDetail,
    ReportForm,
    ReportOut,
    ReportState,
    ReproductionIn,
    ReviseIn,
    ScoreIn,
    SourceFormat,
    Suggestion,
    TlpIn,
    ValidateIn,
    ValidationOut,
    VendorIn,
    VendorOut,
    VendorStatusIn,
    VendorStatusOut,
    VulnerabilityOut,
)
from forewarn.clearinghouse.advisories.schemas import Tlp
from forewarn.core.errors import InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["clearinghouse"])

Reporter = Annotated[Principal, Depends(require(policy.can_report))]
Analyst = Annotated[Principal, Depends(require(policy.is_analyst))]
SignedIn = Annotated[Principal, Depends(require(signed_in))]
Anyone = Annotated[Principal | None, Depends(public())]


def _config(runtime: Any) -> service.Config:
    return service.config_from(runtime.settings)


async def _body(request: Request) -> bytes:
    raw = await request.body()
    if not raw:
        raise InvalidInput("send the document as the request body", problems=[Problem("body", "is empty")])
    return raw


@router.post("/clearinghouse/reports", response_model=list[ReportOut], status_code=status.HTTP_201_CREATED)
async def submit_document(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Reporter,
    tlp: Annotated[Tlp, Query(description="who may read the report (TLP 2.0)")] = Tlp.AMBER,
    format: Annotated[SourceFormat | None, Query(description="checked against the content")] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> list[ReportOut]:
    """Report vulnerabilities: the body is one OSV, CSAF 2.0, CVE JSON 5, SARIF 2.1.0 or garak document."""
    return await service.submit_document(
        session,
        raw=await _body(request),
        filename=filename,
        tlp=tlp,
        actor=actor,
        declared=format,
        config=_config(runtime),
    )


@router.post(
    "/clearinghouse/reports/upload", response_model=list[ReportOut], status_code=status.HTTP_201_CREATED
)
async def upload_documents(
    session: Session,
    runtime: RuntimeDep,
    actor: Reporter,
    files: Annotated[list[UploadFile], File(description="one or more documents")],
    tlp: Annotated[Tlp, Form()] = Tlp.AMBER,
) -> list[ReportOut]:
    """Report vulnerabilities from uploaded files; all are checked before any is stored."""
    config = _config(runtime)
    if len(files) > runtime.settings.advisory_max_files:
        raise InvalidInput(
            "too many files", problems=[Problem("files", f"at most {runtime.settings.advisory_max_files}")]
        )
    parsed = []
    for upload in files:
        raw = await upload.read(config.limits.max_bytes + 1)
        parsed.append((upload.filename, parse_document(raw, filename=upload.filename, limits=config.limits)))
    out: list[ReportOut] = []
    for name, item in parsed:
        out += await service.submit_parsed(session, parsed=item, filename=name, tlp=tlp, actor=actor)
    return out


@router.post("/clearinghouse/reports/form", response_model=ReportOut, status_code=status.HTTP_201_CREATED)
async def submit_form(data: ReportForm, session: Session, actor: Reporter) -> ReportOut:
    """Report a vulnerability in plain language (what happened, what product, how bad, who may know)."""
    return await service.submit_form(session, data=data, actor=actor)


@router.post("/clearinghouse/validate", response_model=ValidationOut)
async def validate_document(
    request: Request,
    runtime: RuntimeDep,
    _: Reporter,
    format: Annotated[SourceFormat | None, Query()] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> ValidationOut:
    """Check a document as a report would be checked, without storing anything."""
    name = filename or "document"
    try:
        parsed = parse_document(
            await _body(request), filename=name, declared=format, limits=_config(runtime).limits
        )
    except InvalidAdvisory as exc:
        return ValidationOut(
            source=name,
            format=None,
            ok=False,
            message=exc.message,
            problems=[{"field": p.field, "message": p.message} for p in exc.problems],
        )
    return ValidationOut(
        source=name, format=parsed.format, ok=True, advisories=[a.id for a in parsed.advisories]
    )


@router.get("/clearinghouse/reports", response_model=list[ReportOut])
async def list_reports(
    session: Session, actor: SignedIn, state: Annotated[list[ReportState] | None, Query()] = None
) -> list[ReportOut]:
    """Analysts: the queue (every report); others: their organisation's reports."""
    return await service.list_reports(session, actor=actor, states=state)


@router.get("/clearinghouse/reports/{report_id}", response_model=ReportDetail)
async def get_report(report_id: uuid.UUID, session: Session, actor: SignedIn) -> ReportDetail:
    return await service.get_report(session, report_id=report_id, actor=actor)


@router.get("/clearinghouse/reports/{report_id}/suggestions", response_model=list[Suggestion])
async def report_suggestions(report_id: uuid.UUID, session: Session, actor: Analyst) -> list[Suggestion]:
    """Possible duplicates: shared ids, or the same package with overlapping ranges."""
    return await service.suggestions(session, report_id=report_id, actor=actor)


@router.post("/clearinghouse/reports/{report_id}/assign", response_model=ReportOut)
async def assign(report_id: uuid.UUID, data: AssignIn, session: Session, actor: Analyst) -> ReportOut:
    return await service.assign(session, report_id=report_id, actor=actor, person_id=data.person_id)


@router.post("/clearinghouse/reports/{report_id}/reproduction", response_model=ReportOut)
async def reproduction(
    report_id: uuid.UUID, data: ReproductionIn, session: Session, actor: Analyst
) -> ReportOut:
    return await service.add_reproduction(session, report_id=report_id, notes=data.notes, actor=actor)


@router.post("/clearinghouse/reports/{report_id}/validate", response_model=CaseOut)
async def validate_report(
    report_id: uuid.UUID, data: ValidateIn, session: Session, runtime: RuntimeDep, actor: Analyst
) -> CaseOut:
    """Validate: the report becomes a vulnerability of a new case (or of an open case given)."""
    return await service.validate(
        session,
        report_id=report_id,
        actor=actor,
        case_id=data.case_id,
        tlp=data.tlp,
        embargo_until=data.embargo_until,
        config=_config(runtime),
    )


@router.post("/clearinghouse/reports/{report_id}/reject", response_model=ReportOut)
async def reject_report(report_id: uuid.UUID, data: RejectIn, session: Session, actor: Analyst) -> ReportOut:
    return await service.reject(session, report_id=report_id, reason=data.reason, actor=actor)


@router.post("/clearinghouse/reports/{report_id}/duplicate", response_model=ReportOut)
async def duplicate_report(
    report_id: uuid.UUID, data: DuplicateIn, session: Session, actor: Analyst
) -> ReportOut:
    """A duplicate of a case's vulnerability: its ids are merged in as aliases."""
    return await service.mark_duplicate(
        session, report_id=report_id, case_id=data.case_id, ordinal=data.ordinal, actor=actor
    )


@router.get("/clearinghouse/cases", response_model=list[CaseOut])
async def list_cases(
    session: Session, actor: SignedIn, state: Annotated[list[CaseState] | None, Query()] = None
) -> list[CaseOut]:
    """The cases the caller may read under their TLP."""
    return await service.list_cases(session, actor=actor, states=state)


@router.get("/clearinghouse/cases/{case_id}", response_model=CaseDetail)
async def get_case(case_id: uuid.UUID, session: Session, actor: SignedIn) -> CaseDetail:
    return await service.get_case(session, case_id=case_id, actor=actor)


@router.post(
    "/clearinghouse/cases/{case_id}/vendors", response_model=VendorOut, status_code=status.HTTP_201_CREATED
)
async def add_vendor(case_id: uuid.UUID, data: VendorIn, session: Session, actor: Analyst) -> VendorOut:
    """Ask a vendor to coordinate; it gets a notice and can state its status."""
    return await service.add_vendor(
        session, case_id=case_id, organisation_id=data.organisation_id, actor=actor
    )


@router.post(
    "/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}/score", response_model=VulnerabilityOut
)
async def score(
    case_id: uuid.UUID, ordinal: int, data: ScoreIn, session: Session, actor: Analyst
) -> VulnerabilityOut:
    return await service.score(session, case_id=case_id, ordinal=ordinal, vector=data.vector, actor=actor)


@router.put("/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}", response_model=VulnerabilityOut)
async def replace_vulnerability(
    case_id: uuid.UUID, ordinal: int, request: Request, session: Session, actor: Analyst
) -> VulnerabilityOut:
    """Replace what a vulnerability says with an OSV record (the body); its id and aliases stay."""
    from forewarn.clearinghouse.advisories.osv import from_osv

    try:
        advisory = from_osv(parse_json(await _body(request), max_bytes=1_048_576, what="OSV record"))
    except InvalidAdvisory as exc:
        raise named(exc, "body") from None
    return await service.update_vulnerability(
        session, case_id=case_id, ordinal=ordinal, advisory=advisory, actor=actor
    )


@router.post(
    "/clearinghouse/cases/{case_id}/vulnerabilities/{ordinal}/status", response_model=VendorStatusOut
)
async def vendor_status(
    case_id: uuid.UUID, ordinal: int, data: VendorStatusIn, session: Session, actor: SignedIn
) -> VendorStatusOut:
    """A vendor on the case: affected, not affected or under investigation, with a statement."""
    return await service.set_vendor_status(
        session,
        case_id=case_id,
        ordinal=ordinal,
        status=data.status,
        statement=data.statement,
        organisation_id=data.organisation_id,
        actor=actor,
    )


@router.post("/clearinghouse/cases/{case_id}/embargo", response_model=CaseOut)
async def set_embargo(case_id: uuid.UUID, data: EmbargoIn, session: Session, actor: Analyst) -> CaseOut:
    return await service.set_embargo(
        session, case_id=case_id, until=data.until, reason=data.reason, actor=actor
    )


@router.post("/clearinghouse/cases/{case_id}/tlp", response_model=CaseOut)
async def set_tlp(case_id: uuid.UUID, data: TlpIn, session: Session, actor: Analyst) -> CaseOut:
    return await service.set_tlp(session, case_id=case_id, tlp=data.tlp, actor=actor)


@router.post("/clearinghouse/cases/{case_id}/merge", response_model=CaseOut)
async def merge_case(case_id: uuid.UUID, data: MergeIn, session: Session, actor: Analyst) -> CaseOut:
    """Merge this (duplicate) case into another; every alias is kept."""
    return await service.merge_cases(session, case_id=case_id, into_case_id=data.into_case_id, actor=actor)


@router.post("/clearinghouse/cases/{case_id}/publish", response_model=PublicationOut)
async def publish(
    case_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: Analyst
) -> PublicationOut:
    """Publish: TLP:CLEAR, public page, CSAF document, OSV records, transparency-log entry."""
    return await service.publish(session, case_id=case_id, actor=actor, config=_config(runtime))


@router.post("/clearinghouse/cases/{case_id}/revise", response_model=PublicationOut)
async def revise(
    case_id: uuid.UUID, data: ReviseIn, session: Session, runtime: RuntimeDep, actor: Analyst
) -> PublicationOut:
    """Publish a new revision; the revision history says what changed."""
    return await service.revise(
        session, case_id=case_id, summary=data.summary, actor=actor, config=_config(runtime)
    )


@router.get("/clearinghouse/notices", response_model=list[NoticeOut])
async def notices(session: Session, actor: SignedIn) -> list[NoticeOut]:
    """Notices to the caller's organisation."""
    return await service.list_notices(session, actor=actor)


@router.get("/clearinghouse/vendor/cases", response_model=list[CaseDetail])
async def vendor_cases(
    session: Session, actor: Annotated[Principal, Depends(require(policy.can_see_vendor_cases))]
) -> list[CaseDetail]:
    """The cases the caller's organisation coordinates on as a vendor."""
    return await service.vendor_cases(session, actor=actor)


@router.get("/clearinghouse/embargoes", response_model=list[CaseOut])
async def embargoes(session: Session, actor: Analyst) -> list[CaseOut]:
    """Open cases by target publication date."""
    return await service.embargo_calendar(session, actor=actor)


@router.post("/clearinghouse/kev", response_model=KevImportOut)
async def import_kev(request: Request, session: Session, runtime: RuntimeDep, actor: Analyst) -> KevImportOut:
    """Import the CISA KEV catalogue (the body); flags known exploited vulnerabilities."""
    from forewarn.clearinghouse.advisories.kev import loads_kev

    try:
        catalog = loads_kev(await _body(request))
    except InvalidAdvisory as exc:
        raise named(exc, "KEV catalogue") from None
    return await service.import_kev(session, catalog=catalog, actor=actor, config=_config(runtime))


@router.get("/advisories", response_model=list[PublicAdvisoryOut])
async def public_advisories(
    session: Session,
    _: Anyone,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PublicAdvisoryOut]:
    """Advisories the clearinghouse published (public)."""
    return await service.list_public(session, limit=limit, offset=offset)


@router.get("/advisories/{advisory_id}")
async def public_advisory(advisory_id: str, session: Session, _: Anyone) -> dict[str, Any]:
    """One published advisory as an OSV record (public)."""
    return await service.public_osv(session, advisory_id=advisory_id)
