"""Public pages of the transparency log: browse and search entries, see a proof checked."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from forewarn.accounts.http import public
from forewarn.accounts.schemas import Principal
from forewarn.core.errors import NotFound
from forewarn.core.http import RuntimeDep, Session
from forewarn.core.pages import add_nav, render
from forewarn.ledger import service
from forewarn.ledger.schemas import ENTRY_TYPE, KNOWN_TYPES, EntryFilter

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Principal | None, Depends(public())]
add_nav("Transparency log", "/ledger")


def _day(value: str, what: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{what} must be a date like 2026-03-01")
        return None


@router.get("/ledger", name="ledger")
async def ledger_page(
    request: Request,
    session: Session,
    runtime: RuntimeDep,
    _: Anyone,
    type: Annotated[str, Query(max_length=64)] = "",
    organisation: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=0)] = None,
    after: Annotated[int | None, Query(ge=-1)] = None,
) -> Response:
    """Browse and search the public log, newest first."""
    problems: list[str] = []
    where = EntryFilter()
    if type:
        if ENTRY_TYPE.match(type):
            where.type = type
        else:
            problems.append("type is not an entry type")
    if organisation:
        try:
            where.organisation_id = uuid.UUID(organisation.strip())
        except ValueError:
            problems.append("organisation must be an organisation id (a UUID)")
    first, last = _day(since, "from", problems), _day(until, "to", problems)
    if first:
        where.since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if last:  # "to" is inclusive: up to the end of that day
        where.until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    page = await service.search(session, where=where, before=before, after=after)
    try:
        latest = await service.latest_checkpoint(session)
    except NotFound:
        latest = None
    query = {"type": type, "organisation": organisation, "since": since, "until": until}
    kept = urlencode({k: v for k, v in query.items() if v})
    return render(
        request,
        "ledger/index.html",
        page=page,
        latest=latest,
        pending=await service.pending_count(session),
        types=sorted(set(await service.entry_types(session)) | set(KNOWN_TYPES)),
        known=KNOWN_TYPES,
        query=query,
        kept=kept,
        problems=problems,
        vkey=(await service.log_signer(session, runtime)).vkey,
        base_url=str(request.base_url).rstrip("/"),
    )


@router.get("/ledger/entries/{entry_id}", name="ledger_entry")
async def entry_page(
    request: Request, entry_id: uuid.UUID, session: Session, runtime: RuntimeDep, _: Anyone
) -> Response:
    """One entry, and its inclusion proof checked step by step, in words."""
    check = await service.check_entry(
        session, entry_id=entry_id, signer=await service.log_signer(session, runtime)
    )
    return render(
        request,
        "ledger/entry.html",
        check=check,
        entry=check.proof.entry,
        inclusion=check.proof.inclusion,
        checkpoint=check.proof.checkpoint,
        canonical=service.unb64(check.proof.entry.data, "data").decode("utf-8", "replace"),
        known=KNOWN_TYPES,
        base_url=str(request.base_url).rstrip("/"),
    )
