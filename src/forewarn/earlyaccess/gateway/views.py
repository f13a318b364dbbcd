"""Pages of the model gateway: a reviewer's keys (with ready-to-paste client settings), a lab's usage."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from forewarn.accounts import service as accounts
from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import NotFound
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import render
from forewarn.earlyaccess.gateway import policy, service

router = APIRouter(include_in_schema=False)

KeyHolder = Annotated[Principal, Depends(require(policy.can_view_own_keys))]
LabLead = Annotated[Principal, Depends(require(policy.can_view_lab_usage))]


def gateway_base_url(request: Request, configured: str | None) -> str:
    """The base URL reviewers give their clients (``.../gateway/v1``)."""
    base = configured or str(request.base_url)
    return base.rstrip("/") + "/gateway/v1"


@router.get("/gateway/keys", name="gateway_keys")
async def keys_page(request: Request, session: Session, runtime: RuntimeDep, actor: KeyHolder) -> Response:
    """Your gateway keys, and how to point the openai client, Inspect, garak or PyRIT at the gateway."""
    keys = await service.list_keys(session, holder_person_id=actor.person_id)
    return render(
        request,
        "gateway/keys.html",
        keys=keys,
        base_url=gateway_base_url(request, runtime.settings.base_url),
        may_assess=policy.may_assess_held_window(actor),
    )


@router.get("/gateway/usage", name="gateway_usage")
async def usage_page(request: Request, session: Session, actor: LabLead) -> Response:
    """Who used the lab's model in each window: calls, tokens and errors per organisation."""
    assert actor.organisation_id is not None  # noqa: S101 -- guaranteed by the rule
    windows = await service.lab_usage(session, lab_organisation_id=actor.organisation_id)
    names: dict[uuid.UUID, str] = {}
    for window in windows:
        for org in window.organisations:
            if org.organisation_id not in names:
                try:
                    found = await accounts.get_organisation(
                        session, organisation_id=org.organisation_id, actor=None
                    )
                    names[org.organisation_id] = found.name
                except NotFound:
                    names[org.organisation_id] = str(org.organisation_id)
    return render(request, "gateway/usage.html", windows=windows, names=names)
