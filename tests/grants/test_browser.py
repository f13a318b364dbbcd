"""Grants and workforce as people use them: Chromium (Playwright) against `forewarn serve --demo`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

pytestmark = pytest.mark.browser


def _sign_in(page: Any, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/**")


def test_officer_publishes_a_call_and_a_grantee_applies(browser: Any, live_server: LiveServer) -> None:  # noqa: F811
    today = datetime.now(UTC)
    officer = browser.new_page()
    _sign_in(officer, live_server, "analyst@treasury.demo")
    officer.goto(live_server.url + "/grants")
    officer.get_by_role("link", name="New call for proposals").click()
    officer.get_by_label("Title").fill("Browser call for detection tools")
    officer.get_by_label("Purpose").fill("Tools that detect data extraction from deployed models.")
    officer.get_by_label("Funding pool (USD)").fill("1000000")
    officer.get_by_label("Award ceiling (USD)").fill("250000")
    officer.get_by_label("Opens (UTC").fill((today - timedelta(days=1)).strftime("%Y-%m-%d"))
    officer.get_by_label("Closes (UTC)").fill((today + timedelta(days=20)).strftime("%Y-%m-%d"))
    officer.get_by_role("button", name="Save draft").click()
    officer.get_by_role("button", name="Publish").click()
    assert officer.get_by_role("status").inner_text() == "The call is published."
    call_url = officer.url.split("?")[0]
    officer.close()

    grantee = browser.new_page()
    _sign_in(grantee, live_server, "founder@tessellate.demo")
    grantee.goto(call_url)
    grantee.get_by_label("Tool name").fill("ExtractWatch")
    grantee.get_by_label("data extraction").check()
    grantee.get_by_label("Summary").fill("Detects training-data extraction attempts.")
    grantee.get_by_label("Technical approach").fill("Canary sequences and membership inference probes.")
    grantee.get_by_label("Budget (USD").fill("200000")
    grantee.get_by_label("Milestones, one a line").fill(
        f"Prototype | {(today + timedelta(days=90)).date()} | 200000"
    )
    grantee.get_by_label("Team").fill("Two researchers and an engineer.")
    grantee.get_by_role("button", name="Submit").click()
    assert grantee.get_by_role("status").inner_text() == "Your application is submitted."
    assert grantee.get_by_test_id("state").inner_text() == "submitted"
    grantee.close()


def test_careers_pages_are_public(browser: Any, live_server: LiveServer) -> None:  # noqa: F811
    page = browser.new_page()
    page.goto(live_server.url + "/careers")
    assert "AI red-team specialist" in page.get_by_test_id("pathways").inner_text()
    page.get_by_role("link", name="ML security engineer").click()
    assert page.get_by_role("heading", name="Skills you need").count() == 1
    page.close()


def test_agency_posts_candidate_assesses_applies_and_gets_an_offer(
    browser: Any,  # noqa: F811 -- the shared fixture
    live_server: LiveServer,
) -> None:
    hiring = browser.new_page()
    _sign_in(hiring, live_server, "hiring@cisa.demo")
    hiring.goto(live_server.url + "/careers")
    hiring.get_by_label("Pathway").select_option("incident-responder")
    hiring.get_by_label("Title").fill("Incident responder, rural health")
    hiring.get_by_label("Location").fill("Remote")
    hiring.get_by_label("Grade from (GS)").fill("11")
    hiring.get_by_label("Grade to (GS)").fill("12")
    hiring.get_by_label("Closes (YYYY-MM-DD)").fill(
        (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    )
    hiring.get_by_role("button", name="Open posting").click()
    assert hiring.get_by_role("status").inner_text() == "The posting is open."
    posting_url = hiring.url.split("?")[0]

    candidate = browser.new_page()
    _sign_in(candidate, live_server, "it@harlan-hospital.demo")
    candidate.goto(live_server.url + "/careers/pathways/incident-responder")
    candidate.get_by_role("link", name="Take the skills assessment").click()
    candidate.get_by_label("B. Contain: isolate affected hosts and segments").check()
    candidate.get_by_label("Answer").fill("4624")
    candidate.get_by_label("B. Volatile evidence (processes, keys, connections) is lost at power-off").check()
    candidate.get_by_role("button", name="Submit answers").click()
    assert "3 of 3" in candidate.get_by_test_id("result").inner_text()
    candidate.goto(posting_url)
    candidate.get_by_label("How you qualify").select_option("experience")
    candidate.get_by_label("Why this role").fill("I run IT for a rural hospital and handled two incidents.")
    candidate.get_by_label("Experience", exact=True).fill("Eight years of hospital IT.")
    candidate.get_by_label("Share my latest skills assessment").check()
    candidate.get_by_role("button", name="Apply").click()
    assert candidate.get_by_role("status").inner_text() == "Your application is sent."

    hiring.goto(posting_url)
    assert "assessment 3/3 passed" in hiring.get_by_test_id("pipeline").inner_text()
    for stage in ("screened", "assessed", "interview", "offer"):
        hiring.get_by_label("Stage").select_option(stage)
        hiring.get_by_role("button", name="Move").click()
        assert hiring.get_by_role("status").inner_text() == "The candidate's stage is updated."
    assert "offer" in hiring.get_by_test_id("pipeline").inner_text()
    candidate.goto(live_server.url + "/careers")
    assert "offer" in candidate.locator("main").inner_text()
    hiring.close()
    candidate.close()
