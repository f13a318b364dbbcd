"""The review API as a lab, a coordinator and outsiders use it over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.core.jobs import Runtime
from forewarn.ledger.models import LedgerEntry

from . import world as w

Tokens = Callable[[Principal], Awaitable[str]]


async def test_lab_and_coordinator_through_the_api(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient, make_token: Tokens
) -> None:
    world = await w.build(session, runtime.keys.data, sign=False)

    async def auth(p: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {await make_token(p)}"}

    lead, coordinator = await auth(world.lead), await auth(world.coordinator)
    current = (await client.get("/api/v1/review/agreements/current")).json()
    assert current["body"] == w.AGREEMENT_TEXT
    # Not participating yet: no window.
    refused = await client.post(
        "/api/v1/review/windows", json={"model_id": str(world.model.id)}, headers=lead
    )
    assert refused.status_code == 409 and "sign" in refused.json()["detail"]
    bad = await client.post("/api/v1/review/participation", json={"agreement_version": 0}, headers=lead)
    assert bad.status_code == 422 and "agreement_version" in bad.text
    signed = await client.post(
        "/api/v1/review/participation", json={"agreement_version": current["version"]}, headers=lead
    )
    assert signed.status_code == 201, signed.text
    status = (await client.get("/api/v1/review/participation", headers=await auth(world.lab_member))).json()
    assert status["participating"] is True
    # The planned release date moves at will.
    moved = await client.patch(
        f"/api/v1/review/models/{world.model.id}",
        json={"planned_release": "2026-01-01", "card_limitations": "Not for medical advice."},
        headers=lead,
    )
    assert moved.status_code == 200 and moved.json()["planned_release"] == "2026-01-01"
    bad_url = await client.patch(
        f"/api/v1/review/models/{world.model.id}", json={"card_url": "javascript:alert(1)"}, headers=lead
    )
    assert bad_url.status_code == 422 and "card_url" in bad_url.text
    # Windows are for covered models: none before the determination says so.
    undetermined = await client.post(
        "/api/v1/review/windows", json={"model_id": str(world.model.id)}, headers=lead
    )
    assert undetermined.status_code == 409 and "covered" in undetermined.json()["detail"]
    await w.mark_covered(session, world.model.id)
    opened = await client.post("/api/v1/review/windows", json={"model_id": str(world.model.id)}, headers=lead)
    assert opened.status_code == 201 and opened.json()["state"] == "awaiting_credential"
    window_id = opened.json()["id"]
    assert opened.json()["length_days"] == runtime.settings.review_window_days
    started = await client.post(
        f"/api/v1/review/windows/{window_id}/credential",
        json={"credential": "sk-CANARY-upstream"},
        headers=lead,
    )
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "open" and started.json()["day"] == 1
    assert "CANARY" not in started.text
    # Coordinator grants an agency and issues a key; the lab may not.
    grant = await client.post(
        f"/api/v1/review/windows/{window_id}/grants",
        json={"organisation_id": str(world.agency)},
        headers=coordinator,
    )
    assert grant.status_code == 201, grant.text
    denied = await client.post(
        f"/api/v1/review/windows/{window_id}/grants",
        json={"organisation_id": str(world.second_agency)},
        headers=lead,
    )
    assert denied.status_code == 403
    issued = await client.post(
        f"/api/v1/review/windows/{window_id}/keys",
        json={"person_id": str(world.agency_reviewer.person_id), "token_budget": 5000},
        headers=coordinator,
    )
    assert issued.status_code == 201 and issued.json()["secret"].startswith("fwk_")
    secret = issued.json()["secret"]
    keys = await client.get(f"/api/v1/review/windows/{window_id}/keys", headers=lead)
    assert keys.status_code == 200 and len(keys.json()) == 1 and secret not in keys.text
    # The reviewer sees the window; an outsider does not.
    reviewer = await auth(world.agency_reviewer)
    assert (await client.get(f"/api/v1/review/windows/{window_id}", headers=reviewer)).status_code == 200
    assert (
        await client.get(f"/api/v1/review/windows/{window_id}", headers=await auth(world.other_lead))
    ).status_code == 404
    notices = await client.get("/api/v1/review/notices", headers=reviewer)
    assert [n["kind"] for n in notices.json()] == ["opened"]
    # Messages with an attachment, multipart; the partner is no side of the channel.
    posted = await client.post(
        f"/api/v1/review/models/{world.model.id}/messages",
        data={"body": "Here is our red-team plan."},
        files={"files": ("plan.md", b"# plan CANARY-FILE", "text/markdown")},
        headers=lead,
    )
    assert posted.status_code == 201, posted.text
    attachment = posted.json()["attachments"][0]
    got = await client.get(
        f"/api/v1/review/models/{world.model.id}/attachments/{attachment['id']}", headers=coordinator
    )
    assert got.status_code == 200 and got.content == b"# plan CANARY-FILE"
    assert got.headers["content-disposition"].startswith("attachment")
    partner = await auth(world.partner_staff)
    assert (
        await client.get(f"/api/v1/review/models/{world.model.id}/messages", headers=partner)
    ).status_code == 403
    other = await auth(world.other_lead)
    assert (
        await client.get(f"/api/v1/review/models/{world.model.id}/messages", headers=other)
    ).status_code == 404
    # The gateway takes the key; withdrawal kills it on the next request.
    models = await client.get("/gateway/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert models.status_code == 200, models.text
    withdrawn = await client.post("/api/v1/review/participation/withdraw", json={"reason": ""}, headers=lead)
    assert withdrawn.status_code == 200 and withdrawn.json() | {"withdrawn_at": None} == {
        "organisation_id": str(world.lab),
        "withdrawn_at": None,
        "windows_closed": 1,
        "keys_revoked": 1,
    }
    after = await client.get("/gateway/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert after.status_code in (401, 403), after.text
    closed = (await client.get(f"/api/v1/review/windows/{window_id}", headers=lead)).json()
    assert closed["state"] == "closed" and closed["close_reason"] == "withdrawn"
    # The upstream credential and the attachment's content never reach the transparency log.
    entries = list(await session.scalars(select(LedgerEntry.data)))
    assert entries and not any(b"CANARY" in bytes(data) for data in entries)
    assert not any(b"plan.md" in bytes(data) for data in entries)


async def test_message_limits_are_clear_errors(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: Tokens,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = await w.build(session, runtime.keys.data)
    monkeypatch.setattr(runtime.settings, "review_max_attachment_bytes", 16)
    monkeypatch.setattr(runtime.settings, "review_max_attachments", 1)
    lead = {"Authorization": f"Bearer {await make_token(world.lead)}"}
    url = f"/api/v1/review/models/{world.model.id}/messages"
    big = await client.post(
        url, data={"body": "x"}, files={"files": ("a.bin", b"0" * 17, "application/pdf")}, headers=lead
    )
    assert big.status_code == 413 and big.headers["content-type"].startswith("application/problem+json")
    assert "files" in big.json()["detail"]
    many = await client.post(
        url,
        data={"body": "x"},
        files=[("files", ("a.txt", b"a", "text/plain")), ("files", ("b.txt", b"b", "text/plain"))],
        headers=lead,
    )
    assert many.status_code == 413 and "at most 1" in many.json()["detail"]
    empty = await client.post(url, data={"body": "   "}, headers=lead)
    assert empty.status_code == 422 and "body" in empty.text
    assert (await client.get(url, headers=lead)).json() == []
