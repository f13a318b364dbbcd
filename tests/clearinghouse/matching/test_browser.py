"""An operator's way in Chromium: a rural hospital uploads an SBOM, sees what affects it and what to do,
marks the match fixed, and the clearinghouse analyst's exposure page changes."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.clearinghouse.advisories.test_browser import sign_in
from tests.conftest import LiveServer
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

from .conftest import cyclonedx, osv

pytestmark = pytest.mark.browser
OPERATOR = "it@harlan-hospital.demo"
ANALYST = "analyst@treasury.demo"


def _client(server: LiveServer, email: str) -> tuple[httpx.Client, dict[str, str]]:
    """A signed-in HTTP client and the CSRF header its API calls need (cookie sessions)."""
    client = httpx.Client(base_url=server.url, timeout=30)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert token
    signed = client.post(
        "/login", data={"email": email, "password": server.demo_password(), "csrf_token": token.group(1)}
    )
    assert signed.status_code == 303, f"{email} could not sign in: {signed.text[:500]}"
    home = client.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', home)
    assert csrf, "no CSRF token on the home page"
    return client, {"X-CSRF-Token": csrf.group(1)}


def _publish(server: LiveServer, package: str) -> str:
    """Report (as the lab), validate and publish (as the analyst) an advisory; its OSV id."""
    reporter, headers = _client(server, "safety@northwind.demo")
    made = reporter.post("/api/v1/clearinghouse/reports", content=osv(package), headers=headers)
    assert made.status_code == 201, made.text
    analyst, headers = _client(server, ANALYST)
    case = analyst.post(
        f"/api/v1/clearinghouse/reports/{made.json()[0]['id']}/validate", json={}, headers=headers
    )
    assert case.status_code in (200, 201), case.text
    published = analyst.post(
        f"/api/v1/clearinghouse/cases/{case.json()['id']}/publish", json={}, headers=headers
    )
    assert published.status_code in (200, 201), published.text
    osv_id: str = published.json()["osv_ids"][0]
    return osv_id


def _fixed_overall(page: Any) -> int:
    """Matches fixed over all sectors, as the analyst's time-to-remediate table shows them."""
    row = page.get_by_test_id("remediation-all")
    return int(row.get_by_test_id("fixed").inner_text()) if row.count() else 0


def test_operator_uploads_sees_match_and_marks_it_fixed(browser: Any, live_server: LiveServer) -> None:  # noqa: F811
    advisory_id = _publish(live_server, "harlanlib")

    operator = sign_in(browser, live_server, OPERATOR)
    operator.get_by_role("link", name="Your inventory").first.click()
    operator.get_by_label("Asset name").fill("PACS server")
    operator.get_by_label("SBOM file").set_input_files(
        {"name": "pacs.cdx.json", "mimeType": "application/json", "buffer": cyclonedx(("harlanlib", "1.2.0"))}
    )
    operator.get_by_role("button", name="Upload and match").click()
    operator.wait_for_url(re.compile(r".*/operator\?flash=sbom-uploaded$"))
    row = operator.get_by_test_id(f"match-{advisory_id}-PACS server")
    assert "You run harlanlib 1.2.0 on asset PACS server. Update to 1.4.2." in row.inner_text()
    assert "PACS server" in operator.get_by_test_id("assets").inner_text()

    analyst = sign_in(browser, live_server, ANALYST)
    analyst.goto(live_server.url + "/clearinghouse/exposure")
    exposure = analyst.get_by_test_id(f"exposure-{advisory_id}")
    assert exposure.get_by_test_id("status-open").inner_text() == "1"
    assert exposure.get_by_test_id("status-fixed").inner_text() == "0"
    fixed_before = _fixed_overall(analyst)
    assert analyst.get_by_test_id("chart-sector").locator("svg").count() == 1

    row.get_by_label(f"New status for {advisory_id} on PACS server").select_option("fixed")
    row.get_by_role("button", name="Save status").click()
    operator.wait_for_url(re.compile(r".*/operator\?flash=match-updated$"))
    assert "Nothing to do" in operator.get_by_test_id("open-matches").inner_text()
    assert "Fixed" in operator.get_by_test_id("closed-matches").inner_text()

    analyst.reload()
    exposure = analyst.get_by_test_id(f"exposure-{advisory_id}")
    assert exposure.get_by_test_id("status-fixed").inner_text() == "1"
    assert exposure.get_by_test_id("status-open").inner_text() == "0"
    assert exposure.get_by_test_id("open-operators").inner_text() == "0"
    # Time to remediate counts the fix (first seen -> fixed).
    assert _fixed_overall(analyst) == fixed_before + 1
    operator.context.close()
    analyst.context.close()
