"""JSON API of the model registry, under ``/api/v1/models``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from forewarn.accounts.http import require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import RuntimeDep, Session
from forewarn.earlyaccess.review import policy, service
from forewarn.earlyaccess.review.schemas import ModelIn, ModelOut

router = APIRouter(prefix="/models", tags=["models"])

Lister = Annotated[Principal, Depends(require(policy.can_list_models))]
Registrar = Annotated[Principal, Depends(require(policy.can_register_models))]


@router.get("", response_model=list[ModelOut])
async def list_models(session: Session, actor: Lister) -> list[ModelOut]:
    """Your lab's registered models (all models for custodians and platform administrators)."""
    return await service.list_models(session, actor=actor)


@router.post("", response_model=ModelOut, status_code=status.HTTP_201_CREATED)
async def register_model(data: ModelIn, session: Session, runtime: RuntimeDep, actor: Registrar) -> ModelOut:
    """Register a model of your lab; the endpoint credential is sealed and never shown again."""
    return await service.register_model(session, data=data, actor=actor, key=runtime.keys.data)


@router.get("/{model_id}", response_model=ModelOut)
async def get_model(model_id: uuid.UUID, session: Session, actor: Lister) -> ModelOut:
    return await service.get_model(session, model_id=model_id, actor=actor)
