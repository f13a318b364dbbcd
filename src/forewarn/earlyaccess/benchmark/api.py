"""JSON API of the sealed benchmark, under ``/api/v1/benchmark``.

Labs request determinations and read their verdicts and attestations; custodians read packs,
policies and every run, import and retire packs, and propose (NSA), consult on (ONCD, CISA) and
activate (NSA) threshold policies. No route returns item text, answers, thresholds, scores or call
counts: writes answer with the same public shapes as the reads.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, UploadFile, status
from fastapi.responses import JSONResponse

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import TooLarge
from forewarn.core.http import RuntimeDep, Session, problem_body
from forewarn.earlyaccess.benchmark import attestation, policy, service
from forewarn.earlyaccess.benchmark.schemas import (
    ConsultationIn,
    DeterminationIn,
    DeterminationOut,
    DeterminationStatus,
    PackOut,
    PolicyIn,
    PolicyOut,
)

router = APIRouter(prefix="/benchmark", tags=["benchmark"])

Custodian = Annotated[Principal, Depends(require(policy.is_custodian))]
Reader = Annotated[Principal, Depends(require(policy.can_list_determinations))]
Requester = Annotated[Principal, Depends(require(policy.can_request_determination))]
Anyone = Annotated[Principal | None, Depends(public())]
PackManager = Annotated[Principal, Depends(require(policy.can_manage_packs))]
Proposer = Annotated[Principal, Depends(require(policy.can_propose_policy))]
Consultee = Annotated[Principal, Depends(require(policy.can_consult))]


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded file's bytes, refused (413) beyond ``limit``."""
    blob = await upload.read(limit + 1)
    if len(blob) > limit:
        raise TooLarge("the pack file is larger than the upload limit")
    return blob


@router.get("/packs", response_model=list[PackOut])
async def list_packs(session: Session, actor: Custodian) -> list[PackOut]:
    """Imported packs: public header fields and status (custodians only)."""
    return await service.list_packs(session, actor=actor)


@router.post("/packs", response_model=PackOut, status_code=status.HTTP_201_CREATED)
async def import_pack(
    session: Session,
    runtime: RuntimeDep,
    actor: PackManager,
    file: Annotated[UploadFile, File(description="a sealed pack file (forewarn benchmark pack build)")],
) -> PackOut:
    """Import a sealed pack (multipart field ``file``); authenticated and validated before it is stored."""
    blob = await read_upload(file, runtime.settings.max_upload_bytes)
    return await service.import_pack(session, blob=blob, actor=actor, key=runtime.keys.data)


@router.post("/packs/{pack_id}/retire", response_model=PackOut)
async def retire_pack(pack_id: uuid.UUID, session: Session, actor: PackManager) -> PackOut:
    """Retire a pack: no new policy may use it, and an active policy on it is superseded."""
    return await service.retire_pack(session, pack_id=pack_id, actor=actor)


@router.get("/policies", response_model=list[PolicyOut])
async def list_policies(session: Session, actor: Custodian) -> list[PolicyOut]:
    """Threshold policies: status, commitment, consultations; never the numbers (custodians only)."""
    return await service.list_policies(session, actor=actor)


@router.post("/policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED)
async def propose_policy(data: PolicyIn, session: Session, runtime: RuntimeDep, actor: Proposer) -> PolicyOut:
    """Propose a threshold policy (NSA custodians). The numbers are sealed and never returned."""
    return await service.propose_policy(session, data=data, actor=actor, key=runtime.keys.data)


@router.post(
    "/policies/{policy_id}/consultations", response_model=PolicyOut, status_code=status.HTTP_201_CREATED
)
async def consult(
    policy_id: uuid.UUID, data: ConsultationIn, session: Session, runtime: RuntimeDep, actor: Consultee
) -> PolicyOut:
    """Record your agency's consultation on a proposed policy (ONCD, CISA custodians; once each)."""
    return await service.consult(session, policy_id=policy_id, data=data, actor=actor, key=runtime.keys.data)


@router.post("/policies/{policy_id}/activate", response_model=PolicyOut)
async def activate_policy(policy_id: uuid.UUID, session: Session, actor: Proposer) -> PolicyOut:
    """Activate a proposed policy (NSA custodians) once ONCD and CISA have both been consulted."""
    return await service.activate_policy(session, policy_id=policy_id, actor=actor)


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
