"""JSON API of the model gateway for people, under ``/api/v1/gateway``.

A person lists the gateway keys they hold (never a secret: it was shown once, at issue); a lab's
safety lead reads the usage of the lab's windows per organisation. The model proxy itself is not
here: it is ``forewarn.earlyaccess.gateway.proxy`` at ``/gateway/v1`` and takes gateway keys only.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import NotFound
from forewarn.core.http import Session
from forewarn.earlyaccess.gateway import policy, service
from forewarn.earlyaccess.gateway.schemas import KeyOut, WindowUsage

router = APIRouter(prefix="/gateway", tags=["gateway"])

KeyHolder = Annotated[Principal, Depends(require(policy.can_view_own_keys))]
LabLead = Annotated[Principal, Depends(require(policy.can_view_lab_usage))]


@router.get("/keys/mine", response_model=list[KeyOut])
async def my_keys(session: Session, actor: KeyHolder) -> list[KeyOut]:
    """The gateway keys you hold: prefix, window, model, expiry, budget left, state."""
    return await service.list_keys(session, holder_person_id=actor.person_id)


@router.get("/usage", response_model=list[WindowUsage])
async def lab_usage(session: Session, actor: LabLead) -> list[WindowUsage]:
    """Your lab's windows: calls, tokens and errors per organisation (lab safety leads)."""
    assert actor.organisation_id is not None  # noqa: S101 -- guaranteed by the rule
    return await service.lab_usage(session, lab_organisation_id=actor.organisation_id)


@router.get("/windows/{window_id}/usage", response_model=WindowUsage)
async def window_usage(window_id: uuid.UUID, session: Session, actor: LabLead) -> WindowUsage:
    """One window's usage per organisation (the safety lead of the window's lab; others: 404)."""
    lab = await service.window_lab(session, window_id=window_id)
    if lab is None or not policy.can_view_window_usage(actor, lab):
        raise NotFound("no such window")
    return await service.window_usage(session, window_id=window_id)
