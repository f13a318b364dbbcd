"""HTML pages of an operator's notices: recent notices with their delivery state per channel, and
setting (rotating) the webhook signing secret, which the response shows once (``no-store``).

Mounted under the operator's pages (``/operator/notices``); forms carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import policy, service
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import render

router = APIRouter(include_in_schema=False)
Operator = Annotated[Principal, Depends(require(policy.is_operator))]


@router.get("/operator/notices", name="operator_notices")
async def notices(request: Request, session: Session, actor: Operator) -> Response:
    found = await service.list_notices(session, actor=actor)
    return render(request, "operator_notices.html", notices=found, secret=None)


@router.post("/operator/webhook-secret")
async def webhook_secret(
    request: Request, session: Session, runtime: RuntimeDep, actor: Operator
) -> Response:
    secret = await service.rotate_webhook_secret(session, actor=actor, key=runtime.keys.data)
    found = await service.list_notices(session, actor=actor)
    page = render(request, "operator_notices.html", notices=found, secret=secret)
    page.headers["Cache-Control"] = "no-store"
    return page
