"""The pages and API for people: a reviewer's keys with ready-to-paste settings; a lab's usage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import OrgFactory
from tests.earlyaccess.gateway import world

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.gateway import service as gateway

BASE = "http://127.0.0.1:9/v1"


async def test_a_reviewer_sees_their_keys_and_how_to_use_them(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    win = await world.window(session, runtime.keys.data, BASE)
    holder = await world.holder(session, win, token_budget=123_456)
    reviewer = await world.person(session, holder.organisation_id, [Role.REVIEWER])
    # The page shows the keys of the person signed in: issue one to this principal too.
    issued = await gateway.issue_key(
        session,
        window_id=win.window_id,
        holder_person_id=reviewer.person_id,
        holder_organisation_id=holder.organisation_id,
        issued_by_person_id=None,
        rate_limit_per_minute=60,
        token_budget=123_456,
    )
    token = await make_token(reviewer)
    headers = {"Authorization": f"Bearer {token}"}
    mine = (await client.get("/api/v1/gateway/keys/mine", headers=headers)).json()
    assert [k["id"] for k in mine] == [str(issued.id)]
    assert mine[0]["tokens_remaining"] == 123_456 and "secret" not in mine[0]
    page = await client.get("/gateway/keys", headers=headers | {"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert issued.prefix in html and "123,456 of 123,456 tokens" in html
    assert 'base_url="http://testserver/gateway/v1"' in html
    assert f'model="{world.LABEL}"' in html and f"openai-api/gateway/{world.LABEL}" in html
    assert issued.secret.get_secret_value() not in html and holder.secret not in html
    anonymous = await client.get("/gateway/keys", headers={"Accept": "text/html"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


async def test_a_lab_sees_usage_of_its_windows_only(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: OrgFactory,
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    lab = await make_org(kind=OrgKind.LAB)
    other_lab = await make_org(kind=OrgKind.LAB)
    lead = await make_person(lab, [Role.SAFETY_LEAD])
    other_lead = await make_person(other_lab, [Role.SAFETY_LEAD])
    win = await world.window(session, runtime.keys.data, BASE, lab_id=lab)
    holder = await world.holder(session, win)
    # One recorded call (admitted and settled through the service, as the proxy does).
    admitted = await gateway.admit(
        session,
        key_hash=gateway.hash_secret(holder.secret),
        now=datetime.now(UTC),
        model=world.LABEL,
        reserve=100,
        endpoint="chat.completions",
        stream=False,
        request_sha256=b"\1" * 32,
    )
    assert admitted is not None
    await gateway.settle(
        session,
        call_id=admitted.call_id,
        now=datetime.now(UTC),
        status=200,
        error_code=None,
        prompt_tokens=11,
        completion_tokens=22,
        estimated=False,
        latency_ms=5.0,
        response_sha256=b"\2" * 32,
    )
    headers = {"Authorization": f"Bearer {await make_token(lead)}"}
    (usage,) = (await client.get("/api/v1/gateway/usage", headers=headers)).json()
    assert usage["window_id"] == str(win.window_id)
    assert usage["organisations"][0]["completion_tokens"] == 22 and usage["summary"]["calls"] == 1
    one = await client.get(f"/api/v1/gateway/windows/{win.window_id}/usage", headers=headers)
    assert one.status_code == 200 and one.json()["summary"]["prompt_tokens"] == 11
    page = await client.get("/gateway/usage", headers=headers | {"Accept": "text/html"})
    assert page.status_code == 200 and world.LABEL in page.text and ">22<" in page.text
    other = {"Authorization": f"Bearer {await make_token(other_lead)}"}
    assert (
        await client.get(f"/api/v1/gateway/windows/{win.window_id}/usage", headers=other)
    ).status_code == 404
    assert (await client.get("/api/v1/gateway/usage", headers=other)).json() == []
