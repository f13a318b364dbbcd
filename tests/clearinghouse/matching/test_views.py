"""The operator's pages over HTTP: a refused SBOM names its problem and stores nothing; the profile
form; the exposure page is for analysts only."""

from __future__ import annotations

import json

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.web.test_pages import hidden, sign_in

from forewarn.clearinghouse.inventory import service as inventory

from .conftest import Operators, cyclonedx


async def test_pages(client: httpx.AsyncClient, session: AsyncSession, operators: Operators) -> None:
    assert (await sign_in(client, operators.hospital.email)).status_code == 303
    page = await client.get("/operator")
    assert page.status_code == 200 and "Upload an SBOM" in page.text
    token = hidden(page.text, "csrf_token")

    bad = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x"}]}).encode()
    refused = await client.post(
        "/operator/upload", data={"asset": "EHR", "csrf_token": token}, files={"sbom": ("bom.json", bad)}
    )
    assert refused.status_code == 422 and "/components/0" in refused.text
    assert await inventory.list_assets(session, actor=operators.hospital) == []

    good = await client.post(
        "/operator/upload",
        data={"asset": "EHR", "csrf_token": token},
        files={"sbom": ("bom.json", cyclonedx(("requests", "2.0.0")))},
    )
    assert good.status_code == 303 and good.headers["location"] == "/operator?flash=sbom-uploaded"

    form = {
        "csrf_token": token,
        "sector": "healthcare:critical_access_hospital",
        "size": "small",
        "email": "it@harlan.example",
        "immediate_critical": "on",
        "digest": "weekly",
    }
    saved = await client.post("/operator/profile", data=form)
    assert saved.status_code == 303, saved.text
    profile = await inventory.get_subscriber(session, actor=operators.hospital)
    assert profile is not None and profile.subsector == "critical_access_hospital"
    assert profile.immediate_critical and not profile.immediate_known_exploited
    wrong = await client.post("/operator/profile", data=form | {"email": ""})
    assert wrong.status_code == 422 and "webhook" in wrong.text

    assert (await client.get("/clearinghouse/exposure")).status_code == 403
