"""JSON API of an operator's notices and webhook secret, under ``/api/v1/operator``, and the analysts'
list of operators that have not acknowledged a critical notice (``/api/v1/clearinghouse/unacknowledged``).

Every route acts for the caller's own organisation (tenancy in ``policy`` and ``service``). The
webhook secret is returned once, with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import policy, service
from forewarn.clearinghouse.distribution.records import NoticeOut, Unacknowledged, WebhookSecretOut
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(policy.is_operator))]
Analyst = Annotated[Principal, Depends(require(policy.is_analyst))]


@router.get("/operator/notices", response_model=list[NoticeOut])
async def list_notices(
    session: Session, actor: Operator, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NoticeOut]:
    """Your organisation's most recent notices, each with its delivery state per channel."""
    return await service.list_notices(session, actor=actor, limit=limit)


@router.post("/operator/webhook-secret", response_model=WebhookSecretOut, status_code=status.HTTP_201_CREATED)
async def rotate_webhook_secret(
    response: Response, session: Session, runtime: RuntimeDep, actor: Operator
) -> WebhookSecretOut:
    """Set (or rotate) your webhook signing secret (``whsec_…``). It is shown once: store it now."""
    response.headers["Cache-Control"] = "no-store"
    secret = await service.rotate_webhook_secret(session, actor=actor, key=runtime.keys.data)
    return WebhookSecretOut(secret=secret)


@router.get("/clearinghouse/unacknowledged", response_model=list[Unacknowledged])
async def unacknowledged(
    session: Session, actor: Analyst, hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24
) -> list[Unacknowledged]:
    """Operators that have not acknowledged a critical or known-exploited notice older than *hours*."""
    return await service.unacknowledged_critical(session, actor=actor, older_than=timedelta(hours=hours))
