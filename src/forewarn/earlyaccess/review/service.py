"""The model registry: a lab registers the models it brings to the programme.

Invariants:

- A model belongs to the lab whose safety lead registered it; only that lab (and benchmark
  custodians, platform administrators) can read it; others get ``NotFound``.
- The endpoint credential is sealed with the programme data key, with the model's id as associated
  data (a sealed credential cannot be moved to another model), and is never returned by
  :func:`get_model` / :func:`list_models`; only :func:`model_target`, used by the benchmark runner
  in a worker, opens it.
- Every registration is a ledger entry (ids and a public reason only).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.db import new_id
from forewarn.core.errors import Conflict, Forbidden, NotFound
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.review import policy
from forewarn.earlyaccess.review.models import RegisteredModel
from forewarn.earlyaccess.review.schemas import AccessMode, ModelIn, ModelOut, ModelTarget
from forewarn.ledger import service as ledger


def _aad(model_id: uuid.UUID) -> bytes:
    return b"forewarn model credential\n" + str(model_id).encode()


def _out(row: RegisteredModel) -> ModelOut:
    return ModelOut.model_validate(
        {
            "id": row.id,
            "organisation_id": row.organisation_id,
            "name": row.name,
            "version": row.version,
            "family": row.family,
            "modality": row.modality,
            "planned_release": row.planned_release,
            "access_mode": row.access_mode,
            "endpoint_base_url": row.endpoint_base_url,
            "endpoint_model": row.endpoint_model,
            "has_credential": row.credential_sealed is not None,
            "created_at": row.created_at,
        }
    )


async def register_model(session: AsyncSession, *, data: ModelIn, actor: Principal, key: DataKey) -> ModelOut:
    """Register a model of the actor's lab."""
    if not policy.can_register_models(actor) or actor.organisation_id is None:
        raise Forbidden("only a lab's safety lead registers its models")
    model_id = new_id()
    credential = data.credential.get_secret_value().encode() if data.credential else None
    row = RegisteredModel(
        id=model_id,
        organisation_id=actor.organisation_id,
        registered_by=actor.person_id,
        name=data.name,
        version=data.version,
        family=data.family,
        modality=data.modality.value,
        planned_release=data.planned_release,
        access_mode=data.access_mode.value,
        endpoint_base_url=data.endpoint_base_url,
        endpoint_model=data.endpoint_model,
        credential_sealed=key.seal(credential, aad=_aad(model_id)) if credential is not None else None,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise Conflict("this lab already registered a model with that name and version") from None
    await ledger.append(
        session,
        type="review.model_registered",
        actor_organisation_id=actor.organisation_id,
        subjects=[("model", model_id), ("organisation", actor.organisation_id)],
        reason="A lab registered a model with the programme",
    )
    return _out(row)


async def _row(session: AsyncSession, model_id: uuid.UUID) -> RegisteredModel:
    row = await session.get(RegisteredModel, model_id)
    if row is None:
        raise NotFound("no such model")
    return row


async def get_model(session: AsyncSession, *, model_id: uuid.UUID, actor: Principal | None) -> ModelOut:
    """A model; ``actor=None`` is the programme itself (a worker or an operator's CLI)."""
    row = await _row(session, model_id)
    if actor is not None and not policy.can_view_model(actor, row.organisation_id):
        raise NotFound("no such model")
    return _out(row)


async def list_models(
    session: AsyncSession, *, actor: Principal | None, organisation_id: uuid.UUID | None = None
) -> list[ModelOut]:
    query = select(RegisteredModel).order_by(RegisteredModel.created_at.desc())
    if actor is not None and not policy.sees_all_models(actor):
        if actor.organisation_id is None or not policy.can_list_models(actor):
            return []
        query = query.where(RegisteredModel.organisation_id == actor.organisation_id)
    elif organisation_id is not None:
        query = query.where(RegisteredModel.organisation_id == organisation_id)
    return [_out(row) for row in (await session.scalars(query.limit(1000))).all()]


async def model_target(session: AsyncSession, *, model_id: uuid.UUID, key: DataKey) -> ModelTarget:
    """The endpoint and opened credential of a model, for the benchmark runner (no actor: workers only)."""
    from pydantic import SecretStr

    row = await _row(session, model_id)
    credential = (
        SecretStr(key.open(row.credential_sealed, aad=_aad(row.id)).decode())
        if row.credential_sealed is not None
        else None
    )
    return ModelTarget(
        model_id=row.id,
        access_mode=AccessMode(row.access_mode),
        base_url=row.endpoint_base_url,
        model=row.endpoint_model,
        credential=credential,
    )
