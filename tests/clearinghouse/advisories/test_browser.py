"""A person's way through the clearinghouse in Chromium: a reporter files a report with the web form;
an analyst validates it, adds a vendor and publishes it; the public page and the CSAF and OSV exports
appear, and validate."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

from forewarn.clearinghouse.advisories.csaf_checks import check_csaf
from forewarn.clearinghouse.advisories.osv import validate_osv

pytestmark = pytest.mark.browser
TITLE = "Atlas assistant reads out other customers' <b>orders</b>"


def sign_in(chromium: Any, server: LiveServer, email: str) -> Any:
    page = chromium.new_context().new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")
    return page


def test_report_validate_coordinate_publish(browser: Any, live_server: LiveServer) -> None:  # noqa: F811
    reporter = sign_in(browser, live_server, "safety@northwind.demo")
    reporter.get_by_role("link", name="Report a vulnerability").first.click()
    reporter.get_by_label("What happened?").fill(
        "When I ask the support assistant about my order it also reads out other customers' orders."
    )
    reporter.get_by_label("A short title").fill(TITLE)
    reporter.get_by_role("radio", name="An AI model").check()
    reporter.get_by_label("Its name").fill("Atlas 7B Support")
    reporter.get_by_label("Who makes it?").fill("Lumen Systems")
    reporter.get_by_label("For an AI model: what does it do wrong?").select_option("data_extraction")
    reporter.get_by_role("radio", name="Serious: someone could see data").check()
    reporter.get_by_role("button", name="Send the report").click()
    reporter.wait_for_url(re.compile(r".*/clearinghouse/reports/[0-9a-f-]+\?flash=report-received$"))
    assert "Thank you" in reporter.get_by_role("status").inner_text()
    assert reporter.get_by_test_id("report-state").inner_text() == "received"
    assert reporter.locator("h1").inner_text() == TITLE  # shown as text, not markup
    report_url = reporter.url.split("?")[0]
    reporter.context.close()

    analyst = sign_in(browser, live_server, "analyst@treasury.demo")
    analyst.get_by_role("link", name="Clearinghouse").first.click()
    analyst.get_by_test_id("queue").get_by_role("link", name=TITLE).click()
    assert analyst.url.split("?")[0] == report_url
    analyst.get_by_role("button", name="Assign to me").click()
    analyst.get_by_role("button", name="Validate").click()
    analyst.wait_for_url(re.compile(r".*/clearinghouse/cases/[0-9a-f-]+\?flash=validated$"))
    number = analyst.locator("h1").inner_text().split(":")[0]
    assert analyst.get_by_test_id("case-state").inner_text() == "open"
    assert analyst.get_by_test_id("embargo").inner_text()  # a target publication date is set
    analyst.get_by_label("Add a vendor").select_option(label="Lumen Systems (lab)")
    analyst.get_by_role("button", name="Add vendor").click()
    assert "Lumen Systems" in analyst.get_by_test_id("vendors").inner_text()
    analyst.get_by_label("CVSS vector").fill("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")
    analyst.get_by_role("button", name="Score").click()
    assert "HIGH 7.5" in analyst.get_by_test_id("vulnerability-1").inner_text()
    analyst.get_by_role("button", name="Publish").click()
    analyst.wait_for_url(re.compile(r".*\?flash=published$"))
    assert analyst.get_by_test_id("case-state").inner_text() == "published"
    assert analyst.get_by_test_id("case-tlp").inner_text() == "TLP:CLEAR"
    analyst.context.close()

    public = browser.new_context().new_page()  # nobody signed in
    public.goto(live_server.url + "/advisories")
    public.get_by_test_id("public-advisories").get_by_role("link", name=number).click()
    assert public.get_by_test_id("public-title").inner_text() == f"{number}: {TITLE}"
    assert "Lumen Systems" in public.content()
    csaf_href = public.get_by_test_id("csaf-link").get_attribute("href")
    osv_href = public.get_by_test_id("osv-link").first.get_attribute("href")
    public.context.close()

    csaf = httpx.get(live_server.url + csaf_href).json()
    assert csaf["document"]["tracking"]["id"] == number and check_csaf(csaf) == []
    record = httpx.get(live_server.url + osv_href).json()
    validate_osv(record)
    assert record["database_specific"]["forewarn"]["ai"]["affected_models"] == ["Atlas-7B-Support"]
    index = httpx.get(live_server.url + "/.well-known/csaf/white/index.txt").text
    assert csaf_href.removeprefix("/.well-known/csaf/white/") in index.splitlines()
    modified = httpx.get(live_server.url + "/osv/modified_id.csv").text
    assert record["id"] in modified
    meta = json.loads(httpx.get(live_server.url + "/.well-known/csaf/provider-metadata.json").text)
    assert meta["distributions"][0]["directory_url"].endswith("/.well-known/csaf/white/")
