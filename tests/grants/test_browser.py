"""Grants and workforce as people use them: Chromium (Playwright) against `forewarn serve --demo`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def test_call_application_review_award_and_milestone(
    browser: Any,  # noqa: F811 -- the shared fixture
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    """An officer publishes a call; a company applies (with an attachment) before the deadline; three
    reviewers are assigned, two score and one recuses; after the deadline the officer awards; the
    grantee reports a milestone and the officer accepts it and records the payment."""
    today = datetime.now(UTC)
    # Closes to the second, soon: the decision below must wait for it (the rule, not a shortcut).
    closes = (today + timedelta(seconds=40)).replace(microsecond=0)
    officer = browser.new_page()
    _sign_in(officer, live_server, "analyst@treasury.demo")
    officer.goto(live_server.url + "/grants")
    officer.get_by_role("link", name="New call for proposals").click()
    officer.get_by_label("Title").fill("Browser call for detection tools")
    officer.get_by_label("Purpose").fill("Tools that detect data extraction from deployed models.")
    officer.get_by_label("Funding pool (USD)").fill("1000000")
    officer.get_by_label("Award ceiling (USD)").fill("250000")
    officer.get_by_label("Opens (UTC").fill((today - timedelta(days=1)).strftime("%Y-%m-%d"))
    officer.get_by_label("Closes (UTC").fill(closes.strftime("%Y-%m-%dT%H:%M:%S"))
    officer.get_by_role("button", name="Save draft").click()
    officer.get_by_role("button", name="Publish").click()
    assert officer.get_by_role("status").inner_text() == "The call is published."
    assert closes.strftime("%H:%M:%S UTC") in officer.locator("main").inner_text()
    call_url = officer.url.split("?")[0]

    plan = tmp_path / "work-plan.pdf"
    plan.write_bytes(b"%PDF-1.4\n% ExtractWatch work plan\n%%EOF\n")
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
    grantee.get_by_label("Attachments").set_input_files(str(plan))
    grantee.get_by_role("button", name="Submit").click()
    assert grantee.get_by_role("status").inner_text() == "Your application is submitted."
    assert grantee.get_by_test_id("state").inner_text() == "submitted"
    assert "work-plan.pdf" in grantee.get_by_test_id("attachments").inner_text()
    application_url = grantee.url.split("?")[0]

    officer.goto(call_url)
    officer.get_by_role("link", name="ExtractWatch").click()
    for email in ("lead@redline.demo", "custodian@nist.demo", "redteam@sentinel.demo"):
        officer.get_by_label("Reviewer's email").fill(email)
        officer.get_by_role("button", name="Assign").click()
        assert officer.get_by_role("status").inner_text() == "The reviewer is assigned."

    scores = {"lead@redline.demo": ("8", "7", "6"), "custodian@nist.demo": ("6", "6", "7")}
    for email, (impact, approach, team) in scores.items():
        reviewer = browser.new_page()
        _sign_in(reviewer, live_server, email)
        reviewer.goto(application_url)
        # A reviewer reads the attachment before scoring.
        with reviewer.expect_download() as download:
            reviewer.get_by_role("link", name="work-plan.pdf").click()
        assert Path(download.value.path()).read_bytes() == plan.read_bytes()
        reviewer.get_by_label("I have no conflict of interest").check()
        reviewer.get_by_role("button", name="Declare").click()
        assert reviewer.get_by_role("status").inner_text() == "Your declaration is recorded."
        reviewer.locator('input[name="score_impact"]').fill(impact)
        reviewer.locator('input[name="score_approach"]').fill(approach)
        reviewer.locator('input[name="score_team"]').fill(team)
        reviewer.locator('textarea[name="comment_impact"]').fill(f"Comment from {email.split('@')[0]}.")
        reviewer.get_by_role("button", name="Record scores").click()
        assert reviewer.get_by_role("status").inner_text() == "Your scores are recorded."
        reviewer.close()
    recused = browser.new_page()
    _sign_in(recused, live_server, "redteam@sentinel.demo")
    recused.goto(application_url)
    recused.get_by_label("I have a conflict and recuse").check()
    recused.get_by_label("Reason (if conflicted)").fill("We advised the applicant last year.")
    recused.get_by_role("button", name="Declare").click()
    assert "You recused yourself" in recused.locator("main").inner_text()
    assert recused.locator('input[name="score_impact"]').count() == 0  # no score form
    recused.close()

    officer.goto(call_url)
    ranking = officer.get_by_test_id("ranking").inner_text()
    assert "ExtractWatch" in ranking and "\t2\t" in ranking  # two reviews count; the recusal does not
    time.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds() + 1))
    officer.get_by_role("link", name="ExtractWatch").click()
    officer.get_by_label("Award", exact=True).check()
    officer.get_by_label("Written rationale").fill("Ranked first: a clear need and a credible plan.")
    officer.get_by_role("button", name="Record decision").click()
    assert officer.get_by_role("status").inner_text() == "The decision is recorded and logged."
    officer.get_by_role("link", name="The award").click()
    award_url = officer.url.split("?")[0]

    grantee.goto(application_url)
    assert "Ranked first" in grantee.locator("main").inner_text()
    assert "Comment from lead" in grantee.locator("main").inner_text()  # scores and comments, now
    grantee.goto(award_url)
    grantee.get_by_label("Milestone 1 report").fill("Prototype delivered; tested on three models.")
    grantee.get_by_role("button", name="Send report").click()
    assert grantee.get_by_role("status").inner_text() == "Your milestone report is sent."

    officer.goto(award_url)
    officer.get_by_role("button", name="Accept").click()
    assert officer.get_by_role("status").inner_text() == "The milestone decision is recorded."
    officer.get_by_role("button", name="Record disbursement").click()
    assert officer.get_by_role("status").inner_text() == "The disbursement is recorded."
    public = browser.new_page()
    public.goto(live_server.url + "/grants/awards")
    assert "ExtractWatch" in public.locator("main").inner_text()
    public.goto(award_url)
    assert "Prototype delivered" not in public.locator("main").inner_text()  # reports stay private
    for page in (officer, grantee, public):
        page.close()


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
    tmp_path: Path,
) -> None:
    hiring = browser.new_page()
    _sign_in(hiring, live_server, "hiring@cisa.demo")
    hiring.goto(live_server.url + "/careers")
    hiring.get_by_label("Pathway").select_option("incident-responder")
    hiring.get_by_label("Title").fill("Incident responder, rural health")
    hiring.get_by_label("Location").fill("Remote")
    hiring.get_by_label("Grade from (GS)").fill("11")
    hiring.get_by_label("Grade to (GS)").fill("12")
    hiring.get_by_label("Closes (YYYY-MM-DD").fill(
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
    cv = tmp_path / "cv.txt"
    cv.write_text("Casey Morgan\nHospital IT lead; two incident responses.\n")
    candidate.get_by_label("Résumé").set_input_files(str(cv))
    candidate.get_by_role("button", name="Apply").click()
    assert candidate.get_by_role("status").inner_text() == "Your application is sent."

    hiring.goto(posting_url)
    assert "assessment 3/3 passed" in hiring.get_by_test_id("pipeline").inner_text()
    with hiring.expect_download() as download:  # the sealed résumé opens for the posting's agency
        hiring.get_by_role("link", name="résumé").click()
    assert Path(download.value.path()).read_bytes() == cv.read_bytes()
    for stage in ("screened", "assessed", "interview", "offer"):
        hiring.get_by_label("Stage").select_option(stage)
        hiring.get_by_role("button", name="Move").click()
        assert hiring.get_by_role("status").inner_text() == "The candidate's stage is updated."
    assert "offer" in hiring.get_by_test_id("pipeline").inner_text()
    candidate.goto(live_server.url + "/careers")
    assert "offer" in candidate.locator("main").inner_text()
    hiring.close()
    candidate.close()
