"""Pages of the sealed benchmark: custodians see packs, policies and runs; labs their verdicts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import Session
from forewarn.core.pages import render
from forewarn.earlyaccess.benchmark import policy, service
from forewarn.earlyaccess.review import service as review

router = APIRouter(include_in_schema=False)

Custodian = Annotated[Principal, Depends(require(policy.is_custodian))]
Reader = Annotated[Principal, Depends(require(policy.can_list_determinations))]


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


@router.get("/determinations", name="determinations")
async def lab_page(request: Request, session: Session, actor: Reader) -> Response:
    """A lab's models and determinations: one verdict each, and its attestation."""
    models = await review.list_models(session, actor=actor)
    return render(
        request,
        "benchmark/determinations.html",
        models={m.id: m for m in models},
        determinations=await service.list_determinations(session, actor=actor),
    )
