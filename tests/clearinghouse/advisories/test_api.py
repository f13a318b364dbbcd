"""The clearinghouse over HTTP: intake by body, upload and form; the validate route; bad input named
and nothing stored; pages escape advisory text; public files."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.models import Report

from .conftest import World, osv_doc, raw

FIXTURES = Path(__file__).parent / "fixtures"
Token = Callable[[Principal], Awaitable[str]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Report)) or 0)


async def test_intake_triage_publish_over_http(
    client: httpx.AsyncClient, session: AsyncSession, world: World, make_token: Token
) -> None:
    reporter = bearer(await make_token(world.reporter))
    analyst = bearer(await make_token(world.analyst))
    vendor = bearer(await make_token(world.vendor))

    doc = osv_doc(summary='<script>alert("x")</script> in examplelib', aliases=["CVE-2026-50001"])
    response = await client.post(
        "/api/v1/clearinghouse/reports?tlp=AMBER&filename=advisory.json", content=raw(doc), headers=reporter
    )
    assert response.status_code == 201, response.text
    (report,) = response.json()
    assert report["state"] == "received" and report["source_format"] == "osv"

    upload = await client.post(
        "/api/v1/clearinghouse/reports/upload",
        files=[
            ("files", ("scan.sarif", (FIXTURES / "scan.sarif").read_bytes())),
            ("files", ("garak.report.jsonl", (FIXTURES / "garak.report.jsonl").read_bytes())),
        ],
        data={"tlp": "AMBER+STRICT"},
        headers=reporter,
    )
    assert upload.status_code == 201, upload.text
    assert sorted(r["source_format"] for r in upload.json()) == ["garak", "garak", "sarif"]
    assert {r["tlp"] for r in upload.json()} == {"AMBER+STRICT"}

    form = await client.post(
        "/api/v1/clearinghouse/reports/form",
        json={
            "what_happened": "The kiosk shows the admin password on screen.",
            "product": "Kiosk 3",
            "how_bad": "severe",
        },
        headers=reporter,
    )
    assert form.status_code == 201 and form.json()["source_format"] == "form"

    # The analyst's queue, the report page (escaped), validation into a case.
    queue = await client.get("/api/v1/clearinghouse/reports?state=received", headers=analyst)
    assert report["id"] in {r["id"] for r in queue.json()}
    page = await client.get(f"/clearinghouse/reports/{report['id']}", headers=analyst)
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    case = (
        await client.post(f"/api/v1/clearinghouse/reports/{report['id']}/validate", json={}, headers=analyst)
    ).json()
    assert case["state"] == "open"
    added = await client.post(
        f"/api/v1/clearinghouse/cases/{case['id']}/vendors",
        json={"organisation_id": str(world.vendor_org)},
        headers=analyst,
    )
    assert added.status_code == 201
    status = await client.post(
        f"/api/v1/clearinghouse/cases/{case['id']}/vulnerabilities/1/status",
        json={"status": "affected", "statement": "Fixed in 1.4.2"},
        headers=vendor,
    )
    assert status.status_code == 200, status.text
    case_page = await client.get(f"/clearinghouse/cases/{case['id']}", headers=vendor)
    assert (
        case_page.status_code == 200
        and "&lt;script&gt;" in case_page.text
        and "<script>alert" not in case_page.text
    )
    published = await client.post(f"/api/v1/clearinghouse/cases/{case['id']}/publish", headers=analyst)
    assert published.status_code == 200, published.text
    body = published.json()

    # Public: pages, the CSAF provider files, the OSV export; no sign-in needed.
    listing = await client.get("/api/v1/advisories")
    assert body["osv_ids"][0] in {a["id"] for a in listing.json()}
    osv = await client.get(f"/api/v1/advisories/{body['osv_ids'][0]}")
    assert osv.json()["aliases"] == [doc["id"], "CVE-2026-50001"]
    public_page = await client.get(f"/advisories/{body['number']}")
    assert (
        public_page.status_code == 200
        and "&lt;script&gt;" in public_page.text
        and "<script>alert" not in public_page.text
    )
    meta = await client.get("/.well-known/csaf/provider-metadata.json")
    assert meta.status_code == 200 and meta.json()["metadata_version"] == "2.0"
    document = await client.get(f"/.well-known/csaf/white/{body['csaf_path']}")
    assert document.status_code == 200 and document.json()["document"]["tracking"]["id"] == body["number"]
    digest = await client.get(f"/.well-known/csaf/white/{body['csaf_path']}.sha256")
    assert digest.text.split()[0] == body["csaf_sha256"]
    changes = await client.get("/.well-known/csaf/white/changes.csv")
    assert body["csaf_path"] in changes.text
    zipped = await client.get("/osv/PyPI/all.zip")
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    modified = await client.get("/osv/PyPI/modified_id.csv")
    assert body["osv_ids"][0] in modified.text
    assert (await client.get("/osv/nothing-here")).status_code == 404


async def test_bad_documents_are_named_and_leave_nothing(
    client: httpx.AsyncClient, session: AsyncSession, world: World, make_token: Token
) -> None:
    reporter = bearer(await make_token(world.reporter))
    before = await count(session)
    bad = (FIXTURES / "bad" / "fixed-before-introduced.json").read_bytes()
    response = await client.post(
        "/api/v1/clearinghouse/reports?filename=mine.json", content=bad, headers=reporter
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"].startswith("mine.json: ")
    assert problem["problems"][0]["field"] == "/affected/0/ranges/0"
    # One bad file among good ones: none is stored.
    upload = await client.post(
        "/api/v1/clearinghouse/reports/upload",
        files=[("files", ("good.json", raw(osv_doc()))), ("files", ("bad.json", bad))],
        headers=reporter,
    )
    assert upload.status_code == 422 and upload.json()["detail"].startswith("bad.json: ")
    assert await count(session) == before
    checked = await client.post(
        "/api/v1/clearinghouse/validate?filename=bad.json", content=bad, headers=reporter
    )
    assert checked.status_code == 200 and checked.json()["ok"] is False
    assert checked.json()["problems"][0]["field"] == "/affected/0/ranges/0"
    good = await client.post("/api/v1/clearinghouse/validate", content=raw(osv_doc()), headers=reporter)
    assert good.json()["ok"] is True and good.json()["format"] == "osv"
    assert await count(session) == before
    empty = await client.post("/api/v1/clearinghouse/reports", content=b"", headers=reporter)
    assert empty.status_code == 422
    anonymous = await client.post("/api/v1/clearinghouse/reports", content=raw(osv_doc()))
    assert anonymous.status_code == 401


async def test_the_report_form_page(client: httpx.AsyncClient, world: World, make_token: Token) -> None:
    reporter = bearer(await make_token(world.reporter))
    page = await client.get("/clearinghouse/report", headers=reporter)
    assert page.status_code == 200 and "What happened?" in page.text
    refused = await client.post(
        "/clearinghouse/report",
        data={"what_happened": "short", "product": "", "tlp": "AMBER"},
        headers=reporter,
    )
    assert refused.status_code == 422 and "what_happened" in refused.text
    sent = await client.post(
        "/clearinghouse/report",
        data={
            "what_happened": "The pump controller accepts commands without a password.",
            "product": "PumpCtl",
            "affected_kind": "product",
            "how_bad": "severe",
            "tlp": "AMBER+STRICT",
        },
        headers=reporter,
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/clearinghouse/reports/")
    mine = await client.get("/clearinghouse/my-reports", headers=reporter)
    assert "The pump controller accepts commands" in mine.text
    report_id = uuid.UUID(sent.headers["location"].split("/")[3].split("?")[0])
    assert report_id
    other = bearer(await make_token(world.vendor))
    assert (await client.get(sent.headers["location"], headers=other)).status_code == 404
    detail = json.loads(
        (await client.get(f"/api/v1/clearinghouse/reports/{report_id}", headers=reporter)).text
    )
    assert detail["tlp"] == "AMBER+STRICT" and detail["form"]["how_bad"] == "severe"
