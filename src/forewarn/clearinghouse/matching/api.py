"""JSON API of matches: an operator's own matches and their status (``/api/v1/operator/matches``),
and the clearinghouse's sector-wide exposure (``/api/v1/clearinghouse/exposure``, analysts)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import is_analyst
from forewarn.clearinghouse.inventory.policy import is_operator
from forewarn.clearinghouse.matching import service
from forewarn.clearinghouse.matching.records import Exposure, MatchOut, StatusIn
from forewarn.core.http import Session

router = APIRouter(tags=["operators"])

Operator = Annotated[Principal, Depends(require(is_operator))]
Analyst = Annotated[Principal, Depends(require(is_analyst))]


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
