"""Pages: a lab requests determinations and sees verdicts; custodians see packs, policies and runs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world
from tests.earlyaccess.review import world as review_world
from tests.web.test_pages import hidden, sign_in

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark import stats
from forewarn.earlyaccess.benchmark.runner import RunResult
from forewarn.earlyaccess.review import service as review


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


async def test_a_covered_verdict_leads_to_the_review_programme_for_those_it_admits(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: Callable[[Principal], Awaitable[str]],
    tmp_path: Path,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    pack = world.sealed_pack(world.write_canary_pack(tmp_path / "p", items=60), key)
    await world.active_policy(session, key, who, pack)
    programme = await review_world.build(session, key)  # the lab signed the agreement
    model = programme.model
    requested = await benchmark.request_determination(
        session, model_id=model.id, actor=programme.lead, key=key
    )
    covered = RunResult(
        verdict=stats.Verdict.COVERED, outcomes=5, decided_at=5, resumed_from=0, model_calls=5, early_stops=1
    )
    await benchmark.finish_run(session, determination_id=requested.id, result=covered, keys=runtime.keys)

    async def page(principal: Principal, path: str) -> httpx.Response:
        token = await make_token(principal)
        return await client.get(path, headers={"Authorization": f"Bearer {token}", "Accept": "text/html"})

    model_link, open_link = f'href="/review/models/{model.id}"', f'href="/review/models/{model.id}#windows"'
    expected = {
        # who: (the programme's home, the model's page, the window form)
        "lead": (True, True, True),
        "lab_member": (True, True, False),  # reads the model page; only the safety lead opens windows
        "custodian": (True, True, False),  # custodians read every model, open no window
    }
    people = {"lead": programme.lead, "lab_member": programme.lab_member, "custodian": who.nsa}
    for name, (home, model_page, form) in expected.items():
        listed = await page(people[name], "/determinations")
        assert listed.status_code == 200, name
        assert ('href="/review" id="review-link"' in listed.text) is home, name
        assert (model_link in listed.text) is model_page, name
        assert (open_link in listed.text) is form, name
        # Every link into the programme opens for its reader (no link to a refusal).
        main = listed.text.split("<main>", 1)[-1]
        for href in set(re.findall(r'href="(/review[^"#]*)', main)):
            assert (await page(people[name], href)).status_code == 200, (name, href)
    # The lead's link lands on the window form of the model's page.
    landing = await page(programme.lead, f"/review/models/{model.id}")
    assert 'id="windows"' in landing.text and 'id="open-window-form"' in landing.text
    # Another lab sees neither the verdict nor a link to the model.
    other = await page(programme.other_lead, "/determinations")
    assert other.status_code == 200 and str(model.id) not in other.text

    # Once the window is open, the verdict leads to it instead of the form.
    window = await review.open_window(session, model_id=model.id, actor=programme.lead, length_days=30)
    listed = await page(programme.lead, "/determinations")
    assert (
        f'href="/review/windows/{window.id}">Review window (access starts with the credential)' in listed.text
    )
    assert open_link not in listed.text
    assert (await page(programme.lead, f"/review/windows/{window.id}")).status_code == 200
