"""Trusted-partner governance as people use it: Chromium (Playwright) against `forewarn serve --demo`.

A partner applies and is vetted, requests access to a window; two officials and two industry members
vote; access is granted and the coordinator issues a key to the partner's staff. Then a denial is
appealed and goes to a panel with none of the first panel's members.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import LiveServer
from tests.web.test_browser import browser  # noqa: F401 -- the shared Chromium fixture

pytestmark = pytest.mark.browser

STANDING = ["custodian@cisa.demo", "custodian@oncd.demo", "safety@lumen.demo", "lead@redline.demo"]
STANDING_NAMES = ["Priya Natarajan", "Avery Brooks", "Sam Okonkwo", "Morgan Diaz"]
APPEAL_NAMES = ["Ines Moreau", "Grant Whitaker", "Alex Romero", "Kim Sato"]
DENY_WHY = "The staff named for this window have not been screened yet."


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A demo server of this module's own, on a programme that lets labs open windows before a
    determination (``review_require_covered=false``): this test is about who gets access, and the
    demo's model has no determination (that path is tested in tests/earlyaccess/test_programme_browser.py)."""
    server = LiveServer(
        tmp_path_factory.mktemp("partners-live"), settings={"FOREWARN_REVIEW_REQUIRE_COVERED": "false"}
    )
    yield server
    server.stop()


def _page(chromium: Any, server: LiveServer, email: str) -> Any:
    page = chromium.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/**")
    return page


def _open_window(chromium: Any, server: LiveServer) -> str:
    """Northwind AI opens a window for orca 1.0 and hands over its credential (or reuses a live one)."""
    lab = _page(chromium, server, "safety@northwind.demo")
    lab.goto(server.url + "/review")
    lab.get_by_role("link", name="orca 1.0").first.click()
    if lab.locator("#open-window").count():
        lab.locator("#open-window").click()
    else:
        live = lab.locator("[data-testid=windows] tr[data-window-id]").filter(has_not_text="closed").first
        live.get_by_role("link").click()
    window_id: str = lab.url.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    if (
        lab.locator("#register-credential").count()
        and "awaiting" in lab.locator("#window-state").inner_text()
    ):
        lab.locator("#credential-secret").fill("sk-demo-upstream")
        lab.locator("#register-credential").click()
    assert lab.locator("#window-state").inner_text() == "open"
    lab.close()
    return window_id


def _vote(chromium: Any, server: LiveServer, request_url: str, email: str, vote: str, why: str = "") -> None:
    member = _page(chromium, server, email)
    member.goto(server.url + "/partners")
    assert "to vote" in member.get_by_test_id("queue").inner_text()
    member.goto(request_url)
    ballot = member.get_by_test_id("ballot")
    ballot.get_by_label(vote.capitalize(), exact=True).check()
    if why:
        ballot.get_by_label("Rationale").fill(why)
    ballot.get_by_role("button", name="Cast ballot").click()
    assert member.get_by_role("status").inner_text() == "Your ballot is recorded."
    member.close()


def test_partner_applies_panel_grants_key_issued_and_a_denial_is_appealed(
    browser: Any,  # noqa: F811 -- the shared fixture
    live_server: LiveServer,
) -> None:
    window_id = _open_window(browser, live_server)

    # A partner applies, an agency vets it.
    partner = _page(browser, live_server, "admin@cobaltridge.demo")
    partner.goto(live_server.url + "/partners")
    partner.get_by_role("link", name="Apply to be a trusted partner").click()
    partner.get_by_label("Category").select_option("security_firm")
    partner.get_by_label("Capabilities").fill("Agentic red-teaming and exploit-chain evaluations.")
    partner.get_by_label("I attest: soc2 type2").check()
    partner.get_by_label("Statement for soc2 type2").fill("SOC 2 Type II, period ending 2026-09.")
    partner.get_by_label("Eli Brandt (redteam@cobaltridge.demo)").check()
    partner.get_by_role("button", name="File application").click()
    assert partner.get_by_role("status").inner_text().startswith("Your application is filed")
    partner_url = partner.url.split("?")[0]

    vetter = _page(browser, live_server, "coordinator@nsa.demo")
    vetter.goto(partner_url)
    for item in (
        "identity verified",
        "ownership reviewed",
        "attestations reviewed",
        "staff screened",
        "relationships reviewed",
        "sanctions checked",
    ):
        vetter.get_by_label(item).check()
    vetter.get_by_label("Vetting notes").fill("Checked in person at the partner's offices.")
    vetter.get_by_role("button", name="Record vetting").click()
    assert vetter.get_by_test_id("status").inner_text() == "vetted"

    # The partner requests access to the window.
    partner.goto(live_server.url + "/partners")
    partner.get_by_role("link", name="Request access to a review window").click()
    partner.get_by_label("Window").select_option(window_id)
    partner.get_by_label("Workstream").fill("Exploit-chain evaluation")
    partner.get_by_label("Justification").fill("We run the exploit-chain suite the agencies asked for.")
    partner.get_by_role("button", name="Request access").click()
    assert partner.get_by_test_id("state").inner_text() == "pending"
    request_url = partner.url.split("?")[0]

    # Two officials and two industry members vote.
    for email in STANDING:
        _vote(browser, live_server, request_url, email, "approve")
    partner.goto(request_url)
    assert partner.get_by_test_id("state").inner_text() == "approved"
    assert partner.get_by_test_id("outcome-1").inner_text() == "approved"
    assert "government: 2 approve" in partner.get_by_test_id("tally-1").inner_text()
    partner.close()

    # Access is granted: the coordinator can issue a key to the partner's named staff.
    vetter.goto(f"{live_server.url}/review/windows/{window_id}")
    vetter.locator("#key-person").select_option(
        label=next(
            o
            for o in vetter.locator("#key-person option").all_inner_texts()
            if "redteam@cobaltridge.demo" in o
        )
    )
    vetter.locator("#issue-key").click()
    assert vetter.locator("#issued-key-secret").inner_text().startswith("fwk_")
    vetter.close()

    # The lab sees who has access and why.
    lab = _page(browser, live_server, "safety@northwind.demo")
    lab.goto(live_server.url + "/partners/access")
    access = lab.get_by_test_id("access").inner_text()
    assert "Cobalt Ridge Security" in access and "partners-round:" in access and "Eli Brandt" in access
    lab.close()

    # A denial is appealed and goes to a new panel.
    sentinel = _page(browser, live_server, "redteam@sentinel.demo")
    sentinel.goto(live_server.url + "/partners/requests/new")
    sentinel.get_by_label("Window").select_option(window_id)
    sentinel.get_by_label("Workstream").fill("Jailbreak robustness")
    sentinel.get_by_label("Justification").fill("We maintain the jailbreak suite for the programme.")
    sentinel.get_by_role("button", name="Request access").click()
    denied_url = sentinel.url.split("?")[0]
    for email, vote in zip(STANDING, ["deny", "deny", "approve", "approve"], strict=True):
        _vote(browser, live_server, denied_url, email, vote, DENY_WHY if vote == "deny" else "")
    sentinel.goto(denied_url)
    assert sentinel.get_by_test_id("state").inner_text() == "denied"
    assert DENY_WHY in sentinel.get_by_test_id("round-1").inner_text()
    sentinel.get_by_label("Grounds of appeal").fill("Our staff screening was completed on 1 November.")
    sentinel.get_by_role("button", name="File appeal").click()
    assert sentinel.get_by_role("status").inner_text().startswith("The appeal is filed")
    second = sentinel.get_by_test_id("round-2").inner_text()
    assert "Appeal panel" in second
    assert all(n in second for n in APPEAL_NAMES) and not any(n in second for n in STANDING_NAMES)
    sentinel.close()

    # Anyone can read the statistics; the consistency check holds.
    public = browser.new_page()
    public.goto(live_server.url + "/partners/statistics")
    assert "security_firm" in public.get_by_test_id("by-category").inner_text()
    assert "Northwind AI" in public.get_by_test_id("by-lab").inner_text()
    assert "Every recorded outcome follows" in public.get_by_test_id("check").inner_text()
    public.close()
