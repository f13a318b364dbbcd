"""JSON API of operators' inventories, under ``/api/v1/operator``.

An SBOM is sent as the request body itself (or as a multipart file named ``sbom``): forewarn parses
the exact bytes it received. Every route acts for the caller's own organisation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import api as distribution_api
from forewarn.clearinghouse.distribution import service as distribution
from forewarn.clearinghouse.inventory import policy, service
from forewarn.clearinghouse.inventory.records import AssetOut, SubscriberIn, SubscriberOut, UploadOut
from forewarn.clearinghouse.inventory.schemas import SbomFormat
from forewarn.clearinghouse.matching import service as matching
from forewarn.core.errors import InvalidInput, NotFound, Problem
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(policy.is_operator))]

# The operator's notices and webhook secret (distribution) live under the same prefix.
router.routes.extend(distribution_api.router.routes)


@router.get("/operator/subscriber", response_model=SubscriberOut)
async def get_subscriber(session: Session, actor: Operator) -> SubscriberOut:
    """Your organisation's subscriber profile (404 until it is first saved)."""
    found = await service.get_subscriber(session, actor=actor)
    if found is None:
        raise NotFound("your organisation has no subscriber profile yet")
    return found


@router.put("/operator/subscriber", response_model=SubscriberOut)
async def put_subscriber(
    session: Session, runtime: RuntimeDep, actor: Operator, data: SubscriberIn
) -> SubscriberOut:
    """Create or replace your organisation's subscriber profile. The webhook URL must be https and
    must not point to a loopback, private, link-local or otherwise non-public address (422)."""
    await distribution.check_webhook_url(
        data.webhook_url,
        allow_insecure=runtime.settings.webhook_allow_insecure,
        allow_private=runtime.settings.webhook_allow_private_addresses,
    )
    return await service.put_subscriber(session, data=data, actor=actor)


@router.get("/operator/assets", response_model=list[AssetOut])
async def list_assets(session: Session, actor: Operator) -> list[AssetOut]:
    return await service.list_assets(session, actor=actor)


async def read_upload(request: Request, limit: int) -> bytes:
    """The SBOM: the raw body, or the multipart file field ``sbom``."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("sbom")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("attach the SBOM", problems=[Problem("sbom", "a file is required")])
        raw: bytes = await upload.read(limit + 1)
    else:
        raw = await request.body()
    if not raw.strip():
        raise InvalidInput("send the SBOM as the request body", problems=[Problem("body", "is empty")])
    return raw


@router.post(
    "/operator/assets/{asset_name}/sbom", response_model=UploadOut, status_code=status.HTTP_201_CREATED
)
async def upload_sbom(
    request: Request,
    session: Session,
    actor: Operator,
    asset_name: Annotated[str, Path(min_length=1, max_length=200)],
    format: Annotated[SbomFormat | None, Query(description="detected from the content when absent")] = None,
) -> UploadOut:
    """Replace the inventory of your asset *asset_name* with an SBOM (CycloneDX JSON/XML, SPDX JSON or
    CSV) and match it against every published advisory. Unscannable components are listed."""
    raw = await read_upload(request, request.app.state.runtime.settings.max_upload_bytes)
    out, asset_id = await service.upload_sbom(
        session, asset_name=asset_name, raw=raw, format=format, actor=actor
    )
    return out.model_copy(update={"matches": await matching.match_asset(session, asset_id=asset_id)})
