"""JSON API of an operator's notices and webhook secret, under ``/api/v1/operator``.

Every route acts for the caller's own organisation (tenancy in ``policy`` and ``service``). The
webhook secret is returned once, with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import policy, service
from forewarn.clearinghouse.distribution.records import NoticeOut, WebhookSecretOut
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(policy.is_operator))]


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
