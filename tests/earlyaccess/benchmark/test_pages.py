"""Pages: a lab requests determinations and sees verdicts; custodians see packs, policies and runs."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world
from tests.web.test_pages import hidden, sign_in

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.jobs import Runtime


async def test_a_lab_requests_from_the_page_and_custodians_see_runs(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: Callable[..., Awaitable[uuid.UUID]],
    make_person: Callable[..., Awaitable[Principal]],
    tmp_path: Path,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    await world.active_policy(
        session,
        key,
        who,
        world.sealed_pack(world.write_canary_pack(tmp_path / "p", items=60), key),
        family_limit=1,
    )
    lab = await make_org(kind=OrgKind.LAB)
    lead = await make_person(lab, [Role.SAFETY_LEAD])
    model = await world.register_model(session, key, lead)

    await sign_in(client, lead.email)
    page = await client.get("/determinations")
    assert page.status_code == 200 and model.name in page.text and "Request a determination" in page.text
    form = {"model_id": str(model.id), "csrf_token": hidden(page.text, "csrf_token")}
    requested = await client.post("/determinations", data=form)
    assert requested.status_code == 303
    listed = await client.get("/determinations")
    assert "requested" in listed.text
    refused = await client.post("/determinations", data=form)
    assert refused.status_code == 429 and "limit" in refused.text
    no_csrf = await client.post("/determinations", data={"model_id": str(model.id)})
    assert no_csrf.status_code == 403
    custodian_only = await client.get("/benchmark")
    assert custodian_only.status_code == 403

    client.cookies.clear()
    custodian = await make_person(who.nsa.organisation_id, [Role.BENCHMARK_CUSTODIAN])
    await sign_in(client, custodian.email)
    runs = await client.get("/benchmark")
    assert runs.status_code == 200
    assert "canary-pack" in runs.text and "active" in runs.text and "refused" in runs.text
    assert "ONCD: concurs" in runs.text
