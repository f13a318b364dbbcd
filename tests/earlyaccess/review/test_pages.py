"""Pages: a lab's safety lead signs, registers a model, opens a window and hands over its credential;
a coordinator grants an agency and issues a key (secret shown once); messages with an attachment;
withdrawal from the agreement page. All without JavaScript (plain form posts with the CSRF token)."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.web.test_pages import hidden, sign_in

from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review

from . import world as w


async def test_lab_and_coordinator_pages(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    world = await w.build(session, runtime.keys.data, sign=False)
    await sign_in(client, world.lead.email)
    home = await client.get("/review")
    assert home.status_code == 200 and "Not taking part" in home.text and world.model.name in home.text
    agreement = await client.get("/review/agreement")
    assert "Nothing here licenses, pre-clears or permits a release." in agreement.text
    assert 'id="sign-agreement"' in agreement.text
    csrf = hidden(agreement.text, "csrf_token")
    version = re.search(r'name="agreement_version" value="(\d+)"', agreement.text)
    assert version is not None
    signed = await client.post(
        "/review/agreement/sign", data={"csrf_token": csrf, "agreement_version": version.group(1)}
    )
    assert signed.status_code == 303
    page = await client.get("/review/agreement")
    assert "Your lab takes part" in page.text and 'id="withdraw"' in page.text

    # Register a model from the page: a bad URL names the field and keeps what was typed.
    form = {
        "csrf_token": csrf,
        "name": "heron",
        "version": "3.1",
        "family": "heron",
        "modality": "text",
        "planned_release": "2027-09-01",
        "access_mode": "remote",
        "endpoint_base_url": "ftp://nope",
        "endpoint_model": "heron-3",
        "credential": "sk-CANARY-page",
        "card_summary": "Heron summary",
    }
    bad = await client.post("/review/models", data=form)
    assert bad.status_code == 422 and "endpoint_base_url" in bad.text and "Heron summary" in bad.text
    assert "sk-CANARY-page" not in bad.text
    created = await client.post("/review/models", data=form | {"endpoint_base_url": "http://127.0.0.1:9/v1"})
    assert created.status_code == 303
    model_url = created.headers["location"].split("?")[0]
    model_page = await client.get(model_url)
    assert "heron 3.1" in model_page.text and 'id="open-window"' not in model_page.text
    assert "request a determination" in model_page.text  # windows are for covered models
    await w.mark_covered(session, uuid.UUID(model_url.rsplit("/", 1)[-1]))
    model_page = await client.get(model_url)
    assert 'id="open-window"' in model_page.text
    # The planned release moves at will.
    moved = await client.post(model_url, data={"csrf_token": csrf, "planned_release": "2026-12-24"})
    assert moved.status_code == 303
    assert "2026-12-24" in (await client.get(model_url)).text
    opened = await client.post(model_url + "/windows", data={"csrf_token": csrf})
    assert opened.status_code == 303 and opened.headers["location"].startswith("/review/windows/")
    window_url = opened.headers["location"].split("?")[0]
    window_page = await client.get(window_url)
    assert "awaiting credential" in window_page.text and 'id="register-credential"' in window_page.text
    started = await client.post(
        window_url + "/credential", data={"csrf_token": csrf, "credential": "sk-CANARY-up"}
    )
    assert started.status_code == 303
    window_page = await client.get(window_url)
    assert 'id="day-counter"' in window_page.text and "Day 1 of 30" in window_page.text
    assert "sk-CANARY-up" not in window_page.text
    posted = await client.post(
        model_url + "/messages",
        data={"csrf_token": csrf, "body": "When does the report arrive?"},
        files={"files": ("q.txt", b"question file", "text/plain")},
    )
    assert posted.status_code == 303
    assert "When does the report arrive?" in (await client.get(model_url)).text

    # The coordinator grants an agency and issues a key; its secret appears on that response only.
    client.cookies.clear()
    await sign_in(client, world.coordinator.email)
    window_page = await client.get(window_url)
    assert 'id="grant-access"' in window_page.text
    csrf = hidden(window_page.text, "csrf_token")
    granted = await client.post(
        window_url + "/grants", data={"csrf_token": csrf, "organisation_id": str(world.agency)}
    )
    assert granted.status_code == 303
    window_page = await client.get(window_url)
    assert str(world.agency_reviewer.person_id) in window_page.text
    issued = await client.post(
        window_url + "/keys",
        data={
            "csrf_token": csrf,
            "person_id": str(world.agency_reviewer.person_id),
            "rate_limit_per_minute": "30",
            "token_budget": "5000",
        },
    )
    assert issued.status_code == 200 and 'id="issued-key-secret"' in issued.text
    secret = re.search(r"(fwk_[A-Za-z0-9_-]+)", issued.text)
    assert secret is not None and issued.headers["cache-control"] == "no-store"
    assert secret.group(1) not in (await client.get(window_url)).text
    assert "When does the report arrive?" in (await client.get(model_url)).text  # the agency side reads it
    windows = await client.get("/review/windows")
    assert "heron 3.1" in windows.text

    # A partner sees neither the model's channel nor the window.
    client.cookies.clear()
    await sign_in(client, world.partner_staff.email)
    assert (await client.get(model_url)).status_code in (403, 404)
    assert (await client.get(window_url)).status_code == 404

    # The lab withdraws from the agreement page: the window closes and the key dies.
    client.cookies.clear()
    await sign_in(client, world.lead.email)
    page = await client.get("/review/agreement")
    withdrawn = await client.post(
        "/review/agreement/withdraw", data={"csrf_token": hidden(page.text, "csrf_token"), "reason": ""}
    )
    assert withdrawn.status_code == 303
    window_page = await client.get(window_url)
    assert "closed" in window_page.text and "withdrawn" in window_page.text and "revoked" in window_page.text
    assert not await review.is_participating(session, organisation_id=world.lab)
