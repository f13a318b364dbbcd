"""Public JSON (and text) API of the transparency log, under ``/api/v1/ledger``.

Everything here is public: anyone may read and verify the log without an account. The one
write, a witness's cosignature, is authenticated by the signature itself (checked against
registered witness keys), not by a login.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import PlainTextResponse

from forewarn.accounts.http import public
from forewarn.accounts.schemas import Principal
from forewarn.core.http import RuntimeDep, Session
from forewarn.ledger import service
from forewarn.ledger.schemas import (
    CheckpointOut,
    ConsistencyProofOut,
    CosignatureIn,
    CosignatureOut,
    EntriesPage,
    EntryWithProof,
    WitnessOut,
)

router = APIRouter(prefix="/ledger", tags=["ledger"])
Anyone = Annotated[Principal | None, Depends(public())]
NOTE_TYPE = "text/plain; charset=utf-8"


@router.get("/checkpoint", response_class=PlainTextResponse)
async def checkpoint_note(session: Session, _: Anyone) -> Response:
    """The latest checkpoint as a C2SP signed note (log signature, then witness cosignatures)."""
    latest = await service.latest_checkpoint(session)
    return PlainTextResponse(latest.note, media_type=NOTE_TYPE, headers={"Cache-Control": "no-cache"})


@router.get("/checkpoints/latest", response_model=CheckpointOut)
async def latest_checkpoint(session: Session, _: Anyone) -> CheckpointOut:
    """The latest checkpoint, as JSON."""
    return await service.latest_checkpoint(session)


@router.get("/checkpoints", response_model=list[CheckpointOut])
async def list_checkpoints(
    session: Session,
    _: Anyone,
    after: Annotated[int, Query(ge=-1, description="only checkpoints of a larger size")] = -1,
    limit: Annotated[int, Query(ge=1, le=service.MAX_RANGE)] = 100,
) -> list[CheckpointOut]:
    """Every checkpoint the log issued, smallest first, paged by size."""
    return await service.list_checkpoints(session, after=after, limit=limit)


@router.get("/checkpoints/{size}", response_model=CheckpointOut)
async def get_checkpoint(size: int, session: Session, _: Anyone) -> CheckpointOut:
    return await service.get_checkpoint(session, size=size)


@router.get("/checkpoints/{size}/cosignatures", response_model=list[CosignatureOut])
async def list_cosignatures(size: int, session: Session, _: Anyone) -> list[CosignatureOut]:
    """Witness cosignatures of one checkpoint."""
    return await service.cosignatures(session, size=size)


@router.post(
    "/checkpoints/{size}/cosignatures",
    response_model=CosignatureOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "this witness had already cosigned this checkpoint"}},
)
async def add_cosignature(
    size: int, data: CosignatureIn, session: Session, response: Response, _: Anyone
) -> CosignatureOut:
    """A witness submits its ``cosignature/v1`` line for a checkpoint it checked.

    Accepted only from registered witness keys, over exactly the stored checkpoint text.
    """
    stored, created = await service.add_cosignature(session, size=size, signature=data.signature)
    if not created:
        response.status_code = status.HTTP_200_OK
    return stored


@router.get("/entries", response_model=EntriesPage)
async def get_entries(
    session: Session,
    _: Anyone,
    start: Annotated[int, Query(ge=0)] = 0,
    end: Annotated[int | None, Query(ge=1, description="exclusive; at most start + 1000")] = None,
) -> EntriesPage:
    """Entries ``[start, end)`` of the published log (up to the latest checkpoint)."""
    return await service.get_entries(session, start=start, end=end if end is not None else start + 100)


@router.get("/entries/by-id/{entry_id}", response_model=EntryWithProof)
async def entry_by_id(
    entry_id: uuid.UUID,
    session: Session,
    _: Anyone,
    tree_size: Annotated[int | None, Query(ge=1, description="a checkpoint's size; default latest")] = None,
) -> EntryWithProof:
    """An entry by its id, with its inclusion proof in a checkpoint."""
    return await service.entry_with_proof(session, entry_id=entry_id, tree_size=tree_size)


@router.get("/entries/{index}", response_model=EntryWithProof)
async def entry_by_index(
    index: int,
    session: Session,
    _: Anyone,
    tree_size: Annotated[int | None, Query(ge=1, description="a checkpoint's size; default latest")] = None,
) -> EntryWithProof:
    """An entry by its index, with its inclusion proof in a checkpoint."""
    return await service.entry_with_proof(session, index=index, tree_size=tree_size)


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
async def consistency(
    session: Session,
    _: Anyone,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofOut:
    """RFC 9162 consistency proof between two tree sizes of the published log."""
    return await service.consistency(session, first=first, second=second)


@router.get("/key", response_class=PlainTextResponse)
async def log_key(session: Session, runtime: RuntimeDep, _: Anyone) -> Response:
    """The log's public key as a signed-note verifier key (pin it; do not fetch it each time)."""
    signer = await service.log_signer(session, runtime)
    return PlainTextResponse(signer.vkey + "\n", media_type=NOTE_TYPE)


@router.get("/witnesses", response_model=list[WitnessOut])
async def witnesses(session: Session, _: Anyone, include_retired: bool = False) -> list[WitnessOut]:
    """Witness keys whose cosignatures the log accepts."""
    return await service.list_witnesses(session, include_retired=include_retired)
