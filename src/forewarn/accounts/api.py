"""JSON API of accounts, under ``/api/v1``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from forewarn.accounts import policy, service
from forewarn.accounts.http import require
from forewarn.accounts.schemas import (
    OrganisationIn,
    OrganisationOut,
    PersonIn,
    PersonOut,
    Principal,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from forewarn.core.errors import InvalidInput
from forewarn.core.http import Session

router = APIRouter(tags=["accounts"])

SignedIn = Annotated[Principal, Depends(require(policy.signed_in))]


@router.get("/me", response_model=Principal)
async def me(actor: SignedIn) -> Principal:
    """Who the caller is, for which organisation, with which roles."""
    return actor


@router.get("/organisations", response_model=list[OrganisationOut])
async def list_organisations(session: Session, actor: SignedIn) -> list[OrganisationOut]:
    """Organisations the caller may see (a platform administrator sees all; others their own)."""
    return await service.list_organisations(session, actor=actor)


@router.post("/organisations", response_model=OrganisationOut, status_code=status.HTTP_201_CREATED)
async def create_organisation(
    data: OrganisationIn,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_manage_organisations))],
) -> OrganisationOut:
    return await service.create_organisation(session, data=data, actor=actor)


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
async def get_organisation(organisation_id: uuid.UUID, session: Session, actor: SignedIn) -> OrganisationOut:
    return await service.get_organisation(session, organisation_id=organisation_id, actor=actor)


@router.get("/organisations/{organisation_id}/people", response_model=list[PersonOut])
async def list_people(organisation_id: uuid.UUID, session: Session, actor: SignedIn) -> list[PersonOut]:
    return await service.list_people(session, organisation_id=organisation_id, actor=actor)


@router.post("/people", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
async def create_person(
    data: PersonIn,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_manage_people_somewhere))],
) -> PersonOut:
    return await service.create_person(session, data=data, actor=actor)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(session: Session, actor: SignedIn) -> list[TokenOut]:
    """The caller's own API tokens (never the tokens themselves)."""
    return await service.list_tokens(session, person_id=actor.person_id)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(
    data: TokenIn,
    session: Session,
    actor: Annotated[Principal, Depends(require(policy.can_use_tokens))],
) -> TokenCreated:
    """A new token for the caller at their current organisation; the token is in this response only."""
    if actor.organisation_id is None:
        raise InvalidInput("choose an organisation to act for first")
    return await service.create_token(
        session, data=data, person_id=actor.person_id, organisation_id=actor.organisation_id, actor=actor
    )


@router.delete("/tokens/{token_id}", response_model=TokenOut)
async def revoke_token(token_id: uuid.UUID, session: Session, actor: SignedIn) -> TokenOut:
    return await service.revoke_token(session, token_id=token_id, actor=actor)
