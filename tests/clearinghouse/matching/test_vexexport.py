"""An operator's state as VEX: CycloneDX VEX 1.5/1.6 (validated against the official CycloneDX 1.6 JSON
Schema from the public test data, and the library's 1.5 one), OpenVEX 0.2.0 (required fields), and the
round trip: export, reset, import, and every match has its status (and justification) again."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests import conftest as shared

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.inventory.sbom import cyclonedx_schema_problems
from forewarn.clearinghouse.matching.vex import from_cyclonedx, from_openvex

from .conftest import Operators, cyclonedx, osv, publish

API = "/api/v1"

#: package -> (status, justification, note) the operator sets; "openlib" stays open.
DECISIONS: dict[str, dict[str, Any]] = {
    "acklib": {"status": "acknowledged"},
    "worklib": {"status": "in_progress", "note": "Patch window on Saturday."},
    "donelib": {"status": "fixed"},
    "absentlib": {
        "status": "not_affected",
        "justification": "component_not_present",
        "note": "Removed from the image.",
    },
    "pathlib2x": {"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    "risklib": {"status": "risk_accepted", "note": "Isolated network; vendor end of life."},
}


async def _world(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Six decided matches and one open one on two assets; the headers and the matches by package."""
    packages = [*DECISIONS, "openlib"]
    for name in packages:
        await publish(session, operators, osv(name))
    headers = {"Authorization": f"Bearer {await make_token(operators.hospital)}"}
    for asset in ("EHR", "Lab"):
        chosen = packages if asset == "EHR" else ["donelib"]
        up = await client.post(
            f"{API}/operator/assets/{asset}/sbom",
            headers=headers,
            content=cyclonedx(*[(n, "1.3.0") for n in chosen]),
        )
        assert up.status_code == 201, up.text
    matches = (await client.get(f"{API}/operator/matches", headers=headers)).json()
    by_package = {m["package"]: m for m in matches if m["asset_name"] == "EHR"}
    for name, decision in DECISIONS.items():
        set_ = await client.post(
            f"{API}/operator/matches/{by_package[name]['id']}/status", headers=headers, json=decision
        )
        assert set_.status_code == 200, set_.text
    return headers, by_package


def _state(matches: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(m["asset_name"], m["package"]): (m["status"], m["justification"]) for m in matches}


def _official_validator() -> Any:
    """The official CycloneDX 1.6 JSON Schema (public test data) with the schemas it references."""
    from importlib import resources

    from jsonschema import Draft7Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    schema = json.loads(shared.testdata("cyclonedx", "bom-1.6.schema.json").read_text())
    files = resources.files("cyclonedx.schema._res")
    registry: Registry[Any] = Registry().with_resources(
        (
            f"http://cyclonedx.org/schema/{name}",
            DRAFT7.create_resource(json.loads(files.joinpath(src).read_text())),
        )
        for name, src in (
            ("spdx.schema.json", "spdx.SNAPSHOT.schema.json"),
            ("jsf-0.82.schema.json", "jsf-0.82.SNAPSHOT.schema.json"),
            ("cryptography-defs.schema.json", "cryptography-defs.SNAPSHOT.schema.json"),
        )
    )
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


async def test_cyclonedx_vex_is_valid_and_states_each_decision(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    headers, by_package = await _world(client, session, operators, make_token)
    got = await client.get(f"{API}/operator/vex/cyclonedx", headers=headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    assert "attachment" in got.headers["content-disposition"]
    doc = got.json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _official_validator().iter_errors(doc)]
    assert errors == []
    assert doc["specVersion"] == "1.6" and doc["serialNumber"].startswith("urn:uuid:")
    by_id = {v["id"]: v for v in doc["vulnerabilities"]}
    # Six decided matches on EHR; the open ones (openlib on EHR, donelib on Lab) are left out.
    assert len(doc["vulnerabilities"]) == 6
    assert by_package["openlib"]["advisory_id"] not in by_id
    analysis = {name: by_id[by_package[name]["advisory_id"]]["analysis"] for name in DECISIONS}
    assert analysis["acklib"]["state"] == "in_triage"
    assert (analysis["worklib"]["state"], analysis["worklib"]["response"]) == ("exploitable", ["update"])
    assert analysis["worklib"]["detail"] == "Patch window on Saturday."
    assert (analysis["risklib"]["state"], analysis["risklib"]["response"]) == (
        "exploitable",
        ["will_not_fix"],
    )
    assert analysis["donelib"]["state"] == "resolved"
    assert (analysis["absentlib"]["state"], analysis["absentlib"]["justification"]) == (
        "not_affected",
        "code_not_present",
    )
    assert analysis["pathlib2x"]["justification"] == "code_not_reachable"
    refs = {c["bom-ref"]: c for c in doc["components"]}
    for vulnerability in doc["vulnerabilities"]:
        (affects,) = vulnerability["affects"]
        assert affects["ref"] in refs  # every statement names a component of the document
    assert {c["purl"] for c in refs.values()} >= {"pkg:pypi/donelib@1.3.0", "pkg:pypi/absentlib@1.3.0"}

    v15 = await client.get(f"{API}/operator/vex/cyclonedx?spec_version=1.5", headers=headers)
    assert v15.status_code == 200 and v15.json()["specVersion"] == "1.5"
    assert cyclonedx_schema_problems(v15.text, "1.5") == []
    assert len(from_cyclonedx(v15.json())) == 6  # forewarn's own reader takes it too
    bad = await client.get(f"{API}/operator/vex/cyclonedx?spec_version=1.3", headers=headers)
    assert bad.status_code == 422 and "spec_version" in bad.text


async def test_openvex_has_the_required_fields(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    headers, by_package = await _world(client, session, operators, make_token)
    got = await client.get(f"{API}/operator/vex/openvex", headers=headers)
    assert got.status_code == 200, got.text
    doc = got.json()
    # OpenVEX 0.2.0 §Document: @context, @id, author, timestamp, version (and statements) are required.
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert doc["@id"].startswith("urn:uuid:")
    assert doc["author"] == operators.hospital.organisation_name
    assert doc["timestamp"].endswith("Z") and doc["version"] == 1
    statements = doc["statements"]
    assert len(statements) == 6
    allowed = {"not_affected", "affected", "fixed", "under_investigation"}
    for statement in statements:
        assert statement["status"] in allowed
        assert statement["vulnerability"]["name"]
        assert statement["timestamp"].endswith("Z")
        (product,) = statement["products"]
        assert product["@id"].startswith("urn:forewarn:asset:")
        (sub,) = product["subcomponents"]
        assert sub["@id"].startswith(product["@id"] + ":")
        assert sub["identifiers"]["purl"].startswith("pkg:pypi/")
        if statement["status"] == "not_affected":  # §Status justifications
            assert statement["justification"] in {
                "component_not_present",
                "vulnerable_code_not_in_execute_path",
            }
        if statement["status"] == "affected":  # an affected statement must say what to do
            assert statement["action_statement"]
    by_vuln = {s["vulnerability"]["name"]: s for s in statements}
    absent = by_vuln[by_package["absentlib"]["advisory_id"]]
    assert (absent["justification"], absent["impact_statement"]) == (
        "component_not_present",
        "Removed from the image.",
    )
    assert by_vuln[by_package["worklib"]["advisory_id"]]["action_statement"] == "Update to 1.4.2."
    assert by_vuln[by_package["risklib"]["advisory_id"]]["action_statement"].startswith("Risk accepted")
    assert len(from_openvex(doc)) == 6


@pytest.mark.parametrize("path", ["cyclonedx?spec_version=1.6", "cyclonedx?spec_version=1.5", "openvex"])
async def test_round_trip_restores_every_status(
    path: str,
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    headers, _ = await _world(client, session, operators, make_token)
    before = (await client.get(f"{API}/operator/matches", headers=headers)).json()
    exported = (await client.get(f"{API}/operator/vex/{path}", headers=headers)).content
    for m in before:  # forget every decision
        reset = await client.post(
            f"{API}/operator/matches/{m['id']}/status", headers=headers, json={"status": "open"}
        )
        assert reset.status_code == 200
    assert {
        s for s, _ in _state((await client.get(f"{API}/operator/matches", headers=headers)).json()).values()
    } == {"open"}
    imported = await client.post(f"{API}/operator/vex", headers=headers, content=exported)
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["statements"], body["applied"], body["skipped"]) == (6, 6, [])
    after = (await client.get(f"{API}/operator/matches", headers=headers)).json()
    assert _state(after) == _state(before)
    notes = {m["package"]: m["note"] for m in after if m["asset_name"] == "EHR"}
    assert notes["absentlib"] == "Removed from the image."
    assert notes["risklib"] == "Isolated network; vendor end of life."
    again = (await client.post(f"{API}/operator/vex", headers=headers, content=exported)).json()
    assert (again["applied"], again["unchanged"]) == (0, 6)  # importing twice changes nothing


async def test_vendor_statement_by_purl_and_refused_documents(
    client: httpx.AsyncClient,
    session: AsyncSession,
    operators: Operators,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    headers, by_package = await _world(client, session, operators, make_token)
    advisory = by_package["openlib"]["advisory_id"]
    vendor = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://vendor.example/vex/1",
        "author": "Vendor PSIRT",
        "timestamp": "2026-10-02T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": advisory},
                "products": [{"@id": "pkg:pypi/openlib@1.3.0"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_present",
            }
        ],
    }
    applied = await client.post(f"{API}/operator/vex", headers=headers, content=json.dumps(vendor).encode())
    assert applied.status_code == 200 and applied.json()["applied"] == 1, applied.text
    match = next(
        m
        for m in (await client.get(f"{API}/operator/matches", headers=headers)).json()
        if m["advisory_id"] == advisory
    )
    assert (match["status"], match["justification"]) == ("not_affected", "vulnerable_code_not_present")

    other = {"Authorization": f"Bearer {await make_token(operators.bank)}"}
    untouched = await client.post(f"{API}/operator/vex", headers=other, content=json.dumps(vendor).encode())
    assert untouched.json()["applied"] == 0  # the bank runs none of it: tenancy

    broken = vendor | {"statements": [{**vendor["statements"][0], "justification": None}]}
    refused = await client.post(f"{API}/operator/vex", headers=headers, content=json.dumps(broken).encode())
    assert refused.status_code == 422
    assert any(p["field"] == "/statements/0" for p in refused.json()["problems"])
    empty = await client.post(f"{API}/operator/vex", headers=headers, content=b"  ")
    assert empty.status_code == 422 and empty.json()["problems"][0]["field"] == "body"
