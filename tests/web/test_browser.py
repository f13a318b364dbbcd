"""The pages as a person uses them: Debian's Chromium driven by Playwright against `forewarn serve`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (make install-browser, or .ci/run, installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


def test_sign_in_see_role_home_sign_out(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email").fill("safety@northwind.demo")
    page.get_by_label("Password").fill(live_server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    assert page.get_by_test_id("who").inner_text() == "Jordan Ellis · Northwind AI"
    assert page.get_by_test_id("roles").inner_text() == "admin, safety_lead"
    capabilities = page.get_by_test_id("capabilities").inner_text()
    assert "Your models" in capabilities and "People and organisations" in capabilities
    assert "Sealed benchmark" not in capabilities
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(live_server.url + "/?flash=signed-out")
    assert page.get_by_role("status").inner_text() == "You are signed out."
    assert page.get_by_test_id("who").count() == 0
    page.close()


def test_operator_sees_their_page_and_is_refused_admin(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("security@firstprairie.demo")
    page.get_by_label("Password").fill(live_server.demo_password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    assert "Your inventory" in page.get_by_test_id("capabilities").inner_text()
    response = page.goto(live_server.url + "/admin/organisations")
    assert response is not None and response.status == 403
    assert "Forbidden" in page.locator("h1").inner_text()
    page.close()


def test_wrong_password_shows_an_error(browser: Any, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/login")
    page.get_by_label("Email").fill("safety@northwind.demo")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "wrong email or password"
    page.close()
