"""HTML pages for operators (their assets, SBOM uploads, matches by priority and what to do, their
subscriber profile) and for the clearinghouse (exposure by advisory and sector).

Everything a document or an advisory wrote is escaped (Jinja2 autoescape). Forms carry the session's
CSRF token and redirect after success (POST/redirect/GET).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import is_analyst
from forewarn.clearinghouse.distribution import service as distribution
from forewarn.clearinghouse.distribution import views as distribution_views
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.policy import is_operator
from forewarn.clearinghouse.inventory.records import SECTORS, Digest, OrgSize, SubscriberIn
from forewarn.clearinghouse.matching import service
from forewarn.clearinghouse.matching.api import vex_response
from forewarn.clearinghouse.matching.records import Justification, MatchStatus, StatusIn, VexFormat
from forewarn.core.errors import ForewarnError, InvalidInput, Problem
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import FLASH, render

router = APIRouter(include_in_schema=False)
# The operator's notices and webhook secret pages (distribution).
router.routes.extend(distribution_views.router.routes)
Operator = Annotated[Principal, Depends(require(is_operator))]
Analyst = Annotated[Principal, Depends(require(is_analyst))]

FLASH.update(
    {
        "sbom-uploaded": "The SBOM is stored and matched against every published advisory.",
        "profile-saved": "Your subscriber profile is saved.",
        "match-updated": "The match's status is saved.",
        "vex-imported": "The VEX document is applied to your matches, and kept for your later ones.",
        "vex-statement-deleted": "The VEX statement is deleted: it no longer decides new matches.",
    }
)

STATUS_LABELS = {
    MatchStatus.OPEN: "Open",
    MatchStatus.ACKNOWLEDGED: "Acknowledged",
    MatchStatus.IN_PROGRESS: "In progress",
    MatchStatus.FIXED: "Fixed",
    MatchStatus.NOT_AFFECTED: "Not affected",
    MatchStatus.RISK_ACCEPTED: "Risk accepted",
}


def _see(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?flash={flash}", status_code=303)


async def _dashboard(
    request: Request,
    session: Session,
    actor: Principal,
    *,
    status: int = 200,
    error: str | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    matches = await service.list_matches(session, actor=actor)
    context: dict[str, Any] = {
        "profile": await inventory.get_subscriber(session, actor=actor),
        "assets": await inventory.list_assets(session, actor=actor),
        "open_matches": [m for m in matches if m.status in _OPEN],
        "closed_matches": [m for m in matches if m.status not in _OPEN],
        "sectors": {k.value: v for k, v in SECTORS.items()},
        "sizes": [s.value for s in OrgSize],
        "digests": [d.value for d in Digest],
        "statuses": STATUS_LABELS,
        "justifications": [j.value for j in Justification],
        "vex_statements": await service.list_vex_statements(session, actor=actor),
        "error": error,
        "problems": problems or [],
    }
    return render(request, "clearinghouse/operator_dashboard.html", status_code=status, **context)


_OPEN = {MatchStatus.OPEN, MatchStatus.ACKNOWLEDGED, MatchStatus.IN_PROGRESS}


@router.get("/operator", name="operator_dashboard")
async def dashboard(request: Request, session: Session, actor: Operator) -> Response:
    return await _dashboard(request, session, actor)


@router.post("/operator/upload")
async def upload(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Operator,
    asset: Annotated[str, Form(max_length=200)],
    sbom: Annotated[UploadFile, File()],
) -> Response:
    raw = await sbom.read(runtime.settings.max_upload_bytes + 1)
    try:
        _, asset_id = await inventory.upload_sbom(session, asset_name=asset, raw=raw, actor=actor)
        await service.match_asset(session, asset_id=asset_id)
    except InvalidInput as exc:
        return await _dashboard(
            request, session, actor, status=exc.status_code, error=exc.message, problems=exc.problems
        )
    return _see("/operator", "sbom-uploaded")


@router.post("/operator/profile")
async def profile(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Operator,
    sector: Annotated[str, Form(max_length=100)],
    size: Annotated[str, Form(max_length=20)],
    contact_name: Annotated[str, Form(max_length=200)] = "",
    contact_email: Annotated[str, Form(max_length=254)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
    immediate_critical: Annotated[bool, Form()] = False,
    immediate_known_exploited: Annotated[bool, Form()] = False,
    digest: Annotated[str, Form(max_length=10)] = "daily",
) -> Response:
    main, _, sub = sector.partition(":")
    try:
        data = SubscriberIn.model_validate(
            {
                "sector": main,
                "subsector": sub,
                "size": size,
                "contacts": [{"name": contact_name, "email": contact_email}] if contact_email else [],
                "immediate_critical": immediate_critical,
                "immediate_known_exploited": immediate_known_exploited,
                "digest": digest,
                "email": email or None,
                "webhook_url": webhook_url or None,
            }
        )
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]) or "profile", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        return await _dashboard(
            request, session, actor, status=422, error="The profile is not saved.", problems=problems
        )
    try:
        await distribution.check_webhook_url(
            data.webhook_url,
            allow_insecure=runtime.settings.webhook_allow_insecure,
            allow_private=runtime.settings.webhook_allow_private_addresses,
        )
    except InvalidInput as exc:
        return await _dashboard(
            request, session, actor, status=422, error="The profile is not saved.", problems=exc.problems
        )
    await inventory.put_subscriber(session, data=data, actor=actor)
    return _see("/operator", "profile-saved")


@router.post("/operator/matches/{match_id}/status")
async def match_status(
    request: Request,
    session: Session,
    actor: Operator,
    match_id: uuid.UUID,
    status: Annotated[str, Form(max_length=20)],
    justification: Annotated[str, Form(max_length=60)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        data = StatusIn.model_validate(
            {
                "status": status,
                "justification": justification or None,
                "note": note or None,
            }
        )
        await service.set_status(session, match_id=match_id, data=data, actor=actor)
    except ValidationError as exc:
        problems = [Problem(".".join(str(p) for p in e["loc"]) or "status", e["msg"]) for e in exc.errors()]
        return await _dashboard(
            request, session, actor, status=422, error="The status is not saved.", problems=problems
        )
    except ForewarnError as exc:
        return await _dashboard(request, session, actor, status=exc.status_code, error=exc.message)
    return _see("/operator", "match-updated")


@router.get("/operator/vex/{format}", name="operator_vex")
async def vex_download(
    session: Session, runtime: RuntimeDep, actor: Operator, format: VexFormat, spec_version: str = "1.6"
) -> Response:
    """Download your state as CycloneDX VEX (1.5 or 1.6) or OpenVEX 0.2.0."""
    if spec_version not in ("1.5", "1.6"):
        spec_version = "1.6"
    doc = await service.export_vex(
        session,
        actor=actor,
        format=format,
        base_url=runtime.settings.public_base_url,
        spec_version=spec_version,
    )
    return vex_response(doc, format, spec_version)


@router.post("/operator/vex")
async def vex_upload(
    request: Request, session: Session, actor: Operator, vex: Annotated[UploadFile, File()]
) -> Response:
    from forewarn.clearinghouse.matching.vex import MAX_VEX_BYTES

    raw = await vex.read(MAX_VEX_BYTES + 1)
    try:
        if len(raw) > MAX_VEX_BYTES:
            raise InvalidInput("the VEX document is too large", problems=[Problem("vex", "too large")])
        async with session.begin_nested():  # nothing of a refused document stays
            await service.import_vex(session, raw=raw, actor=actor, name=vex.filename)
    except InvalidInput as exc:
        return await _dashboard(
            request, session, actor, status=exc.status_code, error=exc.message, problems=exc.problems
        )
    return _see("/operator", "vex-imported")


@router.post("/operator/vex-statements/{statement_id}/delete")
async def vex_statement_delete(
    request: Request, session: Session, actor: Operator, statement_id: uuid.UUID
) -> Response:
    try:
        await service.delete_vex_statement(session, statement_id=statement_id, actor=actor)
    except ForewarnError as exc:
        return await _dashboard(request, session, actor, status=exc.status_code, error=exc.message)
    return _see("/operator", "vex-statement-deleted")


@router.get("/clearinghouse/exposure", name="exposure")
async def exposure(
    request: Request, session: Session, actor: Analyst, hours: int = 24, days: int = 30
) -> Response:
    from forewarn.clearinghouse.matching.charts import line_chart

    hours = min(max(hours, 1), 24 * 90)
    days = min(max(days, 2), 366)
    found = await service.exposure(session, actor=actor)
    history = await service.exposure_history(session, actor=actor, days=days)
    charts = {
        "sector": line_chart(
            history.days, history.by_sector, title=f"Open matches by sector, last {days} days"
        ),
        "advisory": line_chart(
            history.days,
            history.by_advisory,
            title=f"Open matches of the most widespread advisories, last {days} days",
        ),
    }
    return render(
        request,
        "clearinghouse/operator_exposure.html",
        exposure=found,
        statuses=STATUS_LABELS,
        charts=charts,
        remediation=await service.remediation_times(session, actor=actor),
        unacknowledged=await distribution.unacknowledged_critical(
            session, actor=actor, older_than=timedelta(hours=hours)
        ),
        hours=hours,
        days=days,
    )
