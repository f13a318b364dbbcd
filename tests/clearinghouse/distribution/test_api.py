"""The operator's notices over HTTP: the SSRF guard when a webhook URL is saved (API and page), the
webhook secret shown once (``no-store``), recent notices with their delivery state per channel (own
organisation only), and a delivery refused at send time when the URL's host is not public. No
network: address literals, ``localhost`` and local receivers only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.clearinghouse.matching.conftest import Operators
from tests.web.test_pages import hidden, sign_in

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.distribution import service
from forewarn.clearinghouse.distribution.delivery import FakeMailer, webhook_sender_from
from forewarn.clearinghouse.distribution.models import Delivery
from forewarn.clearinghouse.inventory import service as inventory
from forewarn.clearinghouse.inventory.records import SubscriberIn
from forewarn.core.jobs import Runtime

from .conftest import Receiver
from .test_service import BASE, _matched

API = "/api/v1"
PROFILE = {"sector": "healthcare", "subsector": "rural_hospital", "size": "small"}


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://93.184.216.34/hook",
    ],
)
async def test_unsafe_webhook_urls_are_refused_when_saved(
    client: httpx.AsyncClient,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
    url: str,
) -> None:
    hospital = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    refused = await client.put(
        f"{API}/operator/subscriber", headers=hospital, json=PROFILE | {"webhook_url": url}
    )
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["problems"]] == ["webhook_url"]
    assert (await client.get(f"{API}/operator/subscriber", headers=hospital)).status_code == 404


async def test_public_and_allowed_webhook_urls_are_saved(
    client: httpx.AsyncClient,
    operators: Operators,
    runtime: Runtime,
    make_token: Callable[[Principal], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hospital = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    url = f"{API}/operator/subscriber"
    public = await client.put(
        url, headers=hospital, json=PROFILE | {"webhook_url": "https://93.184.216.34/h"}
    )
    assert public.status_code == 200 and public.json()["webhook_url"] == "https://93.184.216.34/h"
    local = PROFILE | {"webhook_url": "http://127.0.0.1:9/h"}
    assert (await client.put(url, headers=hospital, json=local)).status_code == 422
    monkeypatch.setattr(runtime.settings, "webhook_allow_insecure", True)
    monkeypatch.setattr(runtime.settings, "webhook_allow_private_addresses", True)
    assert (await client.put(url, headers=hospital, json=local)).status_code == 200


async def test_secret_and_notices_api(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    runtime: Runtime,
    receiver: Receiver,
    make_token: Callable[[Principal], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hospital = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    bank = {"Authorization": f"Bearer {await make_token(operators.bank)}"}
    analyst = {"Authorization": f"Bearer {await make_token(operators.analyst)}"}
    monkeypatch.setattr(runtime.settings, "webhook_allow_insecure", True)
    monkeypatch.setattr(runtime.settings, "webhook_allow_private_addresses", True)
    saved = await client.put(
        f"{API}/operator/subscriber",
        headers=hospital,
        json=PROFILE | {"webhook_url": receiver.url, "email": "it@h.example"},
    )
    assert saved.status_code == 200, saved.text

    first = await client.post(f"{API}/operator/webhook-secret", headers=hospital)
    assert first.status_code == 201 and first.headers["cache-control"] == "no-store"
    rotated = await client.post(f"{API}/operator/webhook-secret", headers=hospital)
    secret = rotated.json()["secret"]
    assert secret.startswith("whsec_") and secret != first.json()["secret"]
    assert (await client.post(f"{API}/operator/webhook-secret", headers=analyst)).status_code == 403
    receiver.secret = secret

    advisory_id = await _matched(session, operators, "notelib", kev=True)
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    listed = (await client.get(f"{API}/operator/notices", headers=hospital)).json()
    assert [n["id"] for n in listed] == [str(notice_id)]
    assert {d["channel"]: d["attempts"] for d in listed[0]["deliveries"]} == {"email": 0, "webhook": 0}

    deliveries = {d["channel"]: d for d in listed[0]["deliveries"]}
    assert deliveries["webhook"]["delivered_at"] is None
    rows = await session.execute(select(Delivery).where(Delivery.notice_id == notice_id))
    sender = webhook_sender_from(runtime.settings)
    mailer = FakeMailer(fail=1)
    for row in rows.scalars():
        await service.deliver(
            session, delivery_id=row.id, mailer=mailer, webhooks=sender, key=runtime.keys.data
        )
    (notice,) = (await client.get(f"{API}/operator/notices", headers=hospital)).json()
    by_channel = {d["channel"]: d for d in notice["deliveries"]}
    assert by_channel["webhook"]["attempts"] == 1 and by_channel["webhook"]["delivered_at"] is not None
    assert (
        by_channel["email"]["delivered_at"] is None
        and by_channel["email"]["last_error"] == "fake mailer failure"
    )
    assert list(receiver.accepted) != []

    assert (await client.get(f"{API}/operator/notices", headers=bank)).json() == []  # not theirs
    assert (await client.get(f"{API}/operator/notices", headers=analyst)).status_code == 403
    assert (await client.get(f"{API}/operator/notices")).status_code == 401


async def test_delivery_to_a_non_public_host_is_refused_and_recorded(
    session: AsyncSession, operators: Operators, runtime: Runtime
) -> None:
    # Saved before the guard (or its DNS changed since): the sender checks again and refuses.
    await inventory.put_subscriber(
        session,
        data=SubscriberIn.model_validate(PROFILE | {"webhook_url": "https://localhost:9/hook"}),
        actor=operators.hospital,
    )
    await service.rotate_webhook_secret(session, actor=operators.hospital, key=runtime.keys.data)
    advisory_id = await _matched(session, operators, "rebindlib", kev=True)
    (notice_id,) = await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    (notice,) = await service.list_notices(session, actor=operators.hospital)
    assert notice.id == notice_id
    strict = webhook_sender_from(
        runtime.settings.model_copy(update={"webhook_allow_private_addresses": False})
    )
    rows = await session.execute(select(Delivery).where(Delivery.notice_id == notice_id))
    (row,) = rows.scalars()
    outcome = await service.deliver(
        session, delivery_id=row.id, mailer=FakeMailer(), webhooks=strict, key=runtime.keys.data
    )
    assert not outcome.delivered
    assert (
        outcome.error == "webhook refused: the webhook URL points to a loopback address, which is not allowed"
    )
    (notice,) = await service.list_notices(session, actor=operators.hospital)
    (delivery,) = notice.deliveries
    assert delivery.attempts == 1 and delivery.last_error == outcome.error


async def test_pages(
    client: httpx.AsyncClient, session: AsyncSession, operators: Operators, runtime: Runtime
) -> None:
    assert (await sign_in(client, operators.hospital.email)).status_code == 303
    dashboard = await client.get("/operator")
    assert 'href="/operator/notices"' in dashboard.text
    token = hidden(dashboard.text, "csrf_token")
    form = {
        "csrf_token": token,
        "sector": "healthcare:rural_hospital",
        "size": "small",
        "webhook_url": "https://169.254.169.254/latest",
        "digest": "daily",
    }
    refused = await client.post("/operator/profile", data=form)
    assert refused.status_code == 422 and "webhook_url" in refused.text and "link-local" in refused.text
    assert await inventory.get_subscriber(session, actor=operators.hospital) is None
    saved = await client.post("/operator/profile", data=form | {"webhook_url": "https://93.184.216.34/h"})
    assert saved.status_code == 303, saved.text

    advisory_id = await _matched(session, operators, "pagelib", kev=True)
    assert await service.fan_out(session, advisory_id=advisory_id, base_url=BASE)
    page = await client.get("/operator/notices")
    assert page.status_code == 200 and advisory_id in page.text and "(in the next digest)" in page.text
    assert "whsec_" not in page.text
    shown = await client.post(
        "/operator/webhook-secret", data={"csrf_token": hidden(page.text, "csrf_token")}
    )
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert "whsec_" in shown.text and "shown <strong>once</strong>" in shown.text
    again = await client.get("/operator/notices")
    assert "whsec_" not in again.text

    client.cookies.clear()
    assert (await sign_in(client, operators.bank.email)).status_code == 303
    assert advisory_id not in (await client.get("/operator/notices")).text
