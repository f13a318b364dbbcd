"""Application attachments: checked before anything is stored, sealed at rest, read only by the
applicant, the call's officers and the assigned reviewers; through the service, the API and the pages."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.clock import FrozenClock
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey
from forewarn.grants import service
from forewarn.grants.models import Application, Attachment
from forewarn.grants.schemas import ConflictIn, DecisionIn
from forewarn.ledger.models import LedgerEntry
from tests.web.forms import signed_in_client
from tests.web.test_pages import hidden

from .conftest import People
from .world import PDF, SCORES, application_in, call_in, close_call

Tokens = Callable[[Principal], Awaitable[str]]
CANARY = b"ATTACHMENT-CANARY-7f3a"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17


async def _draft(session: AsyncSession, people: People, **call: Any) -> uuid.UUID:
    made = await service.create_call(session, data=call_in(**call), actor=people.officer)
    await service.publish_call(session, call_id=made.id, actor=people.officer)
    app = await service.create_application(
        session, call_id=made.id, data=application_in(), actor=people.grantee
    )
    return app.id


async def _add(
    session: AsyncSession,
    app_id: uuid.UUID,
    actor: Principal,
    key: DataKey,
    *,
    raw: bytes = PDF + CANARY,
    name: str = "plan.pdf",
    declared: str | None = "application/pdf",
    max_bytes: int = 4096,
    max_count: int = 3,
) -> uuid.UUID:
    made = await service.add_attachment(
        session,
        application_id=app_id,
        raw=raw,
        filename=name,
        declared_type=declared,
        actor=actor,
        key=key,
        max_bytes=max_bytes,
        max_count=max_count,
    )
    return made.id


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Attachment)) or 0)


async def test_sealed_at_rest_and_read_only_by_those_who_read_the_application(
    session: AsyncSession, people: People
) -> None:
    key = DataKey(b"\x11" * 32)
    app_id = await _draft(session, people)
    att_id = await _add(session, app_id, people.grantee, key)
    row = await session.get(Attachment, att_id)
    assert row is not None
    assert CANARY not in row.content_sealed and b"%PDF" not in row.content_sealed
    assert row.sha256 == hashlib.sha256(PDF + CANARY).hexdigest() and row.size == len(PDF + CANARY)
    shown = await service.get_application(session, application_id=app_id, actor=people.grantee)
    assert [(a.name, a.media_type) for a in shown.attachments] == [("plan.pdf", "application/pdf")]
    raw, meta = await service.get_attachment(session, attachment_id=att_id, actor=people.grantee, key=key)
    assert raw == PDF + CANARY and meta.sha256 == row.sha256
    # A draft is the applicant's alone: the officer does not see it, nor its files, yet.
    with pytest.raises(NotFound):
        await service.get_attachment(session, attachment_id=att_id, actor=people.officer, key=key)
    await service.submit_application(session, application_id=app_id, actor=people.grantee)
    await service.assign_reviewer(
        session, application_id=app_id, reviewer_email=people.reviewer.email, actor=people.officer
    )
    for reader in (people.officer, people.reviewer):
        raw, _ = await service.get_attachment(session, attachment_id=att_id, actor=reader, key=key)
        assert raw == PDF + CANARY
    for stranger in (people.rival, people.other_officer, people.reviewer2, people.analyst):
        with pytest.raises(NotFound):
            await service.get_attachment(session, attachment_id=att_id, actor=stranger, key=key)
    # Submitted: the files are part of what is reviewed, and no longer change.
    with pytest.raises(Conflict):
        await _add(session, app_id, people.grantee, key)
    with pytest.raises(Conflict):
        await service.delete_attachment(
            session, application_id=app_id, attachment_id=att_id, actor=people.grantee
        )


async def test_a_sealed_blob_does_not_open_on_another_row(session: AsyncSession, people: People) -> None:
    key = DataKey(b"\x22" * 32)
    app_id = await _draft(session, people)
    first = await _add(session, app_id, people.grantee, key)
    second = await _add(
        session, app_id, people.grantee, key, raw=b"notes", name="notes.txt", declared="text/plain"
    )
    row1, row2 = await session.get(Attachment, first), await session.get(Attachment, second)
    assert row1 is not None and row2 is not None
    row2.content_sealed = row1.content_sealed  # moved by someone with write access to the table
    await session.flush()
    with pytest.raises(InvalidInput):
        await service.get_attachment(session, attachment_id=second, actor=people.grantee, key=key)
    with pytest.raises(InvalidInput):  # and a different key opens nothing
        await service.get_attachment(
            session, attachment_id=first, actor=people.grantee, key=DataKey(b"\x33" * 32)
        )


@pytest.mark.parametrize(
    ("raw", "name", "declared", "error", "field"),
    [
        (b"", "plan.pdf", "application/pdf", InvalidInput, "file"),
        (PDF + b"x" * 5000, "plan.pdf", "application/pdf", TooLarge, "file"),
        (b"MZ\x90\x00", "tool.exe", "application/octet-stream", InvalidInput, "file"),
        (b"hello", "plan.pdf", "application/pdf", InvalidInput, "file"),
        (PDF, "plan.pdf", "text/plain", InvalidInput, "content_type"),
        (PDF, "plan.pdf", None, InvalidInput, "content_type"),
        (PNG, "diagram.png", "image/jpeg", InvalidInput, "content_type"),
        (b"\xff\xfe\x00bad", "notes.txt", "text/plain", InvalidInput, "file"),
        (b"{not json", "data.json", "application/json", InvalidInput, "file"),
        (PDF, "noextension", "application/pdf", InvalidInput, "file"),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_stored(
    session: AsyncSession,
    people: People,
    raw: bytes,
    name: str,
    declared: str | None,
    error: type[Exception],
    field: str,
) -> None:
    key = DataKey(b"\x44" * 32)
    app_id = await _draft(session, people)
    before = await _count(session)
    with pytest.raises(error) as caught:
        await _add(session, app_id, people.grantee, key, raw=raw, name=name, declared=declared)
    assert isinstance(caught.value, InvalidInput) and caught.value.problems[0].field == field
    assert await _count(session) == before


async def test_good_kinds_count_limit_owner_only_and_deadline(
    session: AsyncSession, people: People, clock: FrozenClock
) -> None:
    key = DataKey(b"\x55" * 32)
    app_id = await _draft(session, people, now=clock.now(), closes_in=timedelta(hours=2))
    await _add(
        session, app_id, people.grantee, key, raw=PNG, name="../../etc/diagram.png", declared="image/png"
    )
    await _add(
        session, app_id, people.grantee, key, raw=b"a,b\n1,2\n", name="budget.csv", declared="text/csv"
    )
    await _add(
        session,
        app_id,
        people.grantee,
        key,
        raw=json.dumps({"ok": 1}).encode(),
        name="d.json",
        declared="application/json; charset=utf-8",
    )
    names = [
        a.name
        for a in (
            await service.get_application(session, application_id=app_id, actor=people.grantee)
        ).attachments
    ]
    assert sorted(names) == ["budget.csv", "d.json", "diagram.png"]  # no path survives in a name
    with pytest.raises(InvalidInput) as caught:
        await _add(
            session, app_id, people.grantee, key, raw=b"# Plan", name="plan.md", declared="text/markdown"
        )
    assert "at most 3" in caught.value.problems[0].message
    with pytest.raises(NotFound):  # another grantee does not even see the application
        await _add(session, app_id, people.rival, key)
    attachments = (
        await service.get_application(session, application_id=app_id, actor=people.grantee)
    ).attachments
    await service.delete_attachment(
        session, application_id=app_id, attachment_id=attachments[0].id, actor=people.grantee
    )
    with pytest.raises(NotFound):  # an attachment is addressed through its own application only
        await service.delete_attachment(
            session, application_id=uuid.uuid4(), attachment_id=attachments[1].id, actor=people.grantee
        )
    # The deadline holds for attachments as for submission: to the second.
    clock.advance(timedelta(hours=2))
    before = await _count(session)
    with pytest.raises(InvalidInput) as late:
        await _add(
            session, app_id, people.grantee, key, raw=b"# Plan", name="plan.md", declared="text/markdown"
        )
    assert late.value.problems[0].field == "closes_at"
    assert await _count(session) == before


async def test_officer_cannot_attach(session: AsyncSession, people: People) -> None:
    app_id = await _draft(session, people)
    with pytest.raises((Forbidden, NotFound)):
        await _add(session, app_id, people.officer, DataKey(b"\x66" * 32))


async def test_attachments_through_the_api(
    client: httpx.AsyncClient, session: AsyncSession, people: People, make_token: Tokens, runtime: Runtime
) -> None:
    app_id = await _draft(session, people)
    grantee = {"Authorization": f"Bearer {await make_token(people.grantee)}"}
    rival = {"Authorization": f"Bearer {await make_token(people.rival)}"}
    base = f"/api/v1/grants/applications/{app_id}/attachments"
    multipart = await client.post(
        base, files={"file": ("plan.pdf", PDF + CANARY, "application/pdf")}, headers=grantee
    )
    assert multipart.status_code == 201, multipart.text
    raw_body = await client.post(
        base + "?filename=notes.txt", content=b"plain notes", headers=grantee | {"Content-Type": "text/plain"}
    )
    assert raw_body.status_code == 201, raw_body.text
    assert multipart.json()["sha256"] == hashlib.sha256(PDF + CANARY).hexdigest()
    # Bad input: named, problem+json, nothing stored.
    before = await _count(session)
    wrong = await client.post(
        base, files={"file": ("plan.pdf", b"<html>", "application/pdf")}, headers=grantee
    )
    assert wrong.status_code == 422 and wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["problems"][0]["field"] == "file"
    unnamed = await client.post(base, content=PDF, headers=grantee | {"Content-Type": "application/pdf"})
    assert unnamed.status_code == 422 and unnamed.json()["problems"][0]["field"] == "filename"
    big = runtime.settings.grants_max_attachment_bytes
    oversized = await client.post(
        base, files={"file": ("plan.pdf", PDF + b"0" * big, "application/pdf")}, headers=grantee
    )
    assert oversized.status_code == 413 and oversized.json()["problems"][0]["field"] == "file"
    assert await _count(session) == before
    # Download: the bytes as sent, never inline, never sniffed; nobody else gets it.
    got = await client.get(f"/api/v1/grants/attachments/{multipart.json()['id']}", headers=grantee)
    assert got.status_code == 200 and got.content == PDF + CANARY
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == 'attachment; filename="plan.pdf"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (
        await client.get(f"/api/v1/grants/attachments/{multipart.json()['id']}", headers=rival)
    ).status_code == 404
    assert (await client.get(f"/api/v1/grants/attachments/{multipart.json()['id']}")).status_code == 401
    # The description is in the application; the content is not.
    shown = (await client.get(f"/api/v1/grants/applications/{app_id}", headers=grantee)).json()
    assert sorted(a["name"] for a in shown["attachments"]) == ["notes.txt", "plan.pdf"]
    assert CANARY.decode() not in json.dumps(shown)
    removed = await client.delete(f"{base}/{raw_body.json()['id']}", headers=grantee)
    assert removed.status_code == 204
    assert await _count(session) == before - 1


async def test_attachments_through_the_pages(app: Any, session: AsyncSession, people: People) -> None:
    call = await service.create_call(session, data=call_in(), actor=people.officer)
    await service.publish_call(session, call_id=call.id, actor=people.officer)
    form = application_in().model_dump(mode="json")
    fields = {
        "tool_name": form["tool_name"],
        "detects": form["detects"],
        "summary": form["summary"],
        "approach": form["approach"],
        "budget": str(form["budget"]),
        "milestones": "\n".join(
            f"{m['title']} | {m['due_at'][:10]} | {m['amount']}" for m in form["milestones"]
        ),
        "team": form["team"],
        "action": "draft",
    }
    async with signed_in_client(app, people.grantee.email) as grantee:
        page = f"/grants/calls/{call.id}"
        csrf = hidden((await grantee.get(page)).text, "csrf_token")
        # A bad file fails the whole form: no application, no attachment.
        apps_before = await session.scalar(select(func.count()).select_from(Application))
        files_before = await _count(session)
        bad = await grantee.post(
            page + "/apply",
            data=fields | {"csrf_token": csrf},
            files=[("file", ("plan.pdf", b"not a pdf", "application/pdf"))],
        )
        assert bad.status_code == 422 and "the content is not application/pdf" in bad.text
        assert await session.scalar(select(func.count()).select_from(Application)) == apps_before
        assert await _count(session) == files_before
        made = await grantee.post(
            page + "/apply",
            data=fields | {"csrf_token": csrf},
            files=[("file", ("plan.pdf", PDF + CANARY, "application/pdf"))],
        )
        assert made.status_code == 303, made.text
        here = made.headers["location"].split("?")[0]
        shown = await grantee.get(here)
        assert "plan.pdf" in shown.text and CANARY.decode() not in shown.text
        more = await grantee.post(
            here + "/attachments",
            data={"csrf_token": csrf},
            files=[("file", ("notes.md", b"# Notes", "text/markdown"))],
        )
        assert more.status_code == 303
        link = [
            part.split('"')[0]
            for part in (await grantee.get(here)).text.split('href="/grants/attachments/')[1:]
        ]
        assert len(link) == 2
        got = await grantee.get(f"/grants/attachments/{link[0]}")
        assert got.status_code == 200 and got.content == PDF + CANARY
        removed = await grantee.post(here + f"/attachments/{link[1]}/delete", data={"csrf_token": csrf})
        assert removed.status_code == 303
        assert "notes.md" not in (await grantee.get(here)).text
    async with signed_in_client(app, people.rival.email) as rival:
        assert (await rival.get(f"/grants/attachments/{link[0]}")).status_code == 404


async def test_the_decision_log_binds_the_files_by_hash_only(session: AsyncSession, people: People) -> None:
    key = DataKey(b"\x77" * 32)
    app_id = await _draft(session, people)
    await _add(session, app_id, people.grantee, key, name="secret-roadmap.pdf")
    await service.submit_application(session, application_id=app_id, actor=people.grantee)
    await service.assign_reviewer(
        session, application_id=app_id, reviewer_email=people.reviewer.email, actor=people.officer
    )
    await service.declare_conflict(
        session, application_id=app_id, data=ConflictIn(conflict=False), actor=people.reviewer
    )
    await service.score(session, application_id=app_id, data=SCORES, actor=people.reviewer)
    app = await session.get(Application, app_id)
    assert app is not None
    await close_call(session, app.call_id)
    await service.decide(
        session,
        application_id=app_id,
        data=DecisionIn(award=True, rationale="Ranked first; the attached plan is credible."),
        actor=people.officer,
    )
    entry = (
        await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.type == "grants.award_decided")
            .order_by(LedgerEntry.index.desc())
        )
    ).first()
    assert entry is not None
    assert CANARY not in entry.data and b"secret-roadmap" not in entry.data
    rows = (await session.scalars(select(Attachment).where(Attachment.application_id == app_id))).all()
    logged = json.loads(entry.data)["sealed"]["application"]
    assert logged == service._digest(service._app_terms(app, list(rows)))
