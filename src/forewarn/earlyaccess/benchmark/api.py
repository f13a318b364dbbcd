"""JSON API of the sealed benchmark, under ``/api/v1/benchmark``.

Labs request determinations and read their verdicts and attestations; custodians read packs,
policies and every run. No route returns item text, answers, thresholds, scores or call counts.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.http import RuntimeDep, Session, problem_body
from forewarn.earlyaccess.benchmark import attestation, policy, service
from forewarn.earlyaccess.benchmark.schemas import (
    DeterminationIn,
    DeterminationOut,
    DeterminationStatus,
    PackOut,
    PolicyOut,
)

router = APIRouter(prefix="/benchmark", tags=["benchmark"])

Custodian = Annotated[Principal, Depends(require(policy.is_custodian))]
Reader = Annotated[Principal, Depends(require(policy.can_list_determinations))]
Requester = Annotated[Principal, Depends(require(policy.can_request_determination))]
Anyone = Annotated[Principal | None, Depends(public())]


@router.get("/packs", response_model=list[PackOut])
async def list_packs(session: Session, actor: Custodian) -> list[PackOut]:
    """Imported packs: public header fields and status (custodians only)."""
    return await service.list_packs(session, actor=actor)


@router.get("/policies", response_model=list[PolicyOut])
async def list_policies(session: Session, actor: Custodian) -> list[PolicyOut]:
    """Threshold policies: status, commitment, consultations; never the numbers (custodians only)."""
    return await service.list_policies(session, actor=actor)


@router.get("/determinations", response_model=list[DeterminationOut])
async def list_determinations(session: Session, actor: Reader) -> list[DeterminationOut]:
    """A lab's own determinations; every determination for custodians."""
    return await service.list_determinations(session, actor=actor)


@router.post(
    "/determinations",
    response_model=DeterminationOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={429: {"description": "the per-family limit is reached (the refusal is recorded)"}},
)
async def request_determination(
    data: DeterminationIn, session: Session, runtime: RuntimeDep, actor: Requester
) -> Any:
    """Request a determination for one of your lab's models; it runs in a worker."""
    out = await service.request_determination(
        session, model_id=data.model_id, actor=actor, key=runtime.keys.data
    )
    if out.status is DeterminationStatus.REFUSED:
        # Returned, not raised: the refusal and its ledger entry commit with this request.
        error = service.limit_error(out)
        return JSONResponse(
            problem_body(error.status_code, error.title, error.message),
            status_code=error.status_code,
            media_type="application/problem+json",
        )
    return out


@router.get("/determinations/{determination_id}", response_model=DeterminationOut)
async def get_determination(determination_id: uuid.UUID, session: Session, actor: Reader) -> DeterminationOut:
    return await service.get_determination(session, determination_id=determination_id, actor=actor)


@router.get("/determinations/{determination_id}/attestation")
async def get_attestation(determination_id: uuid.UUID, session: Session, actor: Reader) -> dict[str, Any]:
    """The signed attestation: a DSSE envelope of an in-toto Statement v1."""
    return await service.get_attestation(session, determination_id=determination_id, actor=actor)


@router.get("/key")
async def attestation_key(runtime: RuntimeDep, _: Anyone) -> dict[str, str]:
    """The programme's public key that signs attestations (verify with ``forewarn attestation verify``)."""
    return {
        "keyid": runtime.keys.signing.fingerprint,
        "pem": attestation.public_key_pem(runtime.keys.signing),
    }
