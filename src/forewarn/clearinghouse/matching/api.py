"""JSON API of matches: an operator's own matches and their status (``/api/v1/operator/matches``), its
state as VEX (export and import, ``/api/v1/operator/vex``; the imported statements it keeps,
``/api/v1/operator/vex-statements``), the stateless scan (``/api/v1/scan``) and
the clearinghouse's sector-wide exposure (``/api/v1/clearinghouse/exposure``, analysts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import is_analyst
from forewarn.clearinghouse.inventory.policy import is_operator
from forewarn.clearinghouse.matching import policy, service
from forewarn.clearinghouse.matching.records import (
    Exposure,
    ExposureHistory,
    MatchOut,
    RemediationRow,
    ScanOut,
    StatusIn,
    VexFormat,
    VexImportOut,
    VexStatementOut,
)
from forewarn.core.errors import InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(is_operator))]
Analyst = Annotated[Principal, Depends(require(is_analyst))]
Scanner = Annotated[Principal, Depends(require(policy.can_scan))]

MEDIA_TYPES = {
    VexFormat.CYCLONEDX: "application/vnd.cyclonedx+json",
    VexFormat.OPENVEX: "application/json",
}


def vex_response(doc: dict[str, object], format: VexFormat, spec_version: str) -> JSONResponse:
    """The document as a download (``Content-Disposition: attachment``)."""
    name = "vex.cdx.json" if format is VexFormat.CYCLONEDX else "vex.openvex.json"
    media = MEDIA_TYPES[format] + (f"; version={spec_version}" if format is VexFormat.CYCLONEDX else "")
    return JSONResponse(
        doc, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


async def read_body(request: Request, *, field: str, limit: int) -> bytes:
    """The document: the raw body, or the multipart file field *field*; at most *limit* bytes."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get(field)
        if upload is None or isinstance(upload, str):
            raise InvalidInput(f"attach the {field} file", problems=[Problem(field, "a file is required")])
        raw: bytes = await upload.read(limit + 1)
    else:
        raw = await request.body()
    if len(raw) > limit:
        raise InvalidInput("the document is too large", problems=[Problem(field, f"at most {limit} bytes")])
    if not raw.strip():
        raise InvalidInput("send the document as the request body", problems=[Problem("body", "is empty")])
    return raw


@router.get("/operator/matches", response_model=list[MatchOut])
async def list_matches(
    session: Session, actor: Operator, open_only: Annotated[bool, Query(alias="open")] = False
) -> list[MatchOut]:
    """Your matches by priority: known exploited first, then severity."""
    return await service.list_matches(session, actor=actor, open_only=open_only)


@router.post("/operator/matches/{match_id}/status", response_model=MatchOut)
async def set_status(session: Session, actor: Operator, match_id: uuid.UUID, data: StatusIn) -> MatchOut:
    """Set a match's status; ``not_affected`` needs a VEX justification."""
    return await service.set_status(session, match_id=match_id, data=data, actor=actor)


@router.get("/clearinghouse/exposure", response_model=Exposure)
async def exposure(session: Session, actor: Analyst) -> Exposure:
    """Per published advisory: affected operators by sector and matches by status."""
    return await service.exposure(session, actor=actor)


@router.get("/operator/vex/{format}", response_class=JSONResponse)
async def export_vex(
    session: Session,
    runtime: RuntimeDep,
    actor: Operator,
    format: VexFormat,
    spec_version: Annotated[str, Query(pattern=r"^1\.[56]$", description="CycloneDX 1.5 or 1.6")] = "1.6",
) -> JSONResponse:
    """Your remediation state as VEX: ``cyclonedx`` (CycloneDX VEX 1.5/1.6 JSON) or ``openvex``
    (OpenVEX 0.2.0). Open matches (nothing decided yet) are left out."""
    doc = await service.export_vex(
        session,
        actor=actor,
        format=format,
        base_url=runtime.settings.public_base_url,
        spec_version=spec_version,
    )
    return vex_response(doc, format, spec_version)


@router.post("/operator/vex", response_model=VexImportOut)
async def import_vex(request: Request, session: Session, actor: Operator) -> VexImportOut:
    """Apply a VEX document (CycloneDX VEX, OpenVEX or CSAF VEX; the body, or a multipart file
    ``vex``) to your matches' statuses, and keep its statements to decide your later matches too."""
    from forewarn.clearinghouse.matching.vex import MAX_VEX_BYTES

    raw = await read_body(request, field="vex", limit=MAX_VEX_BYTES)
    return await service.import_vex(session, raw=raw, actor=actor)


@router.get("/operator/vex-statements", response_model=list[VexStatementOut])
async def list_vex_statements(session: Session, actor: Operator) -> list[VexStatementOut]:
    """The VEX statements your organisation imported, which keep deciding your new matches (a new
    advisory published, an SBOM uploaded again); newest import first."""
    return await service.list_vex_statements(session, actor=actor)


@router.delete("/operator/vex-statements/{statement_id}", status_code=204)
async def delete_vex_statement(session: Session, actor: Operator, statement_id: uuid.UUID) -> Response:
    """Forget one stored statement: it no longer decides later matches (statuses it set stay)."""
    await service.delete_vex_statement(session, statement_id=statement_id, actor=actor)
    return Response(status_code=204)


@router.post("/scan", response_model=ScanOut)
async def scan(request: Request, session: Session, actor: Scanner) -> ScanOut:
    """Match an SBOM (the body, or a multipart file ``sbom``) against every published advisory
    without storing it: what ``forewarn scan --server`` asks. CycloneDX VEX embedded in the SBOM is
    applied."""
    raw = await read_body(request, field="sbom", limit=request.app.state.runtime.settings.max_upload_bytes)
    return await service.scan(session, raw=raw, actor=actor)


@router.get("/clearinghouse/exposure/history", response_model=ExposureHistory)
async def exposure_history(
    session: Session, actor: Analyst, days: Annotated[int, Query(ge=2, le=366)] = 30
) -> ExposureHistory:
    """Open matches per day over the last *days* days, by sector and for the advisories with the
    most open matches today (daily snapshots; today counted now)."""
    return await service.exposure_history(session, actor=actor, days=days)


@router.get("/clearinghouse/remediation", response_model=list[RemediationRow])
async def remediation(session: Session, actor: Analyst) -> list[RemediationRow]:
    """Hours from first seen to fixed: median and 90th percentile, over all sectors and per sector."""
    return await service.remediation_times(session, actor=actor)
