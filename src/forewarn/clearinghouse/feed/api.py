"""JSON API of the signed patch feed, under ``/api/v1/feed``.

The feed's state and an advisory's patch files are public (TLP:CLEAR). A patch file is uploaded as
the request body itself (or as a multipart file named ``file``) by an analyst or one of the
advisory's vendors; it is hashed, stored and published as a signed target at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from forewarn.accounts.http import public, require
from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.feed import policy, service, tuf_repo
from forewarn.clearinghouse.feed.jobs import feed_urls
from forewarn.clearinghouse.feed.records import FeedStatus, PatchOut
from forewarn.core.errors import InvalidInput, Problem, TooLarge
from forewarn.core.http import RuntimeDep, Session

router = APIRouter(tags=["feed"])

Anyone = Annotated[Principal | None, Depends(public())]
Uploader = Annotated[Principal, Depends(require(policy.may_upload_patches))]
AdvisoryId = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/feed/status", response_model=FeedStatus)
async def feed_status(session: Session, runtime: RuntimeDep, _: Anyone) -> FeedStatus:
    """Each role's version, expiry and key ids; how many targets; where clients fetch them."""
    metadata_url, targets_url = feed_urls(runtime.settings)
    return await service.status(session, metadata_url=metadata_url, targets_url=targets_url)


@router.get("/feed/advisories/{advisory_id}/patches", response_model=list[PatchOut])
async def list_patches(
    session: Session, runtime: RuntimeDep, _: Anyone, advisory_id: AdvisoryId
) -> list[PatchOut]:
    """The patch files published for a published advisory."""
    return await service.list_patches(
        session, advisory_id=advisory_id, targets_url=feed_urls(runtime.settings)[1]
    )


async def _read_patch(request: Request, limit: int) -> bytes:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("attach the patch file", problems=[Problem("file", "a file is required")])
        raw: bytes = await upload.read(limit + 1)
    else:
        raw = await request.body()
    if len(raw) > limit:
        raise TooLarge(f"the patch file is larger than {limit} bytes")
    return raw


@router.post(
    "/feed/advisories/{advisory_id}/patches", response_model=PatchOut, status_code=status.HTTP_201_CREATED
)
async def upload_patch(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    actor: Uploader,
    advisory_id: AdvisoryId,
    filename: Annotated[str, Query(min_length=1, max_length=128, description="the file's name in the feed")],
    purl: Annotated[str | None, Query(max_length=400, description="the component it fixes")] = None,
    version: Annotated[str | None, Query(max_length=100, description="the fixed version it installs")] = None,
) -> PatchOut:
    """Publish a patch file for a published advisory as a signed feed target (analysts and the
    advisory's vendors). The same file name again replaces the content."""
    limit = runtime.settings.max_upload_bytes
    content = await _read_patch(request, limit)
    return await service.upload_patch(
        session,
        advisory_id=advisory_id,
        filename=filename,
        content=content,
        purl=purl,
        version=version,
        actor=actor,
        key=runtime.keys.data,
        targets_url=feed_urls(runtime.settings)[1],
        max_bytes=limit,
        expiry=tuf_repo.Expiry.from_settings(runtime.settings),
        bins=runtime.settings.feed_hash_bins,
    )
