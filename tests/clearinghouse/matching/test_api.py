"""The operators' API: profile, SBOM upload (raw body and multipart), matches and their status,
refused documents, tenancy, and the analysts' exposure."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal

from .conftest import Operators, cyclonedx, osv, publish

API = "/api/v1"


async def test_operator_flow(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    _, advisory_id = await publish(session, operators, osv("apilib"))
    hospital = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    bank = {"Authorization": f"Bearer {await make_token(operators.bank)}"}
    analyst = {"Authorization": f"Bearer {await make_token(operators.analyst)}"}

    assert (await client.get(f"{API}/operator/subscriber", headers=hospital)).status_code == 404
    profile = {
        "sector": "healthcare",
        "subsector": "rural_hospital",
        "size": "small",
        "email": "it@h.example",
    }
    saved = await client.put(f"{API}/operator/subscriber", headers=hospital, json=profile)
    assert saved.status_code == 200, saved.text
    bad = await client.put(
        f"{API}/operator/subscriber", headers=hospital, json=profile | {"subsector": "credit_union"}
    )
    assert bad.status_code == 422 and "subsector" in bad.text

    extra = [{"type": "application", "bom-ref": "fw", "name": "Pump firmware"}]  # no version, no purl
    up = await client.post(
        f"{API}/operator/assets/EHR/sbom",
        headers=hospital,
        content=cyclonedx(("apilib", "1.3.0"), extra=extra),
    )
    assert up.status_code == 201, up.text
    body = up.json()
    assert body["components"] == 1 and body["matches"] == 1 and not body["replaced"]
    assert [u["component"] for u in body["unscannable"]] == ["Pump firmware"]

    multipart = await client.post(
        f"{API}/operator/assets/Billing/sbom",
        headers=bank,
        files={"sbom": ("bom.json", cyclonedx(("apilib", "1.0.0")), "application/json")},
    )
    assert multipart.status_code == 201, multipart.text

    refused = await client.post(
        f"{API}/operator/assets/EHR/sbom",
        headers=hospital,
        content=json.dumps(
            {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "x"}]}
        ).encode(),
    )
    assert refused.status_code == 422
    assert any(p["field"].startswith("/components/0") for p in refused.json()["problems"])
    assets = (await client.get(f"{API}/operator/assets", headers=hospital)).json()
    assert [(a["name"], a["component_count"]) for a in assets] == [
        ("EHR", 1)
    ]  # the refused one left no trace

    (match,) = (await client.get(f"{API}/operator/matches", headers=hospital)).json()
    assert match["advisory_id"] == advisory_id
    assert match["what_to_do"] == "You run apilib 1.3.0 on asset EHR. Update to 1.4.2."
    url = f"{API}/operator/matches/{match['id']}/status"
    assert (await client.post(url, headers=bank, json={"status": "fixed"})).status_code == 404  # not theirs
    unjustified = await client.post(url, headers=hospital, json={"status": "not_affected"})
    assert unjustified.status_code == 422 and "justification" in unjustified.text
    fixed = await client.post(url, headers=hospital, json={"status": "fixed", "note": "Updated on Tuesday"})
    assert fixed.status_code == 200 and fixed.json()["status"] == "fixed"
    assert (await client.get(f"{API}/operator/matches?open=true", headers=hospital)).json() == []

    assert (await client.get(f"{API}/clearinghouse/exposure", headers=hospital)).status_code == 403
    exposure = (await client.get(f"{API}/clearinghouse/exposure", headers=analyst)).json()
    (row,) = [r for r in exposure["advisories"] if r["advisory_id"] == advisory_id]
    assert row["operators_by_sector"] == {"healthcare": 1, "unregistered": 1}
    assert row["by_status"]["fixed"] == 1 and row["by_status"]["open"] == 1
