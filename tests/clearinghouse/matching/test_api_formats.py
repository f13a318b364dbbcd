"""SBOM uploads through the API in the other formats: CycloneDX 1.4 XML (nested components, a Debian
binary package found through its source package) as the raw body, SPDX 2.3 JSON as a multipart file,
and a replacement of one by the other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal

from .conftest import Operators, osv, publish

API = "/api/v1"
FIXTURES = Path(__file__).parents[1] / "inventory" / "fixtures"


async def test_cyclonedx_xml_and_spdx_uploads_match_and_replace(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    _, nested = await publish(session, operators, osv("sqlparse", introduced="0", fixed="0.4.4"))
    _, openssl = await publish(
        session, operators, osv("openssl", ecosystem="Debian:11", introduced="0", fixed="1.1.1n-0+deb11u4")
    )
    _, requests = await publish(session, operators, osv("requests", introduced="2.0.0", fixed="2.31.0"))
    _, busybox = await publish(
        session, operators, osv("busybox", ecosystem="Alpine:v3.18", introduced="0", fixed="1.36.1-r5")
    )
    headers = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}

    xml = await client.post(
        f"{API}/operator/assets/File server/sbom",
        headers=headers | {"Content-Type": "application/xml"},
        content=(FIXTURES / "bom-1.4.xml").read_bytes(),
    )
    assert xml.status_code == 201, xml.text
    body = xml.json()
    assert (body["asset"]["format"], body["asset"]["spec_version"]) == ("cyclonedx-xml", "1.4")
    assert body["matches"] == 2 and not body["replaced"]
    reasons = {u["component"]: u["reason"] for u in body["unscannable"]}
    assert "ups-controller@4.2" in reasons  # a CPE alone is listed, never dropped
    matches = (await client.get(f"{API}/operator/matches", headers=headers)).json()
    found = {m["advisory_id"]: m for m in matches}
    assert set(found) == {nested, openssl}
    assert (found[nested]["package"], found[nested]["via"]) == ("sqlparse", "package")  # nested component
    assert (found[openssl]["package"], found[openssl]["via"]) == ("libssl1.1", "source")  # built from openssl
    assert found[openssl]["fixed"] == ["1.1.1n-0+deb11u4"]

    spdx = await client.post(
        f"{API}/operator/assets/File server/sbom",
        headers=headers,
        files={
            "sbom": ("sbom.spdx.json", (FIXTURES / "sbom-2.3.spdx.json").read_bytes(), "application/json")
        },
    )
    assert spdx.status_code == 201, spdx.text
    body = spdx.json()
    assert (body["asset"]["format"], body["asset"]["spec_version"], body["replaced"]) == (
        "spdx-json",
        "2.3",
        True,
    )
    assert [u["component"] for u in body["unscannable"]] == ["scada-gateway@5.0"]
    matches = (await client.get(f"{API}/operator/matches", headers=headers)).json()
    states = {m["advisory_id"]: m["status"] for m in matches}
    # The new inventory's matches are open; those of components it no longer lists are closed.
    assert states == {requests: "open", busybox: "open", nested: "fixed", openssl: "fixed"}
    (asset,) = (await client.get(f"{API}/operator/assets", headers=headers)).json()
    assert (asset["name"], asset["component_count"]) == ("File server", 3)

    wrong = await client.post(
        f"{API}/operator/assets/File server/sbom?format=cyclonedx-xml",
        headers=headers,
        content=(FIXTURES / "sbom-2.3.spdx.json").read_bytes(),
    )
    assert wrong.status_code == 422, wrong.text
    (asset,) = (await client.get(f"{API}/operator/assets", headers=headers)).json()
    assert asset["format"] == "spdx-json"  # the refused upload left the inventory as it was
