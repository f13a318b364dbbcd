"""The log's pages as a member of the public uses them: Chromium against `forewarn serve`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import LiveServer
from tests.ledger.test_cli import sign_checkpoint

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(live_server: LiveServer) -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    sign_checkpoint(live_server)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        tab = browser.new_page()
        yield tab
        browser.close()


def test_browse_search_and_read_a_proof(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Transparency log").first.click()
    page.wait_for_url(live_server.url + "/ledger")
    assert "entries, signed" in page.get_by_test_id("checkpoint-size").inner_text()
    page.get_by_label("Type").select_option("accounts.organisation_created")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("entries").locator("tbody tr")
    assert rows.count() >= 12
    assert all("accounts.organisation_created" in t for t in rows.all_inner_texts())
    rows.first.get_by_role("link").click()
    assert page.get_by_test_id("verdict").inner_text() == "Verified: this entry is in the log."
    proof = page.get_by_test_id("proof").inner_text()
    assert "Audit path of" in proof and "signed by" in proof and "the log's key" in proof
