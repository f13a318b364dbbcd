"""JSON API of the review programme: the model registry under ``/api/v1/models`` and the programme
under ``/api/v1/review`` (agreement, participation, submissions, windows, grants, keys, notices,
messages). Entry points stay thin: parse, authorise (``require``), call the service."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import NotFound, TooLarge
from forewarn.core.http import RuntimeDep, Session
from forewarn.earlyaccess.gateway.schemas import KeyOut
from forewarn.earlyaccess.review import policy, service
from forewarn.earlyaccess.review.schemas import (
    AgreementIn,
    AgreementOut,
    AttachmentIn,
    CloseIn,
    CredentialIn,
    GrantIn,
    GrantOut,
    IssuedKeyOut,
    KeyIn,
    MessageOut,
    ModelIn,
    ModelOut,
    ModelUpdate,
    NoticeOut,
    ParticipationOut,
    ParticipationStatus,
    RevokeIn,
    SignIn,
    WindowIn,
    WindowOut,
    WithdrawalOut,
    WithdrawIn,
)

if TYPE_CHECKING:
    from forewarn.core.jobs import Runtime

router = APIRouter()

Lister = Annotated[Principal, Depends(require(policy.can_list_models))]
Registrar = Annotated[Principal, Depends(require(policy.can_register_models))]
Anyone = Annotated[Principal | None, Depends(public())]
Publisher = Annotated[Principal, Depends(require(policy.can_publish_agreement))]
LabPerson = Annotated[Principal, Depends(require(policy.is_lab_person))]
SafetyLead = Annotated[Principal, Depends(require(policy.is_safety_lead))]
WindowReader = Annotated[Principal, Depends(require(policy.can_read_windows))]
Coordinator = Annotated[Principal, Depends(require(policy.is_coordinator))]
WindowManager = Annotated[Principal, Depends(require(policy.can_manage_window))]
ChannelUser = Annotated[Principal, Depends(require(policy.can_use_channel))]


# --- the model registry ------------------------------------------------------------------------------


@router.get("/models", response_model=list[ModelOut], tags=["models"])
async def list_models(session: Session, actor: Lister) -> list[ModelOut]:
    """Your lab's registered models (all models for custodians and platform administrators)."""
    return await service.list_models(session, actor=actor)


@router.post("/models", response_model=ModelOut, status_code=status.HTTP_201_CREATED, tags=["models"])
async def register_model(data: ModelIn, session: Session, runtime: RuntimeDep, actor: Registrar) -> ModelOut:
    """Register a model of your lab; the endpoint credential is sealed and never shown again."""
    return await service.register_model(session, data=data, actor=actor, key=runtime.keys.data)


@router.get("/models/{model_id}", response_model=ModelOut, tags=["models"])
async def get_model(model_id: uuid.UUID, session: Session, actor: Lister) -> ModelOut:
    return await service.get_model(session, model_id=model_id, actor=actor)


# --- agreement and participation ---------------------------------------------------------------------


@router.get("/review/agreements", response_model=list[AgreementOut], tags=["review"])
async def list_agreements(session: Session, actor: Anyone) -> list[AgreementOut]:
    """Every published version of the participation agreement (public), newest first."""
    return await service.list_agreements(session)


@router.get("/review/agreements/current", response_model=AgreementOut, tags=["review"])
async def current_agreement(session: Session, actor: Anyone) -> AgreementOut:
    """The version a lab signs today (public)."""
    current = await service.current_agreement(session)
    if current is None:
        raise NotFound("no agreement has been published yet")
    return current


@router.post(
    "/review/agreements", response_model=AgreementOut, status_code=status.HTTP_201_CREATED, tags=["review"]
)
async def publish_agreement(data: AgreementIn, session: Session, actor: Publisher) -> AgreementOut:
    """Publish the next agreement version (coordinators, platform administrators)."""
    return await service.publish_agreement(session, data=data, actor=actor)


@router.get("/review/participation", response_model=ParticipationStatus, tags=["review"])
async def participation(session: Session, actor: LabPerson) -> ParticipationStatus:
    """Your lab's standing in the programme and its signatures."""
    return await service.participation_status(session, actor=actor)


@router.post(
    "/review/participation",
    response_model=ParticipationOut,
    status_code=status.HTTP_201_CREATED,
    tags=["review"],
)
async def sign(data: SignIn, session: Session, actor: SafetyLead) -> ParticipationOut:
    """Opt in: sign the current agreement version (the lab's safety lead)."""
    return await service.sign(session, agreement_version=data.agreement_version, actor=actor)


@router.post("/review/participation/withdraw", response_model=WithdrawalOut, tags=["review"])
async def withdraw(data: WithdrawIn, session: Session, actor: SafetyLead) -> WithdrawalOut:
    """Withdraw now: every open window of the lab closes and every key of those windows dies."""
    return await service.withdraw(session, actor=actor, reason=data.reason)


# --- submissions -------------------------------------------------------------------------------------


@router.patch("/review/models/{model_id}", response_model=ModelOut, tags=["review"])
async def update_model(
    model_id: uuid.UUID, data: ModelUpdate, session: Session, actor: SafetyLead
) -> ModelOut:
    """Change the model card or the planned release date (information only: it gates nothing)."""
    return await service.update_model(session, model_id=model_id, data=data, actor=actor)


@router.post("/review/models/{model_id}/release", response_model=ModelOut, tags=["review"])
async def mark_released(model_id: uuid.UUID, session: Session, actor: SafetyLead) -> ModelOut:
    """Say the model is public; its open window closes."""
    return await service.mark_released(session, model_id=model_id, actor=actor)


# --- messages ----------------------------------------------------------------------------------------


@router.get("/review/models/{model_id}/messages", response_model=list[MessageOut], tags=["review"])
async def list_messages(model_id: uuid.UUID, session: Session, actor: ChannelUser) -> list[MessageOut]:
    """The model's channel between its lab and the agencies (nobody else sees it)."""
    return await service.list_messages(session, model_id=model_id, actor=actor)


async def read_files(files: list[UploadFile], *, limit: int, count: int) -> list[AttachmentIn]:
    """The uploaded files, refused (413) beyond ``count`` files or ``limit`` bytes each."""
    chosen = [f for f in files if f.filename]
    if len(chosen) > count:
        raise TooLarge(f"files: at most {count} attachments")
    out = []
    for upload in chosen:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"files: each attachment is at most {limit} bytes")
        out.append(
            AttachmentIn(
                filename=upload.filename or "file",
                content_type=upload.content_type or "application/octet-stream",
                data=data,
            )
        )
    return out


@router.post(
    "/review/models/{model_id}/messages",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    tags=["review"],
)
async def post_message(
    model_id: uuid.UUID,
    session: Session,
    runtime: RuntimeDep,
    actor: ChannelUser,
    body: Annotated[str, Form(max_length=100_000)],
    files: Annotated[list[UploadFile], File(description="attachments (sealed at rest)")] = [],  # noqa: B006 -- FastAPI reads the default, never mutates it
) -> MessageOut:
    """Post a message (multipart: ``body`` and any ``files``); attachments are sealed at rest."""
    return await post_with_files(session, runtime, model_id=model_id, body=body, files=files, actor=actor)


async def post_with_files(
    session: AsyncSession,
    runtime: Runtime,
    *,
    model_id: uuid.UUID,
    body: str,
    files: list[UploadFile],
    actor: Principal,
) -> MessageOut:
    """Post a message with its uploaded files, under the programme's limits (the API's and the page's)."""
    settings = runtime.settings
    attachments = await read_files(
        files, limit=settings.review_max_attachment_bytes, count=settings.review_max_attachments
    )
    return await service.post_message(
        session,
        model_id=model_id,
        body=body,
        attachments=attachments,
        actor=actor,
        key=runtime.keys.data,
        max_chars=settings.review_max_message_chars,
        max_attachment_bytes=settings.review_max_attachment_bytes,
        max_attachments=settings.review_max_attachments,
    )


def attachment_response(filename: str, content_type: str, data: bytes) -> Response:
    """A download: never rendered inline (the content is the other side's, untrusted)."""
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
            "X-Original-Content-Type": content_type.encode("ascii", "replace").decode()[:100],
        },
    )


@router.get("/review/models/{model_id}/attachments/{attachment_id}", tags=["review"])
async def get_attachment(
    model_id: uuid.UUID, attachment_id: uuid.UUID, session: Session, runtime: RuntimeDep, actor: ChannelUser
) -> Response:
    """Download an attachment (opened from its sealed form for the channel's two sides)."""
    meta, data = await service.get_attachment(
        session, model_id=model_id, attachment_id=attachment_id, actor=actor, key=runtime.keys.data
    )
    return attachment_response(meta.filename, meta.content_type, data)


# --- windows -----------------------------------------------------------------------------------------


@router.get("/review/windows", response_model=list[WindowOut], tags=["review"])
async def list_windows(session: Session, actor: WindowReader) -> list[WindowOut]:
    """Windows you take part in (coordinators: every window), with the day counter."""
    return await service.list_windows(session, actor=actor)


@router.post(
    "/review/windows", response_model=WindowOut, status_code=status.HTTP_201_CREATED, tags=["review"]
)
async def open_window(data: WindowIn, session: Session, runtime: RuntimeDep, actor: SafetyLead) -> WindowOut:
    """Open a window for your model; access starts when you hand over the upstream credential."""
    return await service.open_window(
        session,
        model_id=data.model_id,
        actor=actor,
        length_days=runtime.settings.review_window_days,
        require_covered=runtime.settings.review_require_covered,
    )


@router.get("/review/windows/{window_id}", response_model=WindowOut, tags=["review"])
async def get_window(window_id: uuid.UUID, session: Session, actor: WindowReader) -> WindowOut:
    return await service.get_window(session, window_id=window_id, actor=actor)


@router.post("/review/windows/{window_id}/credential", response_model=WindowOut, tags=["review"])
async def register_credential(
    window_id: uuid.UUID, data: CredentialIn, session: Session, runtime: RuntimeDep, actor: SafetyLead
) -> WindowOut:
    """Hand over (or replace) the one upstream credential: the first one starts access."""
    return await service.register_credential(
        session, window_id=window_id, data=data, actor=actor, key=runtime.keys.data
    )


@router.post("/review/windows/{window_id}/close", response_model=WindowOut, tags=["review"])
async def close_window(
    window_id: uuid.UUID, data: CloseIn, session: Session, actor: WindowManager
) -> WindowOut:
    """Close the window now (its lab's safety lead, or a coordinator); every key dies."""
    return await service.close_window(session, window_id=window_id, actor=actor, reason=data.reason)


@router.get("/review/windows/{window_id}/grants", response_model=list[GrantOut], tags=["review"])
async def list_grants(window_id: uuid.UUID, session: Session, actor: WindowReader) -> list[GrantOut]:
    """Which organisations have access to the window."""
    return await service.list_grants(session, window_id=window_id, actor=actor)


@router.post(
    "/review/windows/{window_id}/grants",
    response_model=GrantOut,
    status_code=status.HTTP_201_CREATED,
    tags=["review"],
)
async def grant_agency(window_id: uuid.UUID, data: GrantIn, session: Session, actor: Coordinator) -> GrantOut:
    """Give an agency access to the window (coordinators; partners are granted by the partner panel)."""
    return await service.grant_agency_access(
        session, window_id=window_id, organisation_id=data.organisation_id, actor=actor
    )


@router.post("/review/windows/{window_id}/grants/{grant_id}/revoke", response_model=GrantOut, tags=["review"])
async def revoke_grant(
    window_id: uuid.UUID, grant_id: uuid.UUID, data: RevokeIn, session: Session, actor: Coordinator
) -> GrantOut:
    """Revoke an agency's access; its keys for the window die with it."""
    return await service.revoke_agency_access(
        session, window_id=window_id, grant_id=grant_id, reason=data.reason, actor=actor
    )


@router.get("/review/windows/{window_id}/keys", response_model=list[KeyOut], tags=["review"])
async def list_keys(window_id: uuid.UUID, session: Session, actor: WindowReader) -> list[KeyOut]:
    """The window's reviewer keys (never their secrets)."""
    return await service.list_window_keys(session, window_id=window_id, actor=actor)


@router.post(
    "/review/windows/{window_id}/keys",
    response_model=IssuedKeyOut,
    status_code=status.HTTP_201_CREATED,
    tags=["review"],
)
async def issue_key(window_id: uuid.UUID, data: KeyIn, session: Session, actor: Coordinator) -> IssuedKeyOut:
    """Issue a reviewer key to a person of a granted organisation; the secret is shown this once."""
    issued = await service.issue_reviewer_key(
        session,
        window_id=window_id,
        person_id=data.person_id,
        actor=actor,
        rate_limit_per_minute=data.rate_limit_per_minute,
        token_budget=data.token_budget,
    )
    return IssuedKeyOut(
        id=issued.id,
        window_id=issued.window_id,
        prefix=issued.prefix,
        expires_at=issued.expires_at,
        secret=issued.secret.get_secret_value(),
    )


@router.post(
    "/review/windows/{window_id}/keys/{key_id}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["review"],
)
async def revoke_key(
    window_id: uuid.UUID, key_id: uuid.UUID, data: RevokeIn, session: Session, actor: Coordinator
) -> Response:
    """Revoke one reviewer key (effective on its next request)."""
    await service.revoke_reviewer_key(
        session, window_id=window_id, key_id=key_id, reason=data.reason, actor=actor
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/review/windows/{window_id}/notices", response_model=list[NoticeOut], tags=["review"])
async def window_notices(window_id: uuid.UUID, session: Session, actor: WindowReader) -> list[NoticeOut]:
    """The window's notices to your organisation (coordinators: to every participant)."""
    return await service.list_notices(session, actor=actor, window_id=window_id)


@router.get("/review/notices", response_model=list[NoticeOut], tags=["review"])
async def my_notices(session: Session, actor: WindowReader) -> list[NoticeOut]:
    """Every review notice to your organisation."""
    return await service.list_notices(session, actor=actor)
