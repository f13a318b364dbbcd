"""Pages of the sealed benchmark: custodians see packs, policies and runs; labs their verdicts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import render
from forewarn.earlyaccess.benchmark import policy, service
from forewarn.earlyaccess.review import service as review

router = APIRouter(include_in_schema=False)

Custodian = Annotated[Principal, Depends(require(policy.is_custodian))]
Reader = Annotated[Principal, Depends(require(policy.can_list_determinations))]
Requester = Annotated[Principal, Depends(require(policy.can_request_determination))]


@router.get("/benchmark", name="benchmark")
async def custodian_page(request: Request, session: Session, actor: Custodian) -> Response:
    """Packs, threshold policies with their consultations, and every determination run."""
    return render(
        request,
        "benchmark/custodian.html",
        packs=await service.list_packs(session, actor=actor),
        policies=await service.list_policies(session, actor=actor),
        determinations=await service.list_determinations(session, actor=actor),
    )


async def _lab_page(
    request: Request, session: Session, actor: Principal, *, error: str | None = None, status_code: int = 200
) -> Response:
    models = await review.list_models(session, actor=actor)
    return render(
        request,
        "benchmark/determinations.html",
        status_code=status_code,
        models={m.id: m for m in models},
        determinations=await service.list_determinations(session, actor=actor),
        can_request=policy.can_request_determination(actor),
        error=error,
    )


@router.get("/determinations", name="determinations")
async def lab_page(request: Request, session: Session, actor: Reader) -> Response:
    """A lab's models and determinations: one verdict each, and its attestation."""
    return await _lab_page(request, session, actor)


@router.post("/determinations", name="request_determination")
async def request_from_page(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Requester,
    model_id: Annotated[uuid.UUID, Form()],
) -> Response:
    """Request a determination from the page (safety leads); a refusal is recorded and shown."""
    out = await service.request_determination(session, model_id=model_id, actor=actor, key=runtime.keys.data)
    if out.status.value == "refused":
        # Rendered, not raised: the refusal and its ledger entry commit with this request.
        error = service.limit_error(out)
        return await _lab_page(request, session, actor, error=error.message, status_code=error.status_code)
    return RedirectResponse("/determinations", status_code=303)
